/**
 * One active projector per read-model database. Two projectors writing the same read models at once would
 * race on the aggregate rows (the per-stream revision guard is read-then-write) and on the checkpoints, so
 * the projector takes this lock before it subscribes, holds it for its lifetime, and a second projector
 * stays on standby until the lock is free.
 *
 * - PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) on a dedicated connection, keyed by
 *   the read-model schema. PostgreSQL releases it the moment that connection closes — a clean stop, a crash
 *   or a SIGKILL of the holder alike — so a standby takes over at its next poll.
 * - SQLite: a lease row in the read-model file (`projector_lock`: owner token, pid, host, heartbeat). The
 *   holder renews it every `heartbeatMs` and inside every batch transaction. A standby takes the row over
 *   when its holder is gone: at once when the holder ran on this host and its pid no longer exists (SIGKILL,
 *   crash), otherwise once the heartbeat is older than `staleAfterMs` (a hung process, or a holder in
 *   another pid namespace). The replay CLI does not take the lock: `rebuild` swaps tables under SQLite's
 *   own write lock, between the projector's batches.
 *
 * The same mechanism, under the name `rebuild`, keeps a second `replay rebuild` from starting while one runs
 * (it would drop and refill the first one's copy): a separate lock, so a rebuild runs alongside the projector.
 *
 * Both are backed by the compare-and-set checkpoint write of `ReadModelWriter` (a batch commits only if the
 * checkpoints are still where this projector read them), so even a holder that lost its lock without
 * noticing cannot commit over its successor.
 */
import { sql } from 'kysely';
import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Client } from 'pg';
import type { ReadModelDatabase, ReadModelDb } from './database';

/** The lock was lost while projecting: the batch in hand must not commit. */
export class ProjectorLockLostError extends Error {
  override readonly name = 'ProjectorLockLostError';
}

export interface ProjectorLease {
  /** False once the lock is known to be lost (connection closed, lease taken over). */
  isHeld(): boolean;
  /** Called once when the lock is lost (not on `release`). */
  onLost(listener: (reason: Error) => void): void;
  /** Runs inside each batch transaction; throws `ProjectorLockLostError` when the lock is no longer held. */
  fence(trx: ReadModelDb): Promise<void>;
  release(): Promise<void>;
}

export interface ProjectorLock {
  /** Takes the lock if it is free; `undefined` when another projector holds it. */
  tryAcquire(): Promise<ProjectorLease | undefined>;
  /** Who holds the lock, for the standby's log line. */
  holder(): Promise<string | undefined>;
}

/** Which lock: the projector's (default) or the one rebuilds take. Each name is a lock of its own. */
export type ReadModelLockName = 'projector' | 'rebuild';

export interface ProjectorLockOptions {
  name?: ReadModelLockName;
  /** PostgreSQL: the URL the read models were opened with (the lock gets its own connection). */
  databaseUrl?: string;
  /** How often the holder proves it is alive (default 2 s). */
  heartbeatMs?: number;
  /** SQLite: a heartbeat older than this frees the lease (default 15 s). */
  staleAfterMs?: number;
  /**
   * SQLite: a lease held by this very process (same host and pid) is free. Only for a caller that runs at
   * most one holder per process and starts it after the previous one ended — the API's projector thread:
   * the lease of a worker thread that died (or of this process's previous life, when a container restart
   * gives it the same host name and pid) is taken over at once instead of after `staleAfterMs`.
   */
  reclaimFromThisProcess?: boolean;
}

export function projectorLock(
  database: ReadModelDatabase,
  options: ProjectorLockOptions = {},
): ProjectorLock {
  const heartbeatMs = options.heartbeatMs ?? 2_000;
  const name = options.name ?? 'projector';
  if (database.dialect === 'postgres') {
    if (!options.databaseUrl) throw new Error(`The PostgreSQL ${name} lock needs the database URL`);
    return new PostgresProjectorLock(database.db, options.databaseUrl, heartbeatMs, name);
  }
  return new SqliteProjectorLock(
    database.db,
    heartbeatMs,
    options.staleAfterMs ?? 15_000,
    name,
    options.reclaimFromThisProcess ?? false,
  );
}

/** The advisory-lock key of a schema: 64 bits of SHA-256, so each schema (and test run) has its own lock. */
export function advisoryLockKey(schema: string, name: ReadModelLockName = 'projector'): bigint {
  const digest = createHash('sha256').update(`session-engine:${name}:${schema}`).digest();
  return digest.readBigInt64BE(0);
}

abstract class Lease implements ProjectorLease {
  private held = true;
  private readonly listeners: ((reason: Error) => void)[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(heartbeatMs: number) {
    this.timer = setInterval(() => {
      this.heartbeat().then(
        (ok) => {
          if (!ok) this.lost(new ProjectorLockLostError('The projector lease was taken over'));
        },
        (error: unknown) => this.lost(error instanceof Error ? error : new Error(String(error))),
      );
    }, heartbeatMs);
    this.timer.unref();
  }

  isHeld(): boolean {
    return this.held;
  }

  onLost(listener: (reason: Error) => void): void {
    this.listeners.push(listener);
  }

  async fence(trx: ReadModelDb): Promise<void> {
    if (!this.held || !(await this.renew(trx))) {
      const error = new ProjectorLockLostError('This projector no longer holds the read-model lock');
      this.lost(error);
      throw error;
    }
  }

  async release(): Promise<void> {
    this.stop();
    await this.free();
  }

  protected lost(reason: Error): void {
    if (!this.held) return;
    this.stop();
    for (const listener of this.listeners) listener(reason);
    void this.free().catch(() => undefined);
  }

  private stop(): void {
    this.held = false;
    clearInterval(this.timer);
  }

  /** Proves the holder alive; false when the lock turned out to be someone else's. */
  protected abstract heartbeat(): Promise<boolean>;
  /** The in-transaction check of `fence`. */
  protected abstract renew(trx: ReadModelDb): Promise<boolean>;
  protected abstract free(): Promise<void>;
}

class PostgresProjectorLock implements ProjectorLock {
  constructor(
    private readonly db: ReadModelDb,
    private readonly databaseUrl: string,
    private readonly heartbeatMs: number,
    private readonly name: ReadModelLockName,
  ) {}

  private async key(): Promise<bigint> {
    const current = await sql<{ schema: string }>`select current_schema() as schema`.execute(this.db);
    return advisoryLockKey(current.rows[0]?.schema ?? 'public', this.name);
  }

  async tryAcquire(): Promise<ProjectorLease | undefined> {
    const key = await this.key();
    const client = new Client({
      connectionString: this.databaseUrl,
      keepAlive: true,
      application_name: `session-engine-${this.name}-lock`,
    });
    // An error on an idle client is also reported by the lease; without a listener it would crash the process.
    client.on('error', () => undefined);
    await client.connect();
    try {
      const result = await client.query<{ locked: boolean }>('select pg_try_advisory_lock($1) as locked', [
        key.toString(),
      ]);
      if (!result.rows[0]?.locked) {
        await client.end();
        return undefined;
      }
      return new PostgresLease(client, key, this.heartbeatMs);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
  }

  async holder(): Promise<string | undefined> {
    const key = await this.key();
    const result = await sql<{ pid: number; client: string | null; since: string | null }>`
      select l.pid, a.client_addr::text as client, a.backend_start::text as since
      from pg_locks l left join pg_stat_activity a on a.pid = l.pid
      where l.locktype = 'advisory' and l.granted
        and l.classid = ${Number((key >> 32n) & 0xffffffffn)}::bigint::oid
        and l.objid = ${Number(key & 0xffffffffn)}::bigint::oid and l.objsubid = 1`.execute(this.db);
    const row = result.rows[0];
    return row ? `backend pid ${row.pid} (${row.client ?? 'local'}, connected ${row.since})` : undefined;
  }
}

class PostgresLease extends Lease {
  constructor(
    private readonly client: Client,
    private readonly key: bigint,
    heartbeatMs: number,
  ) {
    super(heartbeatMs);
    const onGone = (error?: Error) =>
      this.lost(error ?? new ProjectorLockLostError('The projector lock connection closed'));
    client.on('error', onGone);
    client.on('end', () => onGone());
  }

  protected async heartbeat(): Promise<boolean> {
    await this.client.query('select 1');
    return true;
  }

  /** The lock lives on its own connection: the batch transaction cannot see it; the connection's state can. */
  protected async renew(): Promise<boolean> {
    return this.isHeld();
  }

  protected async free(): Promise<void> {
    try {
      await this.client.query('select pg_advisory_unlock($1)', [this.key.toString()]);
    } catch {
      // The connection is gone, and the lock with it.
    }
    await this.client.end().catch(() => undefined);
  }
}

interface LockRow {
  owner: string;
  pid: number;
  host: string;
  heartbeat: number;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

class SqliteProjectorLock implements ProjectorLock {
  private readonly host = hostname();

  constructor(
    private readonly db: ReadModelDb,
    private readonly heartbeatMs: number,
    private readonly staleAfterMs: number,
    private readonly name: ReadModelLockName,
    private readonly reclaimFromThisProcess: boolean,
  ) {}

  private async current(db: ReadModelDb): Promise<LockRow | undefined> {
    const result = await sql<LockRow>`
      select owner, pid, host, heartbeat from projector_lock where name = ${this.name}`.execute(db);
    return result.rows[0];
  }

  private isLive(row: LockRow, now: number): boolean {
    if (this.reclaimFromThisProcess && row.host === this.host && Number(row.pid) === process.pid)
      return false;
    if (row.host === this.host && !processExists(row.pid)) return false;
    return now - Number(row.heartbeat) < this.staleAfterMs;
  }

  async tryAcquire(): Promise<ProjectorLease | undefined> {
    const owner = randomUUID();
    // BEGIN IMMEDIATE: two standbys deciding at once are serialised by SQLite's write lock.
    const taken = await this.db.connection().execute(async (connection) => {
      await sql`begin immediate`.execute(connection);
      try {
        const now = Date.now();
        const row = await this.current(connection);
        if (row && this.isLive(row, now)) {
          await sql`rollback`.execute(connection);
          return false;
        }
        await sql`
          insert into projector_lock (name, owner, pid, host, heartbeat)
          values (${this.name}, ${owner}, ${process.pid}, ${this.host}, ${now})
          on conflict (name) do update set owner = excluded.owner, pid = excluded.pid,
            host = excluded.host, heartbeat = excluded.heartbeat`.execute(connection);
        await sql`commit`.execute(connection);
        return true;
      } catch (error) {
        await sql`rollback`.execute(connection).catch(() => undefined);
        throw error;
      }
    });
    return taken ? new SqliteLease(this.db, owner, this.heartbeatMs, this.name) : undefined;
  }

  async holder(): Promise<string | undefined> {
    const row = await this.current(this.db);
    if (!row) return undefined;
    const age = Date.now() - Number(row.heartbeat);
    return `pid ${row.pid} on ${row.host}, heartbeat ${age} ms ago`;
  }
}

class SqliteLease extends Lease {
  constructor(
    private readonly db: ReadModelDb,
    private readonly owner: string,
    heartbeatMs: number,
    private readonly name: ReadModelLockName,
  ) {
    super(heartbeatMs);
  }

  private async touch(db: ReadModelDb): Promise<boolean> {
    const result = await sql`
      update projector_lock set heartbeat = ${Date.now()}
      where name = ${this.name} and owner = ${this.owner}`.execute(db);
    return Number(result.numAffectedRows ?? 0n) === 1;
  }

  /** A busy file (a long `rebuild` swap) is no reason to give the lease up: only a takeover is. */
  protected heartbeat(): Promise<boolean> {
    return this.touch(this.db).catch(() => true);
  }

  protected renew(trx: ReadModelDb): Promise<boolean> {
    return this.touch(trx);
  }

  protected async free(): Promise<void> {
    await sql`delete from projector_lock where name = ${this.name} and owner = ${this.owner}`.execute(
      this.db,
    );
  }
}
