import pino from 'pino';

/**
 * The JSON log lines every service of this project writes, whatever process or thread it runs in: the level
 * as its name, the time in ISO 8601, the service (as the embedded event store writes its own lines), then the
 * fields and `msg`.
 */
export function createLogger(
  service: string,
  level: string,
  base: Record<string, unknown> = {},
): pino.Logger {
  return pino({
    level,
    base: { service, ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
