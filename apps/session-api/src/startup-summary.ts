/**
 * What a running API was started with, as its `session API listening` line says it: where its event store and
 * read models are, whether it runs the projector, its event-store call deadline, its session cache, and which keys
 * it accepts per application (by key id, the fingerprint request lines carry). Never a key, a user name of
 * DATABASE_URL or a password.
 */
import { shownConnectionString, tlsDefaultHint } from '@session-engine/event-store';
import * as path from 'node:path';
import type { ApiKeys } from './config/api-keys.provider';
import type { AppConfig } from './config/config';
import { DEV_KEYS_FILE } from './config/dev-keys';

/** The SQLite read models' file under DATA_DIR (the read-model library's default name). */
export const SQLITE_READ_MODELS_FILE = 'read-models.sqlite';

export type ReadModelsSummary =
  | { store: 'sqlite'; file: string }
  /** `schema`: READ_MODEL_SCHEMA; null when unset (DATABASE_URL's search_path). */
  | { store: 'postgres'; host: string; port: number; database: string | null; schema: string | null };

export interface StartupSummary {
  port: number;
  eventStore: 'embedded' | 'external';
  /** The connection string with its password as ***. */
  eventStoreConnectionString: string;
  /** Set when the string leaves TLS on by default: what a store without TLS needs. */
  eventStoreHint?: string;
  eventStoreCallTimeoutMs: number;
  readModels: ReadModelsSummary;
  projectorInProcess: boolean;
  sessionCacheMb: number;
  dataDir: string;
  apiKeys: {
    /** `environment` (INTEGRATION_API_KEYS and MANAGEMENT_API_KEYS), or the development keys file. */
    from: string;
    /** Application id → the ids of the integration keys of that application. */
    integration: Record<string, string[]>;
    /** Application id (or `*`: every application) → the ids of the management keys that may manage it. */
    management: Record<string, string[]>;
  };
}

/** Where the read models are, without DATABASE_URL's user or password. */
export function readModelsSummary(
  config: Pick<AppConfig, 'databaseUrl' | 'readModelSchema' | 'dataDir'>,
): ReadModelsSummary {
  if (config.databaseUrl === undefined)
    return { store: 'sqlite', file: path.join(config.dataDir, SQLITE_READ_MODELS_FILE) };
  const schema = config.readModelSchema ?? null;
  try {
    const url = new URL(config.databaseUrl);
    const database = decodeURIComponent(url.pathname.replace(/^\//, ''));
    // pg takes a host (a socket directory too) from ?host= when the URL has none.
    const host = decodeURIComponent(url.hostname) || url.searchParams.get('host') || 'localhost';
    return { store: 'postgres', host, port: Number(url.port || 5432), database: database || null, schema };
  } catch {
    return { store: 'postgres', host: 'unknown', port: 5432, database: null, schema };
  }
}

const add = (groups: Record<string, string[]>, group: string, keyId: string) =>
  (groups[group] ??= []).push(keyId);

export function startupSummary(
  config: AppConfig,
  keys: ApiKeys,
  started: { port: number; embedded: boolean; connectionString: string },
): StartupSummary {
  const integration: Record<string, string[]> = {};
  for (const key of keys.integration.values()) add(integration, String(key.applicationId), key.keyId);
  const management: Record<string, string[]> = {};
  for (const key of keys.management.values()) {
    if (key.applications === '*') add(management, '*', key.keyId);
    else for (const application of key.applications) add(management, String(application), key.keyId);
  }
  const hint = tlsDefaultHint(started.connectionString);
  return {
    port: started.port,
    eventStore: started.embedded ? 'embedded' : 'external',
    eventStoreConnectionString: shownConnectionString(started.connectionString),
    ...(hint === undefined ? {} : { eventStoreHint: hint }),
    eventStoreCallTimeoutMs: config.eventStoreCallTimeoutMs,
    readModels: readModelsSummary(config),
    projectorInProcess: config.projectorInProcess,
    sessionCacheMb: config.sessionCacheMb,
    dataDir: config.dataDir,
    apiKeys: {
      from: config.integrationKeys === undefined ? path.join(config.dataDir, DEV_KEYS_FILE) : 'environment',
      integration,
      management,
    },
  };
}

/**
 * Start-up warnings about the configuration as a whole: an API that does not run the projector and has no
 * DATABASE_URL reads SQLite read models that only a projector on this machine, with the same DATA_DIR, writes.
 */
export function startupWarnings(config: AppConfig): { fields: Record<string, unknown>; msg: string }[] {
  if (config.projectorInProcess || config.databaseUrl !== undefined) return [];
  const file = path.join(config.dataDir, SQLITE_READ_MODELS_FILE);
  return [
    {
      fields: { readModels: file },
      msg:
        `PROJECTOR_IN_PROCESS=false without DATABASE_URL: this API reads the SQLite read models in ${file}, which ` +
        'only a projector started with the same DATA_DIR on this machine writes (`npm run start:projector`); with ' +
        'the projector elsewhere, set DATABASE_URL on both',
    },
  ];
}
