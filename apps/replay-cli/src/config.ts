/**
 * Where the CLI connects: the same variables as the projector. By default, the store `npm start` serves —
 * the embedded event store on 127.0.0.1:${EMBEDDED_EVENTSTORE_PORT:-2113} and SQLite read models under DATA_DIR.
 */
import * as path from 'node:path';
import { CliError } from './cli-error';

export type Env = Record<string, string | undefined>;

export interface ReplayConfig {
  connectionString: string;
  /** True when EVENTSTORE_CONNECTION_STRING chose the store (the hint on failure differs). */
  explicitEventStore: boolean;
  /** PostgreSQL when set, otherwise SQLite under `dataDir`. */
  databaseUrl?: string;
  /** PostgreSQL schema of the read models (READ_MODEL_SCHEMA, as the projector reads it). */
  schema?: string;
  dataDir: string;
}

const set = (value: string | undefined): string | undefined =>
  value === undefined || value.trim() === '' ? undefined : value.trim();

export function replayConfig(env: Env, cwd = process.cwd()): ReplayConfig {
  const connectionString = set(env.EVENTSTORE_CONNECTION_STRING);
  if (connectionString !== undefined && !/^(esdb|kurrentdb|kdb)(\+discover)?:\/\/.+/.test(connectionString)) {
    throw new CliError('EVENTSTORE_CONNECTION_STRING: must look like esdb://host:2113?tls=false');
  }
  const portText = set(env.EMBEDDED_EVENTSTORE_PORT) ?? '2113';
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    throw new CliError(`EMBEDDED_EVENTSTORE_PORT: "${portText}" is not a TCP port (1..65535)`);
  }
  const databaseUrl = set(env.DATABASE_URL);
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\/.+/.test(databaseUrl)) {
    throw new CliError('DATABASE_URL: must be a postgres:// or postgresql:// URL');
  }
  return {
    connectionString: connectionString ?? `esdb://127.0.0.1:${portText}?tls=false`,
    explicitEventStore: connectionString !== undefined,
    databaseUrl,
    schema: set(env.READ_MODEL_SCHEMA),
    dataDir: path.resolve(cwd, set(env.DATA_DIR) ?? './data'),
  };
}
