/**
 * The stores a command needs, opened on first use and closed once at the end. Both refuse quickly, with
 * a hint, when nothing answers: the CLI is often run against a store that is not started.
 */
import { EsdbClientAdapter, SessionEventStore } from '@session-engine/event-store';
import { openReadModelDatabase, type ReadModelDatabase } from '@session-engine/read-models';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CliError } from './cli-error';
import type { ReplayConfig } from './config';

const CONNECT_TIMEOUT_MS = 3000;
const SQLITE_FILE = 'read-models.sqlite';

export class Connections {
  private adapter?: EsdbClientAdapter;
  private database?: ReadModelDatabase;

  constructor(readonly config: ReplayConfig) {}

  async eventStore(): Promise<{ client: EsdbClientAdapter; sessions: SessionEventStore }> {
    if (!this.adapter) {
      const adapter = EsdbClientAdapter.connect(this.config.connectionString);
      if (!(await adapter.isReachable(CONNECT_TIMEOUT_MS))) {
        await adapter.close().catch(() => undefined);
        const hint = this.config.explicitEventStore
          ? 'check EVENTSTORE_CONNECTION_STRING'
          : 'start it with `npm start` (or `npm run start:eventstore`), or set EVENTSTORE_CONNECTION_STRING';
        throw new CliError(`No event store answers at ${this.config.connectionString}: ${hint}.`);
      }
      this.adapter = adapter;
    }
    return { client: this.adapter, sessions: new SessionEventStore(this.adapter) };
  }

  async readModels(): Promise<ReadModelDatabase> {
    if (!this.database) {
      const { databaseUrl, dataDir, schema } = this.config;
      if (!databaseUrl && !existsSync(join(dataDir, SQLITE_FILE))) {
        throw new CliError(
          `No read models at ${join(dataDir, SQLITE_FILE)}: run \`npm start\` once, or set DATA_DIR or DATABASE_URL.`,
        );
      }
      try {
        this.database = await openReadModelDatabase({
          databaseUrl,
          dataDir,
          ...(databaseUrl && schema ? { schema } : {}),
          maxConnections: 2,
        });
      } catch (error) {
        throw new CliError(
          `Cannot open the read-model database (${databaseUrl ? 'DATABASE_URL' : dataDir}): ${(error as Error).message}`,
        );
      }
    }
    return this.database;
  }

  async close(): Promise<void> {
    await this.adapter?.close().catch(() => undefined);
    await this.database?.close().catch(() => undefined);
  }
}
