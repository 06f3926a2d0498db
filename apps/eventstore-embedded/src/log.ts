/**
 * The embedded event store's log lines: one JSON object per line, in the shape of the other services' pino lines
 * (apps/projector/src/logger.ts) — the level by name, the time in ISO 8601, the service, the fields, then `msg` —
 * so that one log pipeline reads every process. `info` goes to stdout (where the start-up line tells a parent
 * process the port), `warn` and `error` to stderr (grpc-js's own messages all go there). Written without pino:
 * lines are written just before `process.exit` too, where one synchronous write is what is wanted.
 */
export type StoreLogLevel = 'debug' | 'info' | 'warn' | 'error';

/** The JSON text of one line (without its newline). */
export function storeLogLine(
  level: StoreLogLevel,
  msg: string,
  fields: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    level,
    time: new Date().toISOString(),
    service: 'eventstore-embedded',
    ...fields,
    msg,
  });
}

/** Writes one line: `info` and `debug` on stdout, `warn` and `error` on stderr. */
export function writeStoreLog(level: StoreLogLevel, msg: string, fields: Record<string, unknown> = {}): void {
  const stream = level === 'info' || level === 'debug' ? process.stdout : process.stderr;
  stream.write(`${storeLogLine(level, msg, fields)}\n`);
}

const SEVERITY: Record<StoreLogLevel | 'silent', number> = {
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  silent: 100,
};

/** Whether a line at `level` is written when the least severe one to write is `least` (unset: every line). */
export function logged(level: StoreLogLevel, least: StoreLogLevel | 'silent' | undefined): boolean {
  return least === undefined || SEVERITY[level] >= SEVERITY[least];
}

/**
 * The store's least severe line for a pino level name (LOG_LEVEL of the API): `trace` is `debug`, `fatal` is
 * `error`.
 */
export function storeLogLevel(level: string): StoreLogLevel | 'silent' {
  if (level === 'trace') return 'debug';
  if (level === 'fatal') return 'error';
  return level in SEVERITY ? (level as StoreLogLevel | 'silent') : 'info';
}
