/**
 * Configuration from the environment, validated once at start-up. Every bad value is reported with its own
 * message, all of them at once, so an operator fixes the environment in one go.
 */
import { connectionStringProblem } from '@session-engine/event-store';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  checkDataDir,
  parseDatabaseUrl,
  parseListenHost,
  parseProjectorBatching,
  parseProjectorWatch,
  parseReadModelSchema,
} from '../../../projector/src/config';
import {
  parseIntegrationKeys,
  parseManagementKeys,
  sharesAKey,
  type IntegrationKey,
  type ManagementKey,
} from './api-keys';
import { DEV_KEYS_FILE } from './dev-keys';
import { envSetting } from '../../../eventstore-embedded/src/env-setting';
import {
  DEFAULT_SCAVENGE_INTERVAL_MS,
  parseScavengeInterval,
} from '../../../eventstore-embedded/src/scavenge-interval';
import {
  DEFAULT_GROUP_COMMIT_WINDOW_MS,
  MAX_GROUP_COMMIT_WINDOW_MS,
} from '../../../eventstore-embedded/src/storage/group-commit';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface AppConfig {
  port: number;
  /** API_HOST: the address the API listens on; unset → every interface (IPv6 and IPv4). */
  host?: string;
  /** Unset → the embedded server is started in-process. */
  eventStoreConnectionString?: string;
  embeddedEventStorePort: number;
  /** EMBEDDED_EVENTSTORE_SCAVENGE_INTERVAL_MS: how often the embedded server scavenges its log (0: never). */
  embeddedEventStoreScavengeIntervalMs: number;
  /**
   * EMBEDDED_EVENTSTORE_GROUP_COMMIT_WINDOW_MS: how long the embedded server's flush may wait for more appends
   * to join it, when measured to pay (0: never waits).
   */
  embeddedEventStoreGroupCommitWindowMs: number;
  dataDir: string;
  /** Both undefined when neither variable is set (then development keys are used); never only one. */
  integrationKeys?: Map<string, IntegrationKey>;
  managementKeys?: Map<string, ManagementKey>;
  logLevel: LogLevel;
  databaseUrl?: string;
  /**
   * READ_MODEL_SCHEMA: the PostgreSQL schema of the read models, for the management queries and the projector
   * thread alike (as the standalone projector and the replay CLI read it); unset: DATABASE_URL's `search_path`.
   */
  readModelSchema?: string;
  /** Run the projector inside the API process (`npm start`); false when API replicas share one projector. */
  projectorInProcess: boolean;
  /**
   * That projector's PROJECTOR_BATCH_SIZE, PROJECTOR_BATCH_DELAY_MS, PROJECTOR_STALL_AFTER_MS and
   * PROJECTOR_SLOW_COMMIT_MS (unset: its defaults), as the standalone projector reads them.
   */
  projectorBatchSize?: number;
  projectorBatchDelayMs?: number;
  projectorStallAfterMs?: number;
  projectorSlowCommitMs?: number;
  /** Memory budget of the command handler's session cache, in MiB (0: no cache). */
  sessionCacheMb: number;
  /** Client-side deadline of each event-store call made for a request (reads, appends), in ms. */
  eventStoreCallTimeoutMs: number;
  /**
   * PostgreSQL read models: the longest a management query waits for a connection of the API's pool, and for
   * each answer, in ms (the `minPosition` wait is SPEC's 5 s whatever this is).
   */
  readModelQueryTimeoutMs: number;
  /**
   * How long the HTTP server keeps an idle keep-alive connection open, in ms (Node's `keepAliveTimeout`, sent in
   * `Keep-Alive: timeout=`): longer than the idle timeout of a load balancer or proxy in front, so that it is
   * never the server that closes a connection the balancer is about to reuse.
   */
  httpKeepAliveTimeoutMs: number;
  /**
   * After SIGTERM (or SIGINT), for up to how long the API answers on the connections already open, in ms: it
   * refuses new ones at once, and each answer closes its connection (/health/ready answers 503 on them), so a
   * balancer's pooled connections close after an answer instead of being cut while idle
   * (see http/connection-drain.ts). Ends early once none is left.
   */
  shutdownDrainMs: number;
}

/**
 * `EVENTSTORE_CALL_TIMEOUT_MS`: default and accepted range. At least 1 s: the deadline also covers setting up
 * the connection (and, after a reconnect, finding the cluster's leader) on the call that needs it, so a
 * shorter one would answer 503 on every (re)connect.
 */
export const EVENTSTORE_CALL_TIMEOUT_MS = { default: 10_000, min: 1_000, max: 600_000 } as const;
/**
 * `HTTP_KEEP_ALIVE_TIMEOUT_MS`: default and accepted range. The default outlasts the common balancers' idle
 * timeouts (60 s: AWS ALB, nginx's upstream keepalive_timeout); Node's own 5 s has a balancer reuse connections the
 * server is closing, and the request on it fails (a 502 at the balancer).
 */
export const HTTP_KEEP_ALIVE_TIMEOUT_MS = { default: 65_000, min: 1_000, max: 3_600_000 } as const;
/**
 * `SHUTDOWN_DRAIN_MS`: default and accepted range. 0 (idle connections closed at once) suits `npm start` and a
 * balancer that retries a reset connection; behind one that does not (nginx with a keep-alive upstream), a few
 * seconds.
 */
export const SHUTDOWN_DRAIN_MS = { default: 0, min: 0, max: 600_000 } as const;
/** `EMBEDDED_EVENTSTORE_GROUP_COMMIT_WINDOW_MS`: default and accepted range (the standalone store's too). */
export const GROUP_COMMIT_WINDOW_MS = {
  default: DEFAULT_GROUP_COMMIT_WINDOW_MS,
  min: 0,
  max: MAX_GROUP_COMMIT_WINDOW_MS,
} as const;
/** `READ_MODEL_QUERY_TIMEOUT_MS`: default and accepted range. */
export const READ_MODEL_QUERY_TIMEOUT_MS = { default: 5_000, min: 100, max: 600_000 } as const;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
  }
}

type Env = Record<string, string | undefined>;

/** As every process reads a variable: trimmed, empty or only whitespace being unset. */
const set = envSetting;

function parsePort(
  name: string,
  value: string | undefined,
  fallback: number,
  errors: string[],
  allowZero = false,
): number {
  if (value === undefined) return fallback;
  const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(port >= (allowZero ? 0 : 1) && port <= 65535)) {
    errors.push(`${name}: "${value}" is not a TCP port (${allowZero ? 0 : 1}..65535)`);
    return fallback;
  }
  return port;
}

/** A duration in whole milliseconds within `range`; `meaning` says in the message what it bounds. */
function parseMilliseconds(
  name: string,
  value: string | undefined,
  range: { default: number; min: number; max: number },
  meaning: string,
  errors: string[],
): number {
  const text = value ?? String(range.default);
  const ms = /^\d{1,7}$/.test(text) ? Number(text) : NaN;
  if (!(ms >= range.min && ms <= range.max)) {
    errors.push(
      `${name}: "${text}" is not a whole number of milliseconds from ${range.min} to ${range.max} (${meaning}; default ${range.default})`,
    );
    return range.default;
  }
  return ms;
}

/**
 * DATA_DIR as the start finds it, once the configuration is read: the API writes there for its embedded event
 * store (`DATA_DIR/eventstore`), SQLite read models or development keys, so a directory its user cannot write
 * is a configuration problem, named, not an EACCES (or SQLite's "unable to open database file") from deep inside
 * the start. A deployment with none of them (EVENTSTORE_CONNECTION_STRING, DATABASE_URL and both key lists set,
 * or a development keys file already there: the start only reads it) may have a read-only DATA_DIR.
 */
export function dataDirProblems(config: AppConfig): string[] {
  const problems: string[] = [];
  const embedded = config.eventStoreConnectionString === undefined;
  // An existing keys file is only ever read (one that holds no usable keys stops the start, naming it).
  const writesDevKeys =
    config.integrationKeys === undefined && !fs.existsSync(path.join(config.dataDir, DEV_KEYS_FILE));
  const writes = embedded || config.databaseUrl === undefined || writesDevKeys;
  if (!writes) return problems;
  checkDataDir(config.dataDir, problems, 'DATA_DIR', { writable: true });
  if (embedded && problems.length === 0)
    checkDataDir(path.join(config.dataDir, 'eventstore'), problems, 'DATA_DIR', { writable: true });
  return problems;
}

export function parseConfig(env: Env, cwd = process.cwd()): AppConfig {
  const errors: string[] = [];
  const port = parsePort('PORT', set(env.PORT), 3000, errors, true);
  const embeddedEventStorePort = parsePort(
    'EMBEDDED_EVENTSTORE_PORT',
    set(env.EMBEDDED_EVENTSTORE_PORT),
    2113,
    errors,
    true,
  );
  const portsValid = errors.length === 0;
  // The standalone projector's rule and message for its PROJECTOR_METRICS_HOST.
  const host = parseListenHost('API_HOST', env.API_HOST, errors);

  // Validated as the standalone store validates it, whether or not this process starts the embedded store.
  const scavengeInterval = parseScavengeInterval(
    'EMBEDDED_EVENTSTORE_SCAVENGE_INTERVAL_MS',
    set(env.EMBEDDED_EVENTSTORE_SCAVENGE_INTERVAL_MS),
  );
  if ('error' in scavengeInterval) errors.push(scavengeInterval.error);
  const embeddedEventStoreScavengeIntervalMs =
    'value' in scavengeInterval ? scavengeInterval.value : DEFAULT_SCAVENGE_INTERVAL_MS;
  const embeddedEventStoreGroupCommitWindowMs = parseMilliseconds(
    'EMBEDDED_EVENTSTORE_GROUP_COMMIT_WINDOW_MS',
    set(env.EMBEDDED_EVENTSTORE_GROUP_COMMIT_WINDOW_MS),
    GROUP_COMMIT_WINDOW_MS,
    'how long the embedded event store may hold a flush for more appends to join it, while that is measured to commit more writes per second; 0 never holds one',
    errors,
  );

  const connectionString = set(env.EVENTSTORE_CONNECTION_STRING);
  // Parsed as the event-store client parses it (a port, an option, a value), so a bad one stops the start here,
  // named, rather than at the first connect.
  const connectionStringError =
    connectionString === undefined ? undefined : connectionStringProblem(connectionString);
  if (connectionStringError !== undefined) errors.push(connectionStringError);
  // The embedded store (started when no connection string is set) listens in this process too, on 127.0.0.1:
  // on the API's port one of the two listens would fail, as if another process held it. 0 picks a free port.
  if (connectionString === undefined && portsValid && port !== 0 && port === embeddedEventStorePort) {
    errors.push(
      `PORT and EMBEDDED_EVENTSTORE_PORT are both ${port}: the API and the embedded event store it starts ` +
        '(EVENTSTORE_CONNECTION_STRING unset) each listen on their own port, so the two must differ',
    );
  }

  const integrationKeysText = set(env.INTEGRATION_API_KEYS);
  const managementKeysText = set(env.MANAGEMENT_API_KEYS);
  // Development keys only for a start with neither: with one list set this is a deployment, and a development
  // key for the other API (printed in the log) would be a key nobody configured.
  const developmentKeys = integrationKeysText === undefined && managementKeysText === undefined;

  const dataDir = checkDataDir(path.resolve(cwd, set(env.DATA_DIR) ?? './data'), errors);

  const integrationKeys =
    integrationKeysText === undefined ? undefined : parseIntegrationKeys(integrationKeysText, errors);
  if (
    integrationKeys &&
    integrationKeys.size === 0 &&
    !errors.some((e) => e.startsWith('INTEGRATION_API_KEYS'))
  ) {
    errors.push('INTEGRATION_API_KEYS: no key given');
  }
  const managementKeys =
    managementKeysText === undefined ? undefined : parseManagementKeys(managementKeysText, errors);
  if (
    managementKeys &&
    managementKeys.size === 0 &&
    !errors.some((e) => e.startsWith('MANAGEMENT_API_KEYS'))
  ) {
    errors.push('MANAGEMENT_API_KEYS: no key given');
  }
  if (!developmentKeys && (integrationKeysText === undefined || managementKeysText === undefined)) {
    const [missing, given] =
      integrationKeysText === undefined
        ? ['INTEGRATION_API_KEYS', 'MANAGEMENT_API_KEYS']
        : ['MANAGEMENT_API_KEYS', 'INTEGRATION_API_KEYS'];
    errors.push(
      `${missing}: not set, while ${given} is; set both (or neither, for development keys of application 1 under DATA_DIR)`,
    );
  }
  if (integrationKeys && managementKeys && sharesAKey(integrationKeys.keys(), managementKeys))
    errors.push('INTEGRATION_API_KEYS and MANAGEMENT_API_KEYS share a key; each key belongs to one API');

  const logLevelText = (set(env.LOG_LEVEL) ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevelText)) {
    errors.push(`LOG_LEVEL: "${logLevelText}" is not one of ${LOG_LEVELS.join(', ')}`);
  }

  // The standalone projector's rule and message (a URL the PostgreSQL client reads whole, with a host).
  const databaseUrl = parseDatabaseUrl(env, errors);
  // The standalone projector's rule and message: one environment gives every process the same schema.
  const readModelSchema = parseReadModelSchema(env, errors);

  const inProcessText = (set(env.PROJECTOR_IN_PROCESS) ?? 'true').toLowerCase();
  if (inProcessText !== 'true' && inProcessText !== 'false') {
    errors.push(`PROJECTOR_IN_PROCESS: "${inProcessText}" is not true or false`);
  }

  const cacheText = set(env.SESSION_CACHE_MB) ?? '128';
  const sessionCacheMb = /^\d{1,6}$/.test(cacheText) ? Number(cacheText) : NaN;
  if (!(sessionCacheMb <= 65536)) {
    errors.push(
      `SESSION_CACHE_MB: "${cacheText}" is not a whole number of MiB (0..65536; 0 turns the cache off)`,
    );
  }

  const eventStoreCallTimeoutMs = parseMilliseconds(
    'EVENTSTORE_CALL_TIMEOUT_MS',
    set(env.EVENTSTORE_CALL_TIMEOUT_MS),
    EVENTSTORE_CALL_TIMEOUT_MS,
    'the longest an event-store read or append made for a request may take, connecting included (after a reconnect, finding the leader too): below 1000 a (re)connect would fail',
    errors,
  );
  const readModelQueryTimeoutMs = parseMilliseconds(
    'READ_MODEL_QUERY_TIMEOUT_MS',
    set(env.READ_MODEL_QUERY_TIMEOUT_MS),
    READ_MODEL_QUERY_TIMEOUT_MS,
    'the longest a management query waits for the read-model PostgreSQL: for a connection, and for each answer',
    errors,
  );

  const httpKeepAliveTimeoutMs = parseMilliseconds(
    'HTTP_KEEP_ALIVE_TIMEOUT_MS',
    set(env.HTTP_KEEP_ALIVE_TIMEOUT_MS),
    HTTP_KEEP_ALIVE_TIMEOUT_MS,
    'how long an idle keep-alive connection stays open: longer than the idle timeout of a load balancer in front',
    errors,
  );

  const shutdownDrainMs = parseMilliseconds(
    'SHUTDOWN_DRAIN_MS',
    set(env.SHUTDOWN_DRAIN_MS),
    SHUTDOWN_DRAIN_MS,
    'after SIGTERM, for up to how long the API answers on the connections already open, refusing new ones and closing each after its answer',
    errors,
  );

  // Validated as the standalone projector validates them, whether or not this process runs the projector.
  const projectorBatching = parseProjectorBatching(env, errors);
  const projectorWatch = parseProjectorWatch(env, errors);

  if (errors.length > 0) throw new ConfigError(errors);
  return {
    port,
    host,
    eventStoreConnectionString: connectionString,
    embeddedEventStorePort,
    embeddedEventStoreScavengeIntervalMs,
    embeddedEventStoreGroupCommitWindowMs,
    dataDir,
    integrationKeys,
    managementKeys,
    logLevel: logLevelText as LogLevel,
    databaseUrl,
    readModelSchema,
    projectorInProcess: inProcessText !== 'false',
    projectorBatchSize: projectorBatching.batchSize,
    projectorBatchDelayMs: projectorBatching.batchDelayMs,
    projectorStallAfterMs: projectorWatch.stallAfterMs,
    projectorSlowCommitMs: projectorWatch.slowCommitMs,
    sessionCacheMb,
    eventStoreCallTimeoutMs,
    readModelQueryTimeoutMs,
    httpKeepAliveTimeoutMs,
    shutdownDrainMs,
  };
}
