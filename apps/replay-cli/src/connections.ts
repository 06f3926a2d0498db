/**
 * The stores a command needs, opened on first use and closed once at the end. Both refuse quickly, with
 * a hint, when nothing answers: the CLI is often run against a store that is not started.
 */
import {
  EsdbClientAdapter,
  SessionEventStore,
  shownConnectionString,
  tlsDefaultHint,
} from '@session-engine/event-store';
import {
  ignoreIdleConnectionErrors,
  openReadModelDatabase,
  readModelLocation,
  type ReadModelDatabase,
  type ReadModelTables,
  unboundSession,
} from '@session-engine/read-models';
import Database from 'better-sqlite3';
import { CompiledQuery, Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Pool } from 'pg';
import { dataDirErrorMessage } from '../../eventstore-embedded/src/data-dir';
import { CliError } from './cli-error';
import type { ReplayConfig } from './config';

const CONNECT_TIMEOUT_MS = 3000;
/** How long the end of a command waits for the event-store client to close. */
const CLOSE_WAIT_MS = 2000;

/** Resolves once `work` settles (however), or after `ms`. */
function settledOrAfter(work: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    work.then(done, done);
  });
}
/**
 * The `application_name` of the CLI's PostgreSQL read-model connections (verify's, and rebuild's on the live
 * read models), and of a rebuild's copy: an operator (or a test) finds them in `pg_stat_activity`. The rebuild's
 * lock has its own, `session-engine-rebuild-lock`. A DATABASE_URL naming an `application_name` wins.
 */
export const READ_MODELS_APPLICATION_NAME = 'session-engine-replay';
export const REBUILD_COPY_APPLICATION_NAME = 'session-engine-replay-rebuild';
const SQLITE_FILE = 'read-models.sqlite';
/** The embedded store's log under DATA_DIR (`npm start`, `npm run start:eventstore`). */
const EMBEDDED_LOG = join('eventstore', 'eventstore.sqlite');

/** Read models opened read-only (verify): `schema` false when their tables were never created. */
export interface ReadOnlyReadModels extends ReadModelDatabase {
  /** Where they are, for messages: the SQLite file, or `DATABASE_URL` (and its schema). */
  where: string;
  schema: boolean;
}

/**
 * Nothing answered at the configured event store: what to do. A connection string that leaves TLS on (the
 * client's default) gets the hint for a store without TLS, which never answers it.
 */
export function noEventStoreMessage(
  config: Pick<ReplayConfig, 'connectionString' | 'explicitEventStore'>,
): string {
  const { connectionString, explicitEventStore } = config;
  const hint = explicitEventStore
    ? 'check EVENTSTORE_CONNECTION_STRING'
    : 'start it with `npm start` (or `npm run start:eventstore`), or set EVENTSTORE_CONNECTION_STRING';
  const tls = tlsDefaultHint(connectionString);
  return `No event store answers at ${shownConnectionString(connectionString)}: ${hint}.${tls === undefined ? '' : ` ${tls}.`}`;
}

export class Connections {
  private adapter?: EsdbClientAdapter;
  private database?: ReadModelDatabase;
  private readOnly?: ReadOnlyReadModels;

  constructor(readonly config: ReplayConfig) {}

  async eventStore(): Promise<{ client: EsdbClientAdapter; sessions: SessionEventStore }> {
    if (!this.adapter) {
      const adapter = EsdbClientAdapter.connect(this.config.connectionString);
      if (!(await adapter.isReachable(CONNECT_TIMEOUT_MS))) {
        await adapter.close().catch(() => undefined);
        throw new CliError(noEventStoreMessage(this.config));
      }
      this.adapter = adapter;
    }
    return { client: this.adapter, sessions: new SessionEventStore(this.adapter) };
  }

  /**
   * No SQLite read models under DATA_DIR: what to run. `npm start` when nothing serves the store; the projector
   * alone (`npm run start:projector`) when an event store already runs on DATA_DIR without one (`npm run
   * start:eventstore`: `npm start` would stop, the directory being in use) or the store is a server of its own.
   */
  private async noReadModels(file: string): Promise<CliError> {
    const { dataDir, connectionString, explicitEventStore } = this.config;
    const elsewhere = 'or set DATA_DIR or DATABASE_URL to where they are';
    if (explicitEventStore)
      return new CliError(
        `No read models at ${file}: start the projector for the event store at ${shownConnectionString(connectionString)} ` +
          `(\`npm run start:projector\`, with the same DATA_DIR) and let it catch up, ${elsewhere}.`,
      );
    const log = join(dataDir, EMBEDDED_LOG);
    // A running embedded store holds its log in SQLite's exclusive WAL mode: a -wal file and no -shm.
    const heldHere = existsSync(log) && existsSync(`${log}-wal`) && !existsSync(`${log}-shm`);
    const probe = EsdbClientAdapter.connect(connectionString);
    const answers = await probe.isReachable(1500).finally(() => probe.close().catch(() => undefined));
    if (answers && heldHere)
      return new CliError(
        `No read models at ${file}: the event store runs on ${dataDir} without the projector (\`npm run ` +
          'start:eventstore`; `npm start` would stop there, the directory being in use). Start the projector ' +
          `beside it — \`npm run start:projector\` with the same DATA_DIR — and let it catch up, ${elsewhere}.`,
      );
    if (answers)
      return new CliError(
        `No read models at ${file}, and the event store answering at ${shownConnectionString(connectionString)} keeps its data ` +
          'elsewhere: set DATA_DIR to the directory it was started with, or start a projector for it ' +
          '(`npm run start:projector`), or set DATABASE_URL.',
      );
    return new CliError(
      `No read models at ${file}: run \`npm start\` once (the event store and the projector, which creates ` +
        `them), ${elsewhere}.`,
    );
  }

  async readModels(): Promise<ReadModelDatabase> {
    if (!this.database) {
      const { databaseUrl, dataDir, schema } = this.config;
      if (!databaseUrl && !existsSync(join(dataDir, SQLITE_FILE))) {
        throw await this.noReadModels(join(dataDir, SQLITE_FILE));
      }
      try {
        this.database = await openReadModelDatabase({
          databaseUrl,
          dataDir,
          ...(databaseUrl && schema ? { schema } : {}),
          maxConnections: 2,
          applicationName: READ_MODELS_APPLICATION_NAME,
        });
      } catch (error) {
        // The message names the database and why (openReadModelDatabase); a SQLite file under DATA_DIR this user
        // may not write is said as the API and the projector say it.
        const notWritable = databaseUrl ? undefined : dataDirErrorMessage(error, dataDir);
        throw new CliError(notWritable ?? (error as Error).message);
      }
    }
    return this.database;
  }

  /**
   * The read models for reading only (verify): no migration, nothing created — SQLite opened read-only, a
   * PostgreSQL session whose transactions are read-only. Whether their tables exist is in `schema`.
   */
  async readModelsReadOnly(): Promise<ReadOnlyReadModels> {
    if (!this.readOnly) {
      const { databaseUrl, dataDir, schema } = this.config;
      const file = join(dataDir, SQLITE_FILE);
      if (!databaseUrl && !existsSync(file)) throw await this.noReadModels(file);
      const where = databaseUrl ? `DATABASE_URL${schema ? ` (schema ${schema})` : ''}` : file;
      let database: ReadModelDatabase | undefined;
      try {
        if (databaseUrl) {
          const pool = new Pool({
            connectionString: databaseUrl,
            max: 2,
            application_name: READ_MODELS_APPLICATION_NAME,
          });
          ignoreIdleConnectionErrors(pool);
          const db = new Kysely<ReadModelTables>({
            dialect: new PostgresDialect({
              pool,
              // Before any query of ours on each connection: read-only transactions, and the schema.
              onCreateConnection: async (connection) => {
                await connection.executeQuery(CompiledQuery.raw('set default_transaction_read_only = on'));
                // Not bounded by a statement_timeout a DBA set for the role or the database (a long verify).
                await unboundSession(connection);
                if (schema)
                  await connection.executeQuery(CompiledQuery.raw(`set search_path to "${schema}"`));
              },
            }),
          });
          database = { db, dialect: 'postgres', close: () => db.destroy() };
        } else {
          const sqlite = new Database(file, { readonly: true, fileMustExist: true });
          sqlite.pragma('busy_timeout = 5000');
          const db = new Kysely<ReadModelTables>({ dialect: new SqliteDialect({ database: sqlite }) });
          database = { db, dialect: 'sqlite', close: () => db.destroy() };
        }
        const present =
          database.dialect === 'postgres'
            ? (
                await sql<{
                  present: boolean;
                }>`select to_regclass('projection_checkpoints') is not null as present`.execute(database.db)
              ).rows[0]?.present === true
            : (
                await sql<{
                  name: string;
                }>`select name from sqlite_master where type = 'table' and name = 'projection_checkpoints'`.execute(
                  database.db,
                )
              ).rows.length > 0;
        this.readOnly = { ...database, where, schema: present };
      } catch (error) {
        await database?.close().catch(() => undefined);
        throw new CliError(
          `Cannot open the read-model database (${readModelLocation({ databaseUrl, dataDir })}): ${(error as Error).message}`,
        );
      }
    }
    return this.readOnly;
  }

  /** Closes the read-only connection (rebuild checks the read models through it, then writes through another). */
  async closeReadOnly(): Promise<void> {
    const readOnly = this.readOnly;
    this.readOnly = undefined;
    await readOnly?.close().catch(() => undefined);
  }

  /** Where the read models are, for messages: the SQLite file, or DATABASE_URL's host, port and database. */
  readModelsWhere(): string {
    return readModelLocation({ databaseUrl: this.config.databaseUrl, dataDir: this.config.dataDir });
  }

  async close(): Promise<void> {
    // A client whose store stopped answering mid-command may never finish closing, without keeping the process
    // alive either: the process would then end with the command's promise pending and exit code 0. Its close
    // is waited for a while (a timer that keeps the process alive), then the command ends with its own code.
    if (this.adapter) await settledOrAfter(this.adapter.close(), CLOSE_WAIT_MS);
    await this.database?.close().catch(() => undefined);
    await this.readOnly?.close().catch(() => undefined);
  }
}
