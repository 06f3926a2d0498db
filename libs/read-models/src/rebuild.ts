/**
 * Rebuilding read models from the event log while the live ones keep answering queries (`replay rebuild`).
 *
 * 1. prepare: an empty copy of the chosen projections' tables is created beside the live ones —
 *    PostgreSQL: the same migrations in a sibling schema `<live>_rebuild`; SQLite: tables `rebuild_<name>`
 *    in the same file, created from the live tables' own DDL (without their secondary indexes, which
 *    makes the bulk load faster).
 * 2. build: events are folded into the copy by the projections' own writers, batch after batch, each
 *    projection up to the position the live copy has reached (its stored checkpoint), never beyond it.
 * 3. swap, in ONE transaction: the live tables are locked against the projector's batches (PostgreSQL
 *    `LOCK TABLE … ACCESS EXCLUSIVE`, in the order the projector's batch takes them so neither waits
 *    for the other in a cycle; SQLite `BEGIN IMMEDIATE`, the file's one write lock), the copy catches
 *    up to the live checkpoints read under that lock, then the tables change places (PostgreSQL:
 *    `ALTER TABLE … SET SCHEMA` live → `<live>_retired`, rebuild → live; SQLite: `DROP TABLE`, `ALTER
 *    TABLE rebuild_<name> RENAME TO <name>`, secondary indexes created under their own names). The
 *    rows of the shared tables (`projection_streams` of the flow projections, `projection_checkpoints`)
 *    are replaced for the rebuilt projections only. The checkpoint after the swap is the checkpoint the
 *    projector had committed, and the rows are exactly those of the log up to it: the projector goes
 *    on with its next batch as if nothing happened — nothing is skipped, nothing counted twice.
 *
 * Queries never see a half-built copy: PostgreSQL queries wait for the swap's lock (milliseconds) and
 * resolve the table names again afterwards; SQLite readers (WAL) keep reading their snapshot and see
 * the new tables from their next statement.
 *
 * Every transaction on the copy, the swap and the drops checks inside itself, first and right before its
 * commit, that this rebuild still holds the `rebuild` lock (`ProjectorLease.fence`): the server frees the lock
 * of a connection it gave up on (a hung network) and a second rebuild may then take it and drop and refill the
 * copy, so a rebuild that lost its lock — its probe went unanswered, or its lock connection ended — writes
 * nothing more, swaps nothing in and drops nothing (`RebuildLockLostError`). A write already past its last
 * check holds the copy's tables until it commits, so a second rebuild's drop waits for it.
 */
import {
  type Kysely,
  type KyselyPlugin,
  OperationNodeTransformer,
  type QueryId,
  sql,
  type TableNode,
} from 'kysely';
import { settleWithin } from './deadline';
import {
  openReadModelDatabase,
  type ReadModelDatabase,
  type ReadModelDb,
  type ReadModelTables,
} from './database';
import type { ProjectedItem } from './projected-event';
import { eventsWithoutNul } from './postgres-text';
import {
  DEFAULT_LOCK_PROBE_TIMEOUT_MS,
  projectorLock,
  ProjectorLockLostError,
  type ProjectorLease,
} from './projector-lock';
import { PROJECTION_WRITERS, readCheckpoints, type Checkpoints } from './read-model-writer';
import { kyselyRowStore } from './row-store';
import { upsert } from './sql-helpers';
import {
  applyItems,
  PROJECTION_NAMES,
  type ProjectionName,
  type ProjectionWriter,
} from './writers/projection-writer';

type Table = keyof ReadModelTables;

const OWNED_TABLES: Record<ProjectionName, Table[]> = {
  sessions: ['sessions', 'session_coupons'],
  customer_profiles: ['profile_sessions', 'customer_profiles'],
  daily_analytics: ['daily_analytics'],
  sku_analytics: ['sku_analytics'],
};
const FLOWS: ReadonlySet<ProjectionName> = new Set(['daily_analytics', 'sku_analytics']);

/** The order in which a projector batch touches the tables; locks are taken in the same order. */
const LOCK_ORDER: Table[] = [
  'sessions',
  'session_coupons',
  'profile_sessions',
  'customer_profiles',
  'projection_streams',
  'daily_analytics',
  'sku_analytics',
  'projection_checkpoints',
];

const SQLITE_PREFIX = 'rebuild_';

/** The live read models have moved past what the caller read from the log: read on, then swap again. */
export class RebuildBehindError extends Error {
  override readonly name = 'RebuildBehindError';
  constructor(readonly livePosition: bigint) {
    super(`The live read models are at ${livePosition}, beyond the events read for the swap`);
  }
}

/** Another rebuild of the same read-model database is running (it holds the `rebuild` lock). */
export class RebuildInProgressError extends Error {
  override readonly name = 'RebuildInProgressError';
  constructor(readonly holder: string | undefined) {
    super(
      `Another rebuild of these read models is running${holder ? ` (${holder})` : ''}; ` +
        'wait for it to finish, or stop it, then run this one again',
    );
  }
}

/**
 * PostgreSQL: a lock the rebuild needs was not granted within `lockTimeoutMs` (nothing was changed by the
 * statement that waited). Names the sessions holding locks on those tables, so the operator can end them.
 */
export class RebuildLockTimeoutError extends Error {
  override readonly name = 'RebuildLockTimeoutError';
  constructor(
    readonly what: string,
    readonly holders: readonly string[],
    timeoutMs: number,
  ) {
    super(
      `Waited ${timeoutMs} ms for the locks on ${what}; ` +
        (holders.length > 0 ? `held by ${holders.join('; ')}` : 'the holder has gone meanwhile'),
    );
  }
}

/**
 * The rebuild lost its lock before it was done (PostgreSQL: a probe of the lock connection went unanswered for
 * `lockProbeTimeoutMs`, or the connection ended; SQLite: its lease was taken over). What it had not committed
 * does not commit, and it changes nothing more: another rebuild may hold the lock now.
 */
export class RebuildLockLostError extends Error {
  override readonly name = 'RebuildLockLostError';
  constructor(reason: Error) {
    super(`The rebuild lost its lock on the read-model database: ${reason.message}`, { cause: reason });
  }
}

const DEFAULT_LOCK_TIMEOUT_MS = 10_000;
/** How long a rebuild that lost its lock waits for its copy's connections to close. */
const ABANDON_WAIT_MS = 1_000;

export interface RebuildOptions {
  live: ReadModelDatabase;
  projections?: readonly ProjectionName[];
  /** PostgreSQL: the URL the live database was opened with (the copy goes to a sibling schema). */
  databaseUrl?: string;
  /**
   * PostgreSQL: how long a statement of the rebuild waits for a table lock before it gives up with
   * `RebuildLockTimeoutError` (default 10 s): the swap's `LOCK TABLE`, and dropping the copy's schemas.
   */
  lockTimeoutMs?: number;
  /**
   * PostgreSQL: a probe of the `rebuild` lock's connection (one every 2 s) unanswered this long loses the lock
   * (default 10 s, as the projector's): see `lockLost`.
   */
  lockProbeTimeoutMs?: number;
  /** PostgreSQL: the `application_name` of the copy's connections (`pg_stat_activity`). */
  applicationName?: string;
}

/** A transaction's check that the rebuild still holds its lock. */
type Fence = (trx: ReadModelDb) => Promise<void>;

export interface RebuildSwap {
  /** The checkpoint of each rebuilt projection after the swap. */
  checkpoints: Checkpoints;
  /** Events folded under the swap's lock. */
  caughtUpEvents: number;
}

/** Renames the read-model tables a query names (SQLite: the copy lives beside the live tables). */
class TablePrefixPlugin extends OperationNodeTransformer implements KyselyPlugin {
  constructor(private readonly tables: ReadonlySet<string>) {
    super();
  }
  protected override transformTable(node: TableNode, queryId?: QueryId): TableNode {
    const transformed = super.transformTable(node, queryId);
    const name = transformed.table.identifier.name;
    if (!this.tables.has(name)) return transformed;
    return {
      ...transformed,
      table: {
        ...transformed.table,
        identifier: { ...transformed.table.identifier, name: `${SQLITE_PREFIX}${name}` },
      },
    };
  }
  transformQuery(args: Parameters<KyselyPlugin['transformQuery']>[0]) {
    return this.transformNode(args.node, args.queryId);
  }
  async transformResult(args: Parameters<KyselyPlugin['transformResult']>[0]) {
    return args.result;
  }
}

function ident(name: string) {
  return sql.id(name);
}

function tablesOf(projections: readonly ProjectionName[]): Table[] {
  return LOCK_ORDER.filter((table) => projections.some((p) => OWNED_TABLES[p].includes(table)));
}

export class ReadModelRebuild {
  private readonly staged = new Map<ProjectionName, bigint | undefined>();
  private readonly writers: ProjectionWriter[];
  /** PostgreSQL: the events with U+0000 read as U+FFFD, as the projector's writer reads them. */
  private readonly readEvents: (events: readonly ProjectedItem[]) => readonly ProjectedItem[];
  private lost: RebuildLockLostError | undefined;
  /**
   * Rejects with `RebuildLockLostError` as soon as the lock is lost; never settles while it is held. A caller
   * waiting on a database that stopped answering races its wait with this: the statement may never return.
   */
  readonly lockLost: Promise<never>;
  private rejectLockLost!: (error: RebuildLockLostError) => void;

  private constructor(
    private readonly live: ReadModelDatabase,
    readonly projections: readonly ProjectionName[],
    /** Unqualified read-model table names reach the copy through this. */
    private readonly staging: ReadModelDb,
    private readonly backend: PostgresCopy | SqliteCopy,
    private readonly lease: ProjectorLease,
  ) {
    this.writers = PROJECTION_WRITERS.filter((w) => projections.includes(w.name));
    this.readEvents = live.dialect === 'postgres' ? (events) => eventsWithoutNul(events) : (events) => events;
    for (const name of projections) this.staged.set(name, undefined);
    this.lockLost = new Promise<never>((_, reject) => (this.rejectLockLost = reject));
    this.lockLost.catch(() => undefined);
    lease.onLost((reason) => this.loseLock(new RebuildLockLostError(reason)));
    // Lost while the copy was being created, before anyone listened.
    if (!lease.isHeld())
      this.loseLock(new RebuildLockLostError(new Error('lost while the copy was created')));
  }

  /** The first reason the lock was lost is the one reported. */
  private loseLock(error: RebuildLockLostError): RebuildLockLostError {
    if (!this.lost) {
      this.lost = error;
      this.rejectLockLost(error);
    }
    return this.lost;
  }

  /** Throws `RebuildLockLostError` once the lock is lost (call between steps). */
  checkLock(): void {
    if (this.lost) throw this.lost;
  }

  /** The lock was lost (why: `lockLost`). */
  isLockLost(): boolean {
    return this.lost !== undefined;
  }

  private fence(trx: ReadModelDb): Promise<void> {
    return fenceWith(this.lease, trx).catch((error: unknown) => {
      throw error instanceof RebuildLockLostError ? this.loseLock(error) : error;
    });
  }

  /**
   * Takes the `rebuild` lock (one rebuild per read-model database at a time: a second one would drop and
   * refill this one's copy — `RebuildInProgressError`), then creates the empty copy, dropping what an
   * interrupted rebuild left behind. `close()` releases the lock; a crashed holder frees it as the
   * projector lock is freed (PostgreSQL: its connection ends; SQLite: its pid is gone or its lease is stale).
   */
  static async prepare(options: RebuildOptions): Promise<ReadModelRebuild> {
    const projections = options.projections ?? PROJECTION_NAMES;
    for (const name of projections) {
      if (!PROJECTION_NAMES.includes(name)) throw new Error(`Unknown projection ${name}`);
    }
    if (options.live.dialect === 'postgres' && !options.databaseUrl) {
      throw new Error('Rebuilding on PostgreSQL needs the database URL');
    }
    const lock = projectorLock(options.live, {
      name: 'rebuild',
      databaseUrl: options.databaseUrl,
      probeTimeoutMs: options.lockProbeTimeoutMs ?? DEFAULT_LOCK_PROBE_TIMEOUT_MS,
    });
    const lease = await lock.tryAcquire();
    if (!lease) throw new RebuildInProgressError(await lock.holder());
    const fence: Fence = (trx) => fenceWith(lease, trx);
    try {
      if (options.live.dialect === 'postgres') {
        const copy = await PostgresCopy.create(
          options.live.db,
          options.databaseUrl!,
          options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
          fence,
          options.applicationName,
        );
        return new ReadModelRebuild(options.live, projections, copy.staging.db, copy, lease);
      }
      const copy = await SqliteCopy.create(options.live.db, tablesOf(projections), fence);
      return new ReadModelRebuild(options.live, projections, copy.staging, copy, lease);
    } catch (error) {
      await lease.release();
      throw error;
    }
  }

  /** Lowest position of the copy (where the next read of the log starts, exclusive). */
  lowestPosition(): bigint | undefined {
    let lowest: bigint | undefined;
    for (const position of this.staged.values()) {
      if (position === undefined) return undefined;
      if (lowest === undefined || position < lowest) lowest = position;
    }
    return lowest;
  }

  /** The live copy's checkpoints of the projections being rebuilt. */
  async liveCheckpoints(): Promise<Checkpoints> {
    const all = await readCheckpoints(this.live.db);
    return new Map(this.projections.map((name) => [name, all.get(name)]));
  }

  /**
   * Folds a batch of events and tombstones (log order, `applyItems`) into the copy; each projection takes
   * only those after its own position and up to its `limits` entry, and moves its checkpoint to min(upTo, limit).
   */
  async apply(events: readonly ProjectedItem[], upTo: bigint, limits: Checkpoints): Promise<void> {
    await this.backend.writeTransaction(this.staging, async (trx) => {
      await this.fence(trx);
      await this.applyIn(trx, events, upTo, limits);
      await this.fence(trx);
    });
  }

  private async applyIn(
    trx: Kysely<ReadModelTables>,
    events: readonly ProjectedItem[],
    upTo: bigint,
    limits: Checkpoints,
  ): Promise<void> {
    const read = this.readEvents(events);
    const moved: { projection: string; position: string }[] = [];
    const next = new Map<ProjectionName, bigint>();
    for (const writer of this.writers) {
      const limit = limits.get(writer.name);
      if (limit === undefined) continue;
      const to = upTo < limit ? upTo : limit;
      const from = this.staged.get(writer.name);
      if (from !== undefined && from >= to) continue;
      const unseen = read.filter((e) => (from === undefined || e.position > from) && e.position <= to);
      if (unseen.length > 0) await applyItems(writer, kyselyRowStore(trx), unseen);
      moved.push({ projection: writer.name, position: to.toString() });
      next.set(writer.name, to);
    }
    await upsert(trx, 'projection_checkpoints', ['projection'], moved);
    for (const [name, position] of next) this.staged.set(name, position);
  }

  /**
   * Catches the copy up to the live checkpoints under the live tables' lock and swaps it in, in one
   * transaction. `events` are the session events (and tombstones) after the copy's position that the caller
   * has read, in log order, complete up to `readUpTo`: nothing is read from the event store while the lock is held
   * (on SQLite a projector waiting for the lock blocks its whole process). When the live copy has gone
   * beyond `readUpTo` meanwhile, nothing changes and `RebuildBehindError` asks the caller to read on.
   */
  async swap(events: readonly ProjectedItem[], readUpTo: bigint | undefined): Promise<RebuildSwap> {
    let caughtUpEvents = 0;
    const staged = new Map(this.staged);
    try {
      const checkpoints = await this.backend.swapTransaction(
        this.projections,
        async (liveTrx, stagingTrx) => {
          const all = await readCheckpoints(liveTrx);
          const limits: Checkpoints = new Map(this.projections.map((name) => [name, all.get(name)]));
          const to = [...limits.values()].reduce<bigint | undefined>(
            (max, p) => (p !== undefined && (max === undefined || p > max) ? p : max),
            undefined,
          );
          const from = this.lowestPosition();
          if (to === undefined || (from !== undefined && from >= to)) return limits;
          if (readUpTo === undefined || readUpTo < to) throw new RebuildBehindError(to);
          const pending = events.filter((e) => (from === undefined || e.position > from) && e.position <= to);
          caughtUpEvents = pending.length;
          await this.applyIn(stagingTrx, pending, to, limits);
          return limits;
        },
        (trx) => this.fence(trx),
      );
      return { checkpoints, caughtUpEvents };
    } catch (error) {
      // The transaction rolled back: the copy is where it was before.
      for (const [name, position] of staged) this.staged.set(name, position);
      throw error;
    }
  }

  /**
   * Drops the copy (after a swap: the retired tables) and lets the next rebuild start. Once the lock is lost it
   * drops nothing — the copy may be another rebuild's by now; the next rebuild drops what is left — and does not
   * wait for a connection still waiting on a hung database.
   */
  async close(): Promise<void> {
    try {
      if (!this.lost) {
        const dropped = this.backend.dispose((trx) => this.fence(trx));
        dropped.catch(() => undefined);
        await Promise.race([dropped, this.lockLost]);
      }
    } catch (error) {
      if (!(error instanceof RebuildLockLostError)) throw error;
    } finally {
      if (this.lost) await this.backend.abandon();
      await this.lease.release();
    }
  }
}

/** PostgreSQL: the copy is a sibling schema migrated from scratch; the swap moves tables between schemas. */
class PostgresCopy {
  private constructor(
    readonly staging: ReadModelDatabase,
    private readonly liveSchema: string,
    private readonly buildSchema: string,
    private readonly retiredSchema: string,
    private readonly liveDb: ReadModelDb,
    private readonly lockTimeoutMs: number,
  ) {}

  static async create(
    live: ReadModelDb,
    databaseUrl: string,
    lockTimeoutMs: number,
    fence: Fence,
    applicationName?: string,
  ): Promise<PostgresCopy> {
    const current = await sql<{ schema: string }>`select current_schema() as schema`.execute(live);
    const liveSchema = current.rows[0]!.schema;
    const buildSchema = `${liveSchema}_rebuild`.slice(0, 63);
    const retiredSchema = `${liveSchema}_retired`.slice(0, 63);
    // What an interrupted rebuild left behind. Someone may still hold a lock on it (a psql session looking at
    // it in an open transaction): without a lock timeout the drop would wait for them, silently, forever.
    await dropSchemas(live, lockTimeoutMs, fence, [buildSchema, retiredSchema], [retiredSchema]);
    // The URL may name the live schema in its `options`; the copy must get its own search_path.
    const url = new URL(databaseUrl);
    url.searchParams.delete('options');
    const staging = await openReadModelDatabase({
      databaseUrl: url.toString(),
      schema: buildSchema,
      maxConnections: 2,
      ...(applicationName ? { applicationName } : {}),
    });
    return new PostgresCopy(staging, liveSchema, buildSchema, retiredSchema, live, lockTimeoutMs);
  }

  writeTransaction<T>(db: ReadModelDb, work: (trx: Kysely<ReadModelTables>) => Promise<T>): Promise<T> {
    return db.transaction().execute(work);
  }

  async swapTransaction<T>(
    projections: readonly ProjectionName[],
    work: (liveTrx: Kysely<ReadModelTables>, stagingTrx: Kysely<ReadModelTables>) => Promise<T>,
    fence: Fence,
  ): Promise<T> {
    const owned = tablesOf(projections);
    const flows = projections.filter((p) => FLOWS.has(p));
    const locked = LOCK_ORDER.filter(
      (t) =>
        owned.includes(t) ||
        t === 'projection_checkpoints' ||
        (t === 'projection_streams' && flows.length > 0),
    );
    const what = `the live tables ${locked.join(', ')} (schema ${this.liveSchema})`;
    const scope = { schemas: [this.liveSchema], tables: locked };
    return namingLockHolders(this.liveDb, this.lockTimeoutMs, what, scope, () =>
      this.swapIn(locked, owned, projections, flows, work, fence),
    );
  }

  private swapIn<T>(
    locked: readonly Table[],
    owned: readonly Table[],
    projections: readonly ProjectionName[],
    flows: readonly ProjectionName[],
    work: (liveTrx: Kysely<ReadModelTables>, stagingTrx: Kysely<ReadModelTables>) => Promise<T>,
    fence: Fence,
  ): Promise<T> {
    const live = (table: string) => sql`${ident(this.liveSchema)}.${ident(table)}`;
    const build = (table: string) => sql`${ident(this.buildSchema)}.${ident(table)}`;
    return this.staging.db.transaction().execute(async (trx) => {
      await fence(trx);
      await sql`set local lock_timeout = ${sql.lit(`${this.lockTimeoutMs}ms`)}`.execute(trx);
      await sql`lock table ${sql.join(locked.map(live))} in access exclusive mode`.execute(trx);
      const result = await work(trx.withSchema(this.liveSchema), trx);
      for (const table of owned) {
        await sql`alter table ${live(table)} set schema ${ident(this.retiredSchema)}`.execute(trx);
        await sql`alter table ${build(table)} set schema ${ident(this.liveSchema)}`.execute(trx);
      }
      const names = sql.join(projections.map((p) => sql.lit(p)));
      if (flows.length > 0) {
        const flowNames = sql.join(flows.map((p) => sql.lit(p)));
        await sql`delete from ${live('projection_streams')} where projection in (${flowNames})`.execute(trx);
        // Named columns: `select *` would include the generated key column, which cannot be inserted.
        await sql`insert into ${live('projection_streams')} (projection, stream_id, revision) select projection, stream_id, revision from ${build('projection_streams')} where projection in (${flowNames})`.execute(
          trx,
        );
      }
      await sql`delete from ${live('projection_checkpoints')} where projection in (${names})`.execute(trx);
      await sql`insert into ${live('projection_checkpoints')} select * from ${build('projection_checkpoints')} where projection in (${names})`.execute(
        trx,
      );
      await fence(trx);
      return result;
    });
  }

  async dispose(fence: Fence): Promise<void> {
    await this.staging.close();
    const schemas = [this.buildSchema, this.retiredSchema];
    await dropSchemas(this.liveDb, this.lockTimeoutMs, fence, schemas);
  }

  /**
   * Closes the copy's connections without dropping it. Idle ones close without a round trip; one still waiting
   * on a hung database would keep the pool open for as long, so it is not waited for.
   */
  async abandon(): Promise<void> {
    await settleWithin(this.staging.close(), ABANDON_WAIT_MS, () => new Error('unanswered')).catch(
      () => undefined,
    );
  }
}

/** PostgreSQL's `lock_not_available`: a `lock_timeout` expired. */
function isLockTimeout(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === '55P03';
}

/** The sessions holding a granted lock on a table (or index…) of `schemas` — only `tables` when given. */
async function lockHolders(
  db: ReadModelDb,
  scope: { schemas: readonly string[]; tables?: readonly string[] },
): Promise<string[]> {
  const result = await sql<{
    pid: number;
    application: string | null;
    client: string | null;
    state: string | null;
    since: string | null;
    query: string | null;
  }>`
    select distinct on (a.pid) a.pid, a.application_name as application, a.client_addr::text as client,
      a.state, a.xact_start::text as since, left(a.query, 120) as query
    from pg_locks l
    join pg_class c on c.oid = l.relation
    join pg_namespace n on n.oid = c.relnamespace
    join pg_stat_activity a on a.pid = l.pid
    where l.granted and a.pid <> pg_backend_pid() and n.nspname = any(${[...scope.schemas]})
      ${scope.tables ? sql`and c.relname = any(${[...scope.tables]})` : sql``}
    order by a.pid`.execute(db);
  return result.rows.map(
    (row) =>
      `backend pid ${row.pid} (${row.application || 'no application_name'}, ${row.client ?? 'local'}, ` +
      `${row.state ?? 'unknown state'}, transaction since ${row.since ?? '?'}: ${row.query ?? ''})`,
  );
}

/** Runs `work`; a lock timeout in it becomes `RebuildLockTimeoutError` naming who holds the locks. */
async function namingLockHolders<T>(
  db: ReadModelDb,
  timeoutMs: number,
  what: string,
  scope: { schemas: readonly string[]; tables?: readonly string[] },
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!isLockTimeout(error)) throw error;
    const holders = await lockHolders(db, scope).catch(() => []);
    throw new RebuildLockTimeoutError(what, holders, timeoutMs);
  }
}

/**
 * Drops the schemas in one transaction (then `create`s some), waiting at most `timeoutMs` for their locks, while
 * the rebuild lock is held (`fence`).
 */
function dropSchemas(
  db: ReadModelDb,
  timeoutMs: number,
  fence: Fence,
  schemas: readonly string[],
  create: readonly string[] = [],
): Promise<void> {
  const what = `schema ${schemas.join(', ')} (a rebuild's copy, dropped by every rebuild)`;
  return namingLockHolders(db, timeoutMs, what, { schemas }, () =>
    db.transaction().execute(async (trx) => {
      await fence(trx);
      await sql`set local lock_timeout = ${sql.lit(`${timeoutMs}ms`)}`.execute(trx);
      for (const schema of schemas) await sql`drop schema if exists ${ident(schema)} cascade`.execute(trx);
      for (const schema of create) await sql`create schema ${ident(schema)}`.execute(trx);
      await fence(trx);
    }),
  );
}

/** The lease's check in `trx`; a lost lock is `RebuildLockLostError`. */
async function fenceWith(lease: ProjectorLease, trx: ReadModelDb): Promise<void> {
  try {
    await lease.fence(trx);
  } catch (error) {
    throw error instanceof ProjectorLockLostError ? new RebuildLockLostError(error) : error;
  }
}

/** SQLite: the copy is `rebuild_*` tables in the same file; the swap drops and renames in one transaction. */
class SqliteCopy {
  private constructor(
    private readonly live: ReadModelDb,
    readonly staging: ReadModelDb,
    private readonly owned: Table[],
    /** `CREATE INDEX` statements of the live tables, run again on the swapped-in tables. */
    private readonly indexes: string[],
  ) {}

  static async create(live: ReadModelDb, owned: Table[], fence: Fence): Promise<SqliteCopy> {
    const copied: Table[] = [...owned, 'projection_streams', 'projection_checkpoints'];
    const indexes: string[] = [];
    await SqliteCopy.immediate(live, async (trx) => {
      // The file's write lock is held from here to the commit: one check is enough.
      await fence(trx);
      for (const table of copied) {
        await sql`drop table if exists ${ident(SQLITE_PREFIX + table)}`.execute(trx);
        const ddl = await sql<{
          sql: string;
        }>`select sql from sqlite_master where type = 'table' and name = ${table}`.execute(trx);
        const create = ddl.rows[0]?.sql;
        if (!create) throw new Error(`No table ${table} in the read-model database`);
        const renamed = create.replace(
          /^(create\s+table\s+)(["`[]?)([a-z_]+)(["`\]]?)/i,
          (_m, head: string) => `${head}"${SQLITE_PREFIX}${table}"`,
        );
        await sql.raw(renamed).execute(trx);
        if (owned.includes(table)) {
          const found = await sql<{
            sql: string;
          }>`select sql from sqlite_master where type = 'index' and tbl_name = ${table} and sql is not null`.execute(
            trx,
          );
          indexes.push(...found.rows.map((row) => row.sql));
        }
      }
    });
    const staging = live.withPlugin(new TablePrefixPlugin(new Set(copied)));
    return new SqliteCopy(live, staging, owned, indexes);
  }

  /** `BEGIN IMMEDIATE`: takes the write lock first (waiting up to busy_timeout), so it never fails midway. */
  private static immediate<T>(
    db: ReadModelDb,
    work: (trx: Kysely<ReadModelTables>) => Promise<T>,
  ): Promise<T> {
    return db.connection().execute(async (connection) => {
      await sql`begin immediate`.execute(connection);
      try {
        const result = await work(connection);
        await sql`commit`.execute(connection);
        return result;
      } catch (error) {
        await sql`rollback`.execute(connection).catch(() => undefined);
        throw error;
      }
    });
  }

  writeTransaction<T>(db: ReadModelDb, work: (trx: Kysely<ReadModelTables>) => Promise<T>): Promise<T> {
    return SqliteCopy.immediate(db, work);
  }

  async swapTransaction<T>(
    projections: readonly ProjectionName[],
    work: (liveTrx: Kysely<ReadModelTables>, stagingTrx: Kysely<ReadModelTables>) => Promise<T>,
    fence: Fence,
  ): Promise<T> {
    const plugin = new TablePrefixPlugin(
      new Set([...this.owned, 'projection_streams', 'projection_checkpoints']),
    );
    const result = await SqliteCopy.immediate(this.live, async (trx) => {
      await fence(trx);
      const value = await work(trx, trx.withPlugin(plugin));
      for (const table of this.owned) {
        await sql`drop table ${ident(table)}`.execute(trx);
        await sql`alter table ${ident(SQLITE_PREFIX + table)} rename to ${ident(table)}`.execute(trx);
      }
      for (const create of this.indexes) await sql.raw(create).execute(trx);
      const names = sql.join(projections.map((p) => sql.lit(p)));
      const flows = projections.filter((p) => FLOWS.has(p));
      if (flows.length > 0) {
        const flowNames = sql.join(flows.map((p) => sql.lit(p)));
        await sql`delete from projection_streams where projection in (${flowNames})`.execute(trx);
        await sql`insert into projection_streams select * from ${ident(`${SQLITE_PREFIX}projection_streams`)} where projection in (${flowNames})`.execute(
          trx,
        );
      }
      await sql`delete from projection_checkpoints where projection in (${names})`.execute(trx);
      await sql`insert into projection_checkpoints select * from ${ident(`${SQLITE_PREFIX}projection_checkpoints`)} where projection in (${names})`.execute(
        trx,
      );
      await sql`drop table ${ident(`${SQLITE_PREFIX}projection_streams`)}`.execute(trx);
      await sql`drop table ${ident(`${SQLITE_PREFIX}projection_checkpoints`)}`.execute(trx);
      return value;
    });
    this.swapped = true;
    return result;
  }

  private swapped = false;

  async dispose(fence: Fence): Promise<void> {
    if (this.swapped) return;
    await SqliteCopy.immediate(this.live, async (trx) => {
      await fence(trx);
      for (const table of [...this.owned, 'projection_streams', 'projection_checkpoints']) {
        await sql`drop table if exists ${ident(SQLITE_PREFIX + table)}`.execute(trx);
      }
    });
  }

  /** Nothing of its own to close: the copy lives in the live file, on its connection. */
  async abandon(): Promise<void> {}
}
