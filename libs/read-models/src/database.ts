import Database from 'better-sqlite3';
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  Kysely,
  PostgresAdapter,
  PostgresDialect,
  SqliteDialect,
  sql,
  type PostgresPool,
  type PostgresPoolClient,
} from 'kysely';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Pool, type PoolClient } from 'pg';
import { settleWithin } from './deadline';
import { migrateToLatest } from './migrations';

/**
 * Read-model tables. Money columns are NUMERIC in PostgreSQL and decimal TEXT in SQLite: both come
 * back as decimal strings and are added up with decimal.js, never as floats. Times are ISO-8601 text.
 * Aggregate tables have a single text key (`id`) so a batch loads its rows with one `IN (…)` on both
 * databases. On PostgreSQL the text columns that may be too long for an index entry have generated
 * `<column>_key` columns (not listed here) that the indexes are on, and the tables hold U+0000 as
 * U+FFFD (postgres-text.ts).
 */
export interface ReadModelTables {
  projection_checkpoints: { projection: string; position: string };
  projection_streams: { projection: string; stream_id: string; revision: number };
  sessions: {
    stream_id: string;
    /** BIGINT in PostgreSQL, returned as a string there. */
    id: number | string;
    application_id: number;
    integration_id: string;
    integration_id_lc: string;
    profile_id: string;
    profile_id_lc: string;
    store_integration_id: string | null;
    store_integration_id_lc: string | null;
    referral_code: string;
    referral_code_lc: string;
    state: string;
    created: string;
    updated: string;
    total: string;
    /** Fixed-width text whose order is the numeric order of `total`. */
    total_key: string;
    revision: number;
    /** The folded `SessionState`, evolved further by the next event. */
    state_json: string;
    /** The `CustomerSessionV2` the management API returns. */
    session_json: string;
  };
  session_coupons: { stream_id: string; application_id: number; code: string; code_lc: string };
  profile_sessions: {
    stream_id: string;
    application_id: number;
    integration_id: string;
    profile_id: string;
    state: string;
    counted_sales: string;
    first_session: number;
    last_activity: string;
    revision: number;
  };
  customer_profiles: {
    id: string;
    application_id: number;
    profile_id: string;
    session_count: number;
    closed_sessions: number;
    total_sales: string;
    first_session_integration_id: string | null;
    last_activity: string | null;
  };
  daily_analytics: {
    id: string;
    application_id: number;
    date: string;
    sessions_created: number;
    sessions_closed: number;
    sessions_cancelled: number;
    sessions_reopened: number;
    items_returned: number;
    gross_revenue: string;
    returned_value: string;
    reversed_revenue: string;
    net_revenue: string;
  };
  sku_analytics: {
    id: string;
    application_id: number;
    sku: string;
    date: string;
    quantity_sold: number;
    quantity_returned: number;
    revenue: string;
  };
}

export type ReadModelDb = Kysely<ReadModelTables>;
export type SqlDialectName = 'postgres' | 'sqlite';

export interface ReadModelDatabaseOptions {
  /** PostgreSQL when set, otherwise SQLite under `dataDir`. */
  databaseUrl?: string;
  dataDir?: string;
  /** PostgreSQL schema to work in (created if missing); tests use one per run. */
  schema?: string;
  /** SQLite file name under `dataDir`. */
  sqliteFile?: string;
  /** Pool size for PostgreSQL. */
  maxConnections?: number;
  /** Apply the migrations before returning (default true). */
  migrate?: boolean;
  /**
   * PostgreSQL: the `application_name` of its connections (in `pg_stat_activity`), unless DATABASE_URL sets one.
   */
  applicationName?: string;
  /**
   * PostgreSQL: the longest wait for a connection (a free one, or a new one to open) and, once the database is
   * open and migrated, for each query's answer. Past it the call fails with `ReadModelsTimeoutError`, which
   * `readModelsUnavailable` recognises, and a connection whose query went unanswered is closed rather than
   * handed out again. Unset: no bound (the projector and the replay CLI, whose statements may rightly run long).
   */
  timeoutMs?: number;
  /**
   * PostgreSQL: open even when the server cannot be reached now (refused, unknown host, no answer within
   * `timeoutMs`: `readModelsUnavailable`) — the schema and the migrations are then applied before the first
   * query that gets through, each query until then failing as the server does (`setUpFailure` says why). The
   * API's: a database outage at its start must not keep it from serving commands, which never read the read
   * models, nor make its process exit and restart until the database is back. Any other failure (a database or
   * role that does not exist, a wrong password) still fails the open.
   */
  openWhileUnreachable?: boolean;
  /**
   * With `openWhileUnreachable`: told of each set-up attempt that failed after the open (`unavailable`: the server
   * could not be reached, as `readModelsUnavailable` says; otherwise it refused — a role, a permission, a
   * migration), so that the caller can say so.
   */
  onSetUpFailure?: (error: Error, unavailable: boolean) => void;
}

export interface ReadModelDatabase {
  db: ReadModelDb;
  dialect: SqlDialectName;
  close(): Promise<void>;
  /**
   * PostgreSQL: creates the schema if it is missing and runs the migrations again, in the schema the connection
   * works in now; resolves how many were applied (0: the read models were there). The projector calls it when its
   * read of the checkpoints finds no table (a database or schema dropped and re-created empty).
   */
  migrate?(): Promise<number>;
  /**
   * PostgreSQL: closes every connection handed out at this moment, so that their queries in flight fail at once
   * instead of waiting on a link that died without a word (a half-open connection answers nothing, for as long as
   * the kernel keeps it: minutes). Resolves how many it closed. The projector calls it when it lost its lock: the
   * batch in hand is dropped anyway, and waiting for it kept the projector from retaking the lock or reporting
   * the outage. SQLite: no connection to close (its statements are synchronous).
   */
  abortQueries?(): number;
  /**
   * With `openWhileUnreachable`: why the schema and migrations could not be applied at open (the server could not
   * be reached); undefined once they were.
   */
  setUpFailure?: Error;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
const OPENED = new WeakMap<ReadModelDb, { dialect: SqlDialectName; sqlite?: Database.Database }>();

/**
 * The dialect of a `db` that `openReadModelDatabase` opened, and on SQLite its better-sqlite3 handle (the
 * projector's writer runs prepared statements on it inside Kysely's transactions); `undefined` for any
 * other Kysely instance.
 */
export function openedReadModelDb(
  db: ReadModelDb,
): { dialect: SqlDialectName; sqlite?: Database.Database } | undefined {
  return OPENED.get(db);
}

/** Whether `db` (any Kysely instance: a transaction, `withSchema`, `withPlugin`…) talks to PostgreSQL. */
export function isPostgres(db: { getExecutor(): { readonly adapter: unknown } }): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

const STATEMENT_CACHE_SIZE = 200;

/**
 * Kysely prepares every query it runs; the projector runs the same few statements batch after batch.
 * Keeping the most recent prepared statements (by SQL text) saves SQLite's parse and plan each time.
 * The connection is used by one query at a time (Kysely's single-connection mutex), so a statement is
 * never run twice at once; SQLite re-prepares a cached statement itself after a schema change.
 */
function cachePreparedStatements(sqlite: Database.Database): void {
  const prepare = sqlite.prepare.bind(sqlite);
  const cache = new Map<string, Database.Statement>();
  sqlite.prepare = ((source: string) => {
    let statement = cache.get(source);
    if (statement) {
      cache.delete(source);
    } else {
      statement = prepare(source);
      if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
    }
    cache.set(source, statement);
    return statement;
  }) as typeof sqlite.prepare;
}

/**
 * Where the read models are, for an operator's message: PostgreSQL's host, port and database from
 * DATABASE_URL (never its user or password), or the SQLite file.
 */
export function readModelLocation(
  options: Pick<ReadModelDatabaseOptions, 'databaseUrl' | 'dataDir' | 'sqliteFile'>,
): string {
  if (!options.databaseUrl)
    return `SQLite file ${resolve(options.dataDir ?? './data', options.sqliteFile ?? 'read-models.sqlite')}`;
  try {
    const url = new URL(options.databaseUrl);
    return `DATABASE_URL, PostgreSQL at ${url.hostname || 'localhost'}:${url.port || '5432'}${url.pathname || '/'}`;
  } catch {
    return 'DATABASE_URL';
  }
}

/**
 * SQLite ends a transaction itself when a statement or the COMMIT fails for want of room or an I/O error
 * (SQLITE_FULL on a full disk, SQLITE_IOERR_WRITE past a file-size limit); Kysely's ROLLBACK after it then fails
 * with "cannot rollback - no transaction is active", and that error, not the one that ended the transaction,
 * reached the caller. A full disk at COMMIT so showed in the projector as a bad event (`other`, narrowed down to
 * one) instead of `unavailable`. Here a rollback of a transaction SQLite has already ended does nothing, so the
 * failure that ended it is what the caller sees.
 */
class SqliteDialectKeepingFailures extends SqliteDialect {
  constructor(private readonly sqlite: Database.Database) {
    super({ database: sqlite });
  }

  override createDriver(): Driver {
    const driver = super.createDriver();
    const rollback = driver.rollbackTransaction.bind(driver);
    driver.rollbackTransaction = async (connection) => {
      if (this.sqlite.inTransaction) await rollback(connection);
    };
    return driver;
  }
}

/**
 * Opens (and by default migrates) the read models. A database that cannot be reached or opened rejects with
 * one line naming where it looked (`readModelLocation`) and why; nothing is left open.
 */
export async function openReadModelDatabase(options: ReadModelDatabaseOptions): Promise<ReadModelDatabase> {
  try {
    return await open(options);
  } catch (error) {
    throw new Error(
      `Cannot open the read-model database (${readModelLocation(options)}): ${(error as Error).message ?? String(error)}`,
      { cause: error },
    );
  }
}

/**
 * The read-model database did not answer in time (`ReadModelDatabaseOptions.timeoutMs`): it is hung, stopped,
 * or the network drops its packets. Its `code` is Node's for a timed-out socket, so every check for an
 * unreachable database counts it.
 */
export class ReadModelsTimeoutError extends Error {
  override readonly name = 'ReadModelsTimeoutError';
  readonly code = 'ETIMEDOUT';
}

/**
 * The schema or migrations of a database opened while unreachable (`openWhileUnreachable`) failed once it
 * answered, for a reason of its own (`cause`): the read models cannot be used until a set-up succeeds.
 * `readModelsUnavailable` counts it.
 */
export class ReadModelsSetUpError extends Error {
  override readonly name = 'ReadModelsSetUpError';
  readonly code = 'ESETUP';
  constructor(cause: unknown) {
    super(
      `The read models could not be set up in the database: ${(cause as { message?: unknown })?.message ?? String(cause)}`,
      { cause },
    );
  }
}

/**
 * The schema the connection creates tables in: the first of its `search_path` that exists and that its role
 * may use (USAGE). None (a `search_path` in DATABASE_URL or set for the role or database that names only
 * schemas that do not exist, or that the role may not use) is refused here, saying so, rather than by the
 * migrator's first statement ("no schema has been selected to create in").
 */
async function currentSchema(db: Kysely<ReadModelTables>): Promise<string> {
  const { rows } = await sql<{
    schema: string | null;
    path: string;
    database: string;
    role: string;
  }>`select current_schema() as schema, current_setting('search_path') as path, current_database() as database, current_user as role`.execute(
    db,
  );
  const row = rows[0];
  if (row?.schema) return row.schema;
  const path = row?.path ? row.path : '(empty)';
  throw new Error(
    `No schema of the search_path ${path} exists in database ${row?.database ?? '?'} with USAGE granted to ` +
      `role ${row?.role ?? '?'}: create the schema (CREATE SCHEMA) or grant USAGE and CREATE on it, or name a ` +
      'schema in READ_MODEL_SCHEMA instead, which is created when missing',
  );
}

/** The longest a set-up of a database opened while unreachable may take (or 6 × its query timeout). */
const SET_UP_TIMEOUT_MS = 30_000;

/** Node's network errors, and PostgreSQL's SQLSTATEs, that mean the server cannot be used now (not a bad query). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN', // a name server that does not answer now (a cluster's DNS starting)
  'EPIPE',
]);
const UNAVAILABLE_STATES = new Set([
  '57P01', // admin_shutdown (pg_terminate_backend, a fast shutdown)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down, recovering)
  '53300', // too_many_connections
  '55000', // object_not_in_prerequisite_state: the database does not accept connections now
  '57014', // query_canceled: the API's server-side statement_timeout (READ_MODEL_QUERY_TIMEOUT_MS)
  '55P03', // lock_not_available: its lock_timeout (a table locked by a migration, VACUUM FULL, LOCK TABLE)
]);

/**
 * Whether a read-model query failed because the database cannot be reached or used right now — the server is
 * down, restarting or refusing connections, the connection was cut, SQLite is locked by another writer — so
 * the caller answers 503 and the client retries, rather than a 500 for what is no bug.
 */
export function readModelsUnavailable(error: unknown): boolean {
  // Not `instanceof Error`: a socket's error is made by Node's own Error, which code run in another context
  // (a vm, as jest runs tests) does not recognise.
  if (typeof error !== 'object' || error === null) return false;
  if (error instanceof ReadModelsTimeoutError || error instanceof ReadModelsSetUpError) return true;
  const code = (error as { code?: unknown }).code;
  const message = (error as { message?: unknown }).message;
  if (typeof code !== 'string') return typeof message === 'string' && /^Connection terminated/.test(message);
  return (
    NETWORK_CODES.has(code) ||
    UNAVAILABLE_STATES.has(code) ||
    code.startsWith('08') || // connection_exception
    code === 'SQLITE_BUSY'
  );
}

/**
 * Whether a read-model query failed because the database's own files are damaged — SQLite's "database disk image
 * is malformed" (SQLITE_CORRUPT…) or "file is not a database" (SQLITE_NOTADB), PostgreSQL's data_corrupted or
 * index_corrupted (XX001, XX002): no bug of the query and no outage that passes by itself; the read models must
 * be restored or rebuilt (docs/operations.md). The API answers 503 and logs it at `error`.
 */
export function readModelsDamaged(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (/^SQLITE_(CORRUPT|NOTADB)/.test(code) || /^XX00[12]$/.test(code));
}

/**
 * A pooled connection that fails while idle (the server restarted or failed over, an administrator ended it,
 * the network dropped it) is an `'error'` event on the pool, and an EventEmitter's unhandled `'error'` ends
 * the process: the API, the projector and, under `npm start`, the embedded store with them. The pool has
 * already dropped that connection; the next query opens a new one, or fails where its caller handles it (503,
 * the projector's retry). So the event needs no more than a listener.
 *
 * A connection that fails while checked out — a query running on it, or a transaction open between two of its
 * queries (`pg_terminate_backend` on an active or idle-in-transaction backend) — reports it as an `'error'`
 * event on the connection itself, which pg-pool listens to only while the connection is idle: unheard, it ended
 * the process with `Unhandled 'error' event … Connection terminated unexpectedly`. Each connection gets a listener
 * as it opens. Nothing is lost by it: the query in flight, or the next one on that connection ("not queryable"),
 * fails with the error where its caller handles it, and the pool drops the connection when it is released.
 */
export function ignoreIdleConnectionErrors(pool: Pool): void {
  pool.on('error', () => undefined);
  pool.on('connect', (client) => void client.on('error', () => undefined));
}

/**
 * Kysely's view of `pool` with every wait bounded (`ReadModelDatabaseOptions.timeoutMs`): the pool's own
 * `connectionTimeoutMillis` bounds the wait for a connection, this bounds each query once `bound()` is set.
 * A query left unanswered fails with `ReadModelsTimeoutError` and its connection is closed at once (pg ends a
 * connection with a query in flight by destroying its socket): the server may still work on that query or never
 * answer, and the same connection handed out again would queue every later query behind it. The pool drops a
 * closed connection when it is released and opens a new one for the next query, so it recovers as soon as the
 * server answers again.
 */
function boundedPool(
  pool: Pool,
  timeoutMs: number,
  bound: () => boolean,
  /** What must be done before a connection is handed out (a set-up the server was not there for at open). */
  gate?: () => Promise<void> | undefined,
): PostgresPool {
  /** Connections whose server-side limits are set (a connection opened for the migrations is not, at first). */
  const limited = new WeakSet<PoolClient>();
  return {
    async connect(): Promise<PostgresPoolClient> {
      const waiting = gate?.();
      if (waiting)
        await settleWithin(
          waiting,
          timeoutMs,
          () => new ReadModelsTimeoutError(`The read-model database did not answer within ${timeoutMs} ms`),
        ).catch((error: unknown) => {
          // A refusal of the set-up (a role, a permission, a migration) is no bug of the query waiting on it: the
          // read models cannot be used now (503), and the set-up is tried again by the next query.
          throw readModelsUnavailable(error) ? error : new ReadModelsSetUpError(error);
        });
      let client: PoolClient;
      try {
        client = await pool.connect();
        if (bound() && !limited.has(client)) {
          // The client's bound alone would leave the server working on a query it gave up on (waiting on a lock,
          // scanning a table) until it tries to answer, and the next request would open another connection:
          // every timed-out query a server process, until `max_connections` runs out for the projector too.
          // The same limit on the server ends such a query there (SQLSTATE 57014 / 55P03, answered 503).
          const connection = client;
          await settleWithin(
            connection.query(`set statement_timeout = ${timeoutMs}; set lock_timeout = ${timeoutMs}`),
            timeoutMs,
            () => new ReadModelsTimeoutError(`The read-model database did not answer within ${timeoutMs} ms`),
          ).catch((error: unknown) => {
            connection.release(true);
            throw error;
          });
          limited.add(connection);
        }
      } catch (error) {
        if (error instanceof ReadModelsTimeoutError) throw error;
        // pg-pool: "timeout exceeded when trying to connect" (no free connection), "Connection terminated due to
        // connection timeout" (a new one did not open).
        if (/timeout/i.test((error as Error).message ?? '')) {
          throw new ReadModelsTimeoutError(
            `No connection to the read-model database within ${timeoutMs} ms`,
            { cause: error },
          );
        }
        throw error;
      }
      let abandoned = false;
      const query = (text: string, parameters: readonly unknown[]) => {
        if (abandoned) {
          // Kysely's rollback after a timed-out statement in a transaction.
          return Promise.reject(
            new ReadModelsTimeoutError('The read-model connection was closed after a query went unanswered'),
          );
        }
        const answer = client.query(text, [...parameters]);
        if (!bound()) return answer;
        return settleWithin(answer, timeoutMs, () => {
          abandoned = true;
          void client.end().catch(() => undefined);
          return new ReadModelsTimeoutError(`The read-model database did not answer within ${timeoutMs} ms`);
        });
      };
      return { query, release: () => client.release(abandoned) } as unknown as PostgresPoolClient;
    },
    end: () => pool.end(),
  };
}

/**
 * The settings of a PostgreSQL session whose statements are not bounded (the projector's, the replay CLI's): an
 * inherited `statement_timeout` (SQLSTATE 57014) cut its batches, which it then halved blaming an innocent event,
 * and an inherited `idle_in_transaction_session_timeout` (25P03) ended a rebuild's connection in the middle of its
 * work ("Postgres connection has been discarded"). Set on each connection as it opens, before any query of ours.
 */
export const UNBOUNDED_SESSION_SETTINGS = [
  'set statement_timeout = 0',
  'set idle_in_transaction_session_timeout = 0',
];

export async function unboundSession(connection: DatabaseConnection): Promise<void> {
  for (const setting of UNBOUNDED_SESSION_SETTINGS) await connection.executeQuery(CompiledQuery.raw(setting));
}

/**
 * DATABASE_URL with READ_MODEL_SCHEMA as its search_path. The URL's own `options` win over a `Pool` field of the
 * same name, so the schema goes into them, after what they say: of two `-c search_path=…` the server takes the last.
 */
function withSchema(databaseUrl: string, schema: string | undefined): string {
  if (!schema) return databaseUrl;
  let url: URL;
  try {
    url = new URL(databaseUrl);
  } catch {
    return databaseUrl; // the pool reports it, naming DATABASE_URL
  }
  const own = url.searchParams.get('options');
  url.searchParams.set('options', `${own ? `${own} ` : ''}-c search_path=${schema}`);
  return url.toString();
}

async function open(options: ReadModelDatabaseOptions): Promise<ReadModelDatabase> {
  let database: ReadModelDatabase;
  let migrationSchema: string | undefined;
  let queriesBounded = false;
  if (options.databaseUrl) {
    if (options.schema !== undefined && !IDENTIFIER.test(options.schema)) {
      throw new Error(`Invalid schema name ${options.schema}`);
    }
    const pool = new Pool({
      connectionString: withSchema(options.databaseUrl, options.schema),
      max: options.maxConnections ?? 5,
      // TCP keep-alive probes after 10 s idle: a link that died under an idle connection is found by the kernel
      // within about a minute instead of the two hours of its default.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      ...(options.applicationName ? { application_name: options.applicationName } : {}),
      ...(options.timeoutMs === undefined ? {} : { connectionTimeoutMillis: options.timeoutMs }),
    });
    ignoreIdleConnectionErrors(pool);
    const handedOut = new Set<PoolClient>();
    pool.on('acquire', (client) => void handedOut.add(client));
    pool.on('release', (_error, client) => void handedOut.delete(client));
    pool.on('remove', (client) => void handedOut.delete(client));
    const timeoutMs = options.timeoutMs;
    const lazy = options.openWhileUnreachable === true && timeoutMs !== undefined;
    /** With `openWhileUnreachable`: the set-up under way, and whether it was done. */
    let settingUp: Promise<void> | undefined;
    let setUpDone = !lazy;
    const dialect = (gate?: () => Promise<void> | undefined) =>
      new PostgresDialect({
        // Queries are bounded once open: a migration (an index on a large table) may rightly take longer.
        pool: timeoutMs === undefined ? pool : boundedPool(pool, timeoutMs, () => queriesBounded, gate),
        // Unbounded (the projector, the replay CLI): not bounded by the server either, whatever a DBA set for the
        // role or the database (`ALTER ROLE … SET statement_timeout`): a catch-up batch or a rebuild's copy may
        // rightly run long, and a transaction may rightly wait between two statements.
        ...(timeoutMs === undefined ? { onCreateConnection: unboundSession } : {}),
      });
    /** The set-up's own connections pass no gate (they are what the gate waits for). Shares the pool. */
    const setUpDb = new Kysely<ReadModelTables>({ dialect: dialect() });
    const setUp = async (): Promise<void> => {
      if (options.schema) await sql`create schema if not exists ${sql.id(options.schema)}`.execute(setUpDb);
      // The migrator must look for its own tables in our schema only (it would find another schema's).
      migrationSchema = await currentSchema(setUpDb);
      if (lazy && (options.migrate ?? true)) await migrateToLatest(setUpDb, 'postgres', migrationSchema);
    };
    /** Set up once, before the first connection is handed out; a failed attempt is made again by the next query. */
    const pendingSetUp = (): Promise<void> | undefined => {
      if (setUpDone) return undefined;
      // Bounded: a link that died without a word under it would otherwise keep every query waiting on it (they
      // each wait at most `timeoutMs`, then answer 503) until the kernel gives up on the connection.
      settingUp ??= settleWithin(
        setUp(),
        Math.max(SET_UP_TIMEOUT_MS, 6 * (timeoutMs ?? 0)),
        () => new ReadModelsTimeoutError('The read-model database did not finish setting up in time'),
      ).then(
        () => {
          setUpDone = true;
          queriesBounded = true;
          database.setUpFailure = undefined;
        },
        (error: unknown) => {
          settingUp = undefined;
          const failure = error instanceof Error ? error : new Error(String(error));
          database.setUpFailure = failure;
          options.onSetUpFailure?.(failure, readModelsUnavailable(error));
          throw error;
        },
      );
      return settingUp;
    };
    const db = lazy ? new Kysely<ReadModelTables>({ dialect: dialect(pendingSetUp) }) : setUpDb;
    if (!lazy) {
      try {
        await setUp();
      } catch (error) {
        await db.destroy().catch(() => undefined);
        throw error;
      }
    }
    database = {
      db,
      dialect: 'postgres',
      close: () => db.destroy(),
      abortQueries() {
        const closing = [...handedOut];
        handedOut.clear();
        // pg ends a connection with a query in flight by destroying its socket: that query fails at once.
        for (const client of closing) void client.end().catch(() => undefined);
        return closing.length;
      },
      async migrate() {
        if (options.schema) await sql`create schema if not exists ${sql.id(options.schema)}`.execute(db);
        return migrateToLatest(db, 'postgres', await currentSchema(db));
      },
    };
    OPENED.set(db, { dialect: 'postgres' });
  } else {
    const dataDir = options.dataDir ?? './data';
    mkdirSync(dataDir, { recursive: true });
    const sqlite = new Database(join(dataDir, options.sqliteFile ?? 'read-models.sqlite'));
    // WAL: readers (the management API) never wait for the projector's batch; NORMAL sync keeps
    // every commit atomic, and a batch lost to a power cut is simply projected again.
    try {
      sqlite.pragma('journal_mode = WAL');
    } catch (error) {
      sqlite.close(); // e.g. not a database file
      throw error;
    }
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 5000');
    // Deleted and replaced content (an erased session's rows, every earlier version of a row an update
    // rewrote, the tables a rebuild drops) is overwritten with zeros, not left in free space until reused: an
    // erasure leaves nothing of the session in the file once the WAL is checkpointed (erasure-file.int-spec.ts).
    sqlite.pragma('secure_delete = ON');
    // 64 MiB of page cache (default 2 MiB): a catch-up batch touches the sessions table and its indexes
    // all over; with the default cache most of its page reads went to the OS.
    sqlite.pragma('cache_size = -65536');
    // Checkpoint the WAL back into the file every 10 000 pages (~40 MiB) instead of every 1 000: a catch-up
    // batch writes several MiB, and with the default nearly every commit also ran a checkpoint (copy + fsync).
    // Commits are as durable as before (a checkpoint moves committed pages, it does not commit); the WAL
    // file just grows larger between checkpoints, and readers scan a bigger WAL index.
    sqlite.pragma('wal_autocheckpoint = 10000');
    cachePreparedStatements(sqlite);
    const db = new Kysely<ReadModelTables>({ dialect: new SqliteDialectKeepingFailures(sqlite) });
    const statistics = keepPlannerStatistics(sqlite);
    database = {
      db,
      dialect: 'sqlite',
      close: () => {
        clearInterval(statistics);
        return db.destroy();
      },
    };
    OPENED.set(db, { dialect: 'sqlite', sqlite });
  }
  if (options.openWhileUnreachable && database.dialect === 'postgres' && options.timeoutMs !== undefined) {
    // Set up now if the server answers; if it cannot be reached, open anyway (the first query sets up).
    try {
      await database.db.connection().execute(async () => undefined);
    } catch (caught) {
      const error = caught instanceof ReadModelsSetUpError ? caught.cause : caught;
      if (!readModelsUnavailable(error)) {
        await database.close();
        throw error;
      }
      // The set-up's own failure when it came first, else why the open stopped waiting (a hung server).
      database.setUpFailure ??= error instanceof Error ? error : new Error(String(error));
    }
    return database;
  }
  if (options.migrate ?? true) {
    try {
      await migrateToLatest(database.db, database.dialect, migrationSchema);
    } catch (error) {
      await database.close();
      throw error;
    }
  }
  const opened = OPENED.get(database.db)?.sqlite;
  if (opened) refreshPlannerStatistics(opened);
  queriesBounded = true;
  return database;
}

/** How often each SQLite connection refreshes the query planner's statistics of tables that grew. */
export const SQLITE_STATISTICS_INTERVAL_MS = 10 * 60_000;

/**
 * SQLite's query planner statistics (`sqlite_stat1`), kept up to date as its documentation advises: `PRAGMA
 * optimize` when a connection opens and every few minutes after. Without statistics the planner answers an exact
 * filter on `integrationId` or `profile` by walking the application's sessions in `created` order, to spare a
 * sort: 180–290 ms for an application of 46,700 sessions, on the management API's event loop (better-sqlite3 is
 * synchronous), against 0.24 ms by the filter's own index once the table is analyzed. `analysis_limit` makes
 * each analysis sample about 1,000 rows per index (38 ms for 140,000 sessions); a table that has not grown much
 * since its last analysis is not analyzed again (a refresh then costs nothing). Each connection refreshes for
 * itself: a connection keeps the statistics it loaded until it analyzes (another connection's `ANALYZE` does not
 * reach it). PostgreSQL's autovacuum does the same for its tables.
 */
function keepPlannerStatistics(sqlite: Database.Database): NodeJS.Timeout {
  sqlite.pragma('analysis_limit = 1000');
  const timer = setInterval(() => refreshPlannerStatistics(sqlite), SQLITE_STATISTICS_INTERVAL_MS);
  timer.unref();
  return timer;
}

export function refreshPlannerStatistics(sqlite: Database.Database): void {
  if (!sqlite.open) return;
  // An analysis writes `sqlite_stat1`: it must not wait for the projector's write lock on the API's event loop
  // (busy_timeout is 5 s). Busy now, it is simply tried again at the next refresh.
  const busyTimeout = sqlite.pragma('busy_timeout', { simple: true }) as number;
  try {
    sqlite.pragma('busy_timeout = 0');
    // 0x10002: analyze every table that needs it, not only those this connection has queried.
    sqlite.pragma('optimize = 0x10002');
  } catch {
    // Statistics are an optimization: a read-only file, a busy database or a full disk must not fail the reads.
  } finally {
    sqlite.pragma(`busy_timeout = ${busyTimeout}`);
  }
}
