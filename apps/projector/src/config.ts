/**
 * The projector's configuration from the environment, validated once at start-up: every bad value is reported
 * with its own message, all at once. `parseStoreLocation` — which event store and which read-model database —
 * is shared with the replay CLI, so both find by default what `npm start` serves: the embedded event store on
 * 127.0.0.1:${EMBEDDED_EVENTSTORE_PORT:-2113} and SQLite read models under DATA_DIR.
 */
import { connectionStringProblem } from '@session-engine/event-store';
import { accessSync, constants, statSync } from 'node:fs';
import * as path from 'node:path';
import { checkDataDir } from '../../eventstore-embedded/src/data-dir';
import { envSetting } from '../../eventstore-embedded/src/env-setting';

export { checkDataDir };

export type Env = Record<string, string | undefined>;

export interface StoreLocation {
  connectionString: string;
  /** True when EVENTSTORE_CONNECTION_STRING chose the store (hints on failure differ). */
  explicitEventStore: boolean;
  /** PostgreSQL when set, otherwise SQLite under `dataDir`. */
  databaseUrl?: string;
  /** PostgreSQL schema of the read models (READ_MODEL_SCHEMA). */
  schema?: string;
  dataDir: string;
}

export interface ProjectorConfig extends StoreLocation, ProjectorBatching, ProjectorWatch {
  /** 0: no metrics endpoint. */
  metricsPort: number;
  metricsHost: string;
  logLevel: string;
}

export class ProjectorConfigError extends Error {
  override readonly name = 'ProjectorConfigError';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** As every process reads a variable: trimmed, empty or only whitespace being unset. */
const setting = envSetting;

/** A whole number in `min..max`, or undefined when unset; a bad value adds a problem. */
function wholeNumber(
  name: string,
  raw: string | undefined,
  range: { min: number; max: number; meaning: string },
  problems: string[],
): number | undefined {
  const text = setting(raw);
  if (text === undefined) return undefined;
  const value = /^\d{1,9}$/.test(text) ? Number(text) : NaN;
  if (!(value >= range.min && value <= range.max)) {
    problems.push(`${name}: "${text}" is not ${range.meaning} (${range.min}..${range.max})`);
    return undefined;
  }
  return value;
}

export function parseStoreLocation(env: Env, cwd: string, problems: string[]): StoreLocation {
  const connectionString = setting(env.EVENTSTORE_CONNECTION_STRING);
  // Parsed as the event-store client parses it, with the API's rule and message (libs/event-store).
  const connectionStringError =
    connectionString === undefined ? undefined : connectionStringProblem(connectionString);
  if (connectionStringError !== undefined) problems.push(connectionStringError);
  const port =
    wholeNumber(
      'EMBEDDED_EVENTSTORE_PORT',
      env.EMBEDDED_EVENTSTORE_PORT,
      { min: 1, max: 65535, meaning: 'a TCP port' },
      problems,
    ) ?? 2113;
  const databaseUrl = parseDatabaseUrl(env, problems);
  const schema = parseReadModelSchema(env, problems);
  const dataDir = checkDataDir(path.resolve(cwd, setting(env.DATA_DIR) ?? './data'), problems);
  return {
    connectionString: connectionString ?? `esdb://127.0.0.1:${port}?tls=false`,
    explicitEventStore: connectionString !== undefined,
    databaseUrl,
    schema,
    dataDir,
  };
}

/** How to write a user name or password that holds a character with a meaning in a URL. */
const PERCENT_ENCODE =
  'percent-encode special characters of the user name and password (# as %23, / as %2F, ? as %3F, @ as %40, : as %3A)';

const NO_HOST =
  'names no host: it must look like postgres://user:password@host:5432/database ' +
  '(a Unix socket: postgres:///database?host=/var/run/postgresql&user=name)';

/**
 * The problem with `url` as DATABASE_URL, in the form of the other configuration problems (`DATABASE_URL: …`);
 * undefined when it is a postgres:// or postgresql:// URL that `new URL` reads whole, with a host. A `#`, `/`,
 * `?` or `@` written as is in the password would have the PostgreSQL client read part of the password as the
 * host (and the start-up line show it) or fail with `Invalid URL` once other services are up. Its TLS
 * parameters are checked too (`tlsProblem`). No message quotes the value, its user or its password; only the
 * value of a TLS parameter, which holds none of them.
 */
export function databaseUrlProblem(url: string): string | undefined {
  const shape = databaseUrlShape(url);
  const problem = typeof shape === 'string' ? shape : tlsProblem(shape.searchParams);
  return problem === undefined ? undefined : `DATABASE_URL: ${problem}`;
}

/** The problem with the URL's form, or the URL as the PostgreSQL client reads it when there is none. */
function databaseUrlShape(text: string): string | URL {
  if (!/^postgres(ql)?:\/\/.+/.test(text)) return 'must be a postgres:// or postgresql:// URL';
  if (text.includes('#'))
    return `holds a "#", which ends a URL: the rest would be dropped (a "#" in the password cuts it there); ${PERCENT_ENCODE}`;
  const afterScheme = text.slice(text.indexOf('//') + 2);
  // The host part ends at the first "/" or "?". An "@" after it that is followed by what reads as a host and a
  // path ("@db.example:5432/app") means a "/" or "?" in the user or password ended the host part early; an "@"
  // inside a query value (`?user=alice@EXAMPLE.COM`, `application_name=api@prod`) is the value's.
  const hostPartEnd = afterScheme.search(/[/?]/);
  if (hostPartEnd >= 0 && /@[^/?&=@]*(:\d+)?\//.test(afterScheme.slice(hostPartEnd)))
    return `holds an "@" after the host part: a "/" or "?" in the user name or password ends the host part early; ${PERCENT_ENCODE}`;
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    // A Unix socket named by `?host=` with a user and password (`postgres://u:p@/db?host=/cloudsql/…`): no host
    // before the path, which `new URL` refuses and the PostgreSQL client reads (it puts a placeholder there).
    const socketForm = /^postgres(ql)?:\/\/[^/?]*@\//.test(text) && /[?&]host=/.test(text);
    try {
      parsed = new URL(socketForm ? text.replace('@/', '@placeholder/') : text);
      if (socketForm) return parsed;
    } catch {
      if (/@$/.test(afterScheme.slice(0, hostPartEnd >= 0 ? hostPartEnd : undefined))) return NO_HOST;
      return `is not a valid URL: check the host and port (1..65535), and ${PERCENT_ENCODE}`;
    }
  }
  // `?host=` names the host (a Unix socket directory) as the PostgreSQL client reads it.
  if (parsed.hostname === '' && !parsed.searchParams.get('host')) return NO_HOST;
  return parsed;
}

/**
 * The values of `sslmode` the PostgreSQL client (pg-connection-string) reads as a mode: libpq's six and its own
 * `no-verify`. It has no branch for `allow`, which it takes for verify-full as it does any value it does not know,
 * but libpq names it, so a URL copied from elsewhere may hold it.
 */
const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'];

/** The values of the older `ssl` parameter the client reads: any other non-empty one (`false`) turns TLS on. */
const SSL_FLAGS = ['true', '1', 'no-verify', '0'];

/** The TLS parameters that name a file, which the PostgreSQL client reads for every connection it opens. */
const TLS_FILES = ['sslrootcert', 'sslcert', 'sslkey'];

/**
 * The problem with the URL's TLS parameters, or undefined. The PostgreSQL client takes an `sslmode` it does not
 * know (`requre`, `disabel`) for verify-full without a word, and `ssl=false` for TLS on; it reads the certificate
 * files only when it opens a connection, failing there; a verify-ca under `uselibpqcompat=true` without a CA
 * throws only when it connects. A parameter given twice counts with its last value, as the client reads it, and
 * every value given must be one it could use.
 */
function tlsProblem(params: URLSearchParams): string | undefined {
  for (const mode of params.getAll('sslmode'))
    if (!SSL_MODES.includes(mode))
      return (
        `sslmode "${mode}" is not one of ${SSL_MODES.join(', ')}` +
        (mode === '' ? '' : ' (the PostgreSQL client would take it for verify-full)')
      );
  for (const flag of params.getAll('ssl'))
    if (!SSL_FLAGS.includes(flag))
      return (
        `ssl "${flag}" is not one of ${SSL_FLAGS.join(', ')}` +
        (flag === '' ? '' : ' (the PostgreSQL client would take it for TLS on)') +
        '; for no TLS write sslmode=disable'
      );
  for (const compat of params.getAll('uselibpqcompat'))
    if (compat !== 'true' && compat !== 'false') return `uselibpqcompat "${compat}" is not true or false`;
  for (const name of TLS_FILES)
    for (const file of params.getAll(name)) {
      if (file === '') return `${name} is empty: it must name a file`;
      const problem = unreadableFile(file);
      if (problem !== undefined) return `${name} ${file} cannot be read (${problem})`;
    }
  const last = (name: string): string | null => params.getAll(name).at(-1) ?? null;
  if (last('uselibpqcompat') === 'true' && last('sslmode') === 'verify-ca' && !last('sslrootcert'))
    return (
      'sslmode=verify-ca with uselibpqcompat=true needs sslrootcert, the CA that signed the server’s ' +
      'certificate (the PostgreSQL client refuses to connect without it); or use sslmode=verify-full'
    );
  return undefined;
}

/**
 * Why this process could not read `file` as the PostgreSQL client will (a regular file that is not empty: the
 * client takes an empty CA for none), or undefined.
 */
function unreadableFile(file: string): string | undefined {
  try {
    const stats = statSync(file);
    if (!stats.isFile()) return 'not a file';
    if (stats.size === 0) return 'it is empty';
    accessSync(file, constants.R_OK);
    return undefined;
  } catch (error) {
    // Checked by shape: under jest, Node's errors come from another realm and are not `instanceof Error`.
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (typeof code !== 'string') throw error;
    // Node's message is `ENOENT: no such file or directory, stat '/etc/ca.pem'`: the path is named already.
    const reason = typeof message === 'string' ? message.split(',')[0] : '';
    return reason.startsWith(`${code}: `) ? reason : code;
  }
}

/**
 * DATABASE_URL, checked by `databaseUrlProblem`: the PostgreSQL read models, or undefined (SQLite). Read so by
 * the projector, the replay CLI and the API, which refuse a bad value with the same message.
 */
export function parseDatabaseUrl(env: Env, problems: string[]): string | undefined {
  const databaseUrl = setting(env.DATABASE_URL);
  const problem = databaseUrl === undefined ? undefined : databaseUrlProblem(databaseUrl);
  if (problem !== undefined) problems.push(problem);
  return databaseUrl;
}

/**
 * READ_MODEL_SCHEMA, the PostgreSQL schema of the read models (unset: DATABASE_URL's `search_path`). Read by the
 * projector, the replay CLI and the API (its management queries and the projector thread it runs under
 * `npm start`), so all of them work in the same schema, and refuse a bad value with the same message.
 */
export function parseReadModelSchema(env: Env, problems: string[]): string | undefined {
  const schema = setting(env.READ_MODEL_SCHEMA);
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    problems.push(
      `READ_MODEL_SCHEMA: "${schema}" is not a schema name (lower-case letters, digits and _, at most 63)`,
    );
    return undefined;
  }
  return schema;
}

/** How the projector judges its own commits: when it counts as stalled, when a commit is logged as slow. */
export interface ProjectorWatch {
  /** PROJECTOR_STALL_AFTER_MS; unset: the projector's default (60 s). */
  stallAfterMs?: number;
  /** PROJECTOR_SLOW_COMMIT_MS; unset: the projector's default (2 s). */
  slowCommitMs?: number;
}

/** The stall window and slow-commit threshold when not configured (see projector.ts). */
export const DEFAULT_STALL_AFTER_MS = 60_000;
export const DEFAULT_SLOW_COMMIT_MS = 2_000;

/**
 * PROJECTOR_STALL_AFTER_MS and PROJECTOR_SLOW_COMMIT_MS. Read by the standalone projector and by the API for
 * the projector thread it runs under `npm start`, so both refuse a bad value with the same message. The stall
 * window is at least 1 s: the API waits up to 1 s for its thread's report on a scrape, and counts a projector
 * whose report is older than the window as not caught up.
 */
export function parseProjectorWatch(env: Env, problems: string[]): ProjectorWatch {
  const before = problems.length;
  const stallAfterMs = wholeNumber(
    'PROJECTOR_STALL_AFTER_MS',
    env.PROJECTOR_STALL_AFTER_MS,
    { min: 1_000, max: 3_600_000, meaning: 'a number of milliseconds' },
    problems,
  );
  const slowCommitMs = wholeNumber(
    'PROJECTOR_SLOW_COMMIT_MS',
    env.PROJECTOR_SLOW_COMMIT_MS,
    { min: 1, max: 600_000, meaning: 'a number of milliseconds' },
    problems,
  );
  // A commit is called slow on its way to a stall: a threshold at or past the window would only ever be
  // logged after the projector already counts as stalled.
  const window = stallAfterMs ?? DEFAULT_STALL_AFTER_MS;
  const threshold = slowCommitMs ?? DEFAULT_SLOW_COMMIT_MS;
  if (problems.length === before && threshold >= window)
    problems.push(
      `PROJECTOR_SLOW_COMMIT_MS (${threshold}) must be below PROJECTOR_STALL_AFTER_MS (${window}): a commit ` +
        'is called slow before the projector counts as stalled',
    );
  return { stallAfterMs, slowCommitMs };
}

/** How the projector gathers events into read-model transactions. */
export interface ProjectorBatching {
  /** PROJECTOR_BATCH_SIZE; unset: the projector's default for the database (see `DEFAULT_BATCH_SIZE`). */
  batchSize?: number;
  /** PROJECTOR_BATCH_DELAY_MS; unset: the projector's default (50 ms). */
  batchDelayMs?: number;
}

/**
 * PROJECTOR_BATCH_SIZE and PROJECTOR_BATCH_DELAY_MS. Read by the standalone projector and by the API for the
 * projector thread it runs under `npm start` (as `parseProjectorWatch`), so both refuse a bad value with the
 * same message.
 */
export function parseProjectorBatching(env: Env, problems: string[]): ProjectorBatching {
  const batchSize = wholeNumber(
    'PROJECTOR_BATCH_SIZE',
    env.PROJECTOR_BATCH_SIZE,
    { min: 1, max: 100_000, meaning: 'a number of events' },
    problems,
  );
  const batchDelayMs = wholeNumber(
    'PROJECTOR_BATCH_DELAY_MS',
    env.PROJECTOR_BATCH_DELAY_MS,
    { min: 1, max: 60_000, meaning: 'a number of milliseconds' },
    problems,
  );
  return { batchSize, batchDelayMs };
}

/**
 * A host a server of this process listens on (PROJECTOR_METRICS_HOST, the API's HOST), or undefined when unset;
 * one with a space or a `/` in it is noted in `problems`. Whether it resolves to an address of this machine is
 * for `listenHostProblem` (eventstore-embedded/src/listen-error.ts), checked before the start.
 */
export function parseListenHost(
  name: string,
  raw: string | undefined,
  problems: string[],
): string | undefined {
  const host = setting(raw);
  if (host !== undefined && /[\s/]/.test(host)) {
    problems.push(`${name}: "${host}" is not a host name or IP address to bind`);
    return undefined;
  }
  return host;
}

export function parseProjectorConfig(env: Env, cwd = process.cwd()): ProjectorConfig {
  const problems: string[] = [];
  const location = parseStoreLocation(env, cwd, problems);
  const { batchSize, batchDelayMs } = parseProjectorBatching(env, problems);
  const watch = parseProjectorWatch(env, problems);
  const metricsPort =
    wholeNumber(
      'PROJECTOR_METRICS_PORT',
      env.PROJECTOR_METRICS_PORT,
      { min: 0, max: 65535, meaning: 'a TCP port, or 0 for no metrics endpoint' },
      problems,
    ) ?? 9464;
  const metricsHost =
    parseListenHost('PROJECTOR_METRICS_HOST', env.PROJECTOR_METRICS_HOST, problems) ?? '127.0.0.1';
  const logLevel = (setting(env.LOG_LEVEL) ?? 'info').toLowerCase();
  if (!LOG_LEVELS.includes(logLevel)) {
    problems.push(`LOG_LEVEL: "${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
  }
  if (problems.length > 0) throw new ProjectorConfigError(problems);
  return {
    ...location,
    batchSize,
    batchDelayMs,
    ...watch,
    metricsPort,
    metricsHost,
    logLevel,
  };
}
