/**
 * One active projector per read-model database. Two projectors writing the same read models at once would
 * race on the aggregate rows (the per-stream revision guard is read-then-write) and on the checkpoints, so
 * the projector takes this lock before it subscribes, holds it for its lifetime, and a second projector
 * stays on standby until the lock is free.
 *
 * - PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) on a dedicated connection, keyed by
 *   the read-model schema. PostgreSQL releases it the moment that connection closes — a clean stop, a crash
 *   or a SIGKILL of the holder alike — so a standby takes over at its next poll. The holder probes the
 *   connection (one probe at a time); a probe unanswered for `probeTimeoutMs` counts as a lost connection, and
 *   each batch checks in its own transaction, first and right before its commit, that the lock is still held
 *   by that connection's backend (`pg_locks`) and still by this process: a holder whose lock connection the
 *   server ended before the holder noticed, or whose probe gave the lock up while that check was on its way,
 *   commits no batch after a standby may have taken over (but for the COMMIT's own round trip, see below).
 * - SQLite: a lease row in the read-model file (`projector_lock`: owner token, pid, host, heartbeat). The
 *   holder renews it every `heartbeatMs` and inside every batch transaction. A standby takes the row over
 *   when its holder is gone: at once when the holder ran on this host and its pid no longer exists (SIGKILL,
 *   crash), otherwise once the heartbeat is older than `staleAfterMs` (a hung process, or a holder in
 *   another pid namespace). The replay CLI does not take the lock: `rebuild` swaps tables under SQLite's
 *   own write lock, between the projector's batches.
 *
 * The same mechanism, under the name `rebuild`, keeps a second `replay rebuild` from starting while one runs
 * (it would drop and refill the first one's copy): a separate lock, so a rebuild runs alongside the projector.
 * Its holder watches it as the projector does (the same probe bound) and fences its writes with it: a lock the
 * server may have freed is one a second rebuild may hold.
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
import { settleWithin } from './deadline';

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
  /** How often the holder proves it is alive (default 2 s); a probe still unanswered skips the next. */
  heartbeatMs?: number;
  /**
   * PostgreSQL: how long a probe of the lock connection, or opening it and asking for the lock, may go
   * unanswered before the connection counts as lost: the holder gives the lock up — its batch in hand does not
   * commit — and the connection is closed (default 10 s). The server frees the lock by itself once it ends a
   * connection it has not heard from (about 25 s, see SERVER_KEEPALIVE), so a holder that kept waiting on a hung
   * database would go on after a hang as the holder of a lock someone else may have taken.
   */
  probeTimeoutMs?: number;
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

export const DEFAULT_LOCK_PROBE_TIMEOUT_MS = 10_000;

export function projectorLock(
  database: ReadModelDatabase,
  options: ProjectorLockOptions = {},
): ProjectorLock {
  const heartbeatMs = options.heartbeatMs ?? 2_000;
  const name = options.name ?? 'projector';
  if (database.dialect === 'postgres') {
    if (!options.databaseUrl) throw new Error(`The PostgreSQL ${name} lock needs the database URL`);
    return new PostgresProjectorLock(
      database.db,
      options.databaseUrl,
      heartbeatMs,
      options.probeTimeoutMs ?? DEFAULT_LOCK_PROBE_TIMEOUT_MS,
      name,
    );
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
  /** A heartbeat has not answered yet: the next tick is skipped rather than queued behind it. */
  private beating = false;

  constructor(
    heartbeatMs: number,
    /** Which lock, for the messages. */
    protected readonly name: ReadModelLockName,
  ) {
    this.timer = setInterval(() => {
      if (this.beating) return;
      this.beating = true;
      this.heartbeat()
        .then(
          (ok) => {
            if (!ok) this.lost(new ProjectorLockLostError(`The ${this.name} lease was taken over`));
          },
          (error: unknown) => this.lost(error instanceof Error ? error : new Error(String(error))),
        )
        .finally(() => {
          this.beating = false;
        });
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
      const error = new ProjectorLockLostError(`This ${this.name} no longer holds its read-model lock`);
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
  /** Gives the lock up; may run twice (lost, then released), and settles even when the database is hung. */
  protected abstract free(): Promise<void>;
}

/** Where `pg_locks` shows the advisory lock `pg_try_advisory_lock(key)` takes. */
function advisoryLockRow(key: bigint) {
  return sql`l.locktype = 'advisory'
    and l.classid = ${Number((key >> 32n) & 0xffffffffn)}::bigint::oid
    and l.objid = ${Number(key & 0xffffffffn)}::bigint::oid and l.objsubid = 1`;
}

/**
 * Asks the server to give up on the lock connection's TCP peer after about 25 s of silence — keep-alive probes
 * after 10 s idle, every 5 s, 3 times; and at most 25 s for data it sent (a probe's answer) to go unacknowledged —
 * instead of its defaults, the operating system's (often 2 hours of keep-alive, about 15 minutes of
 * retransmission): a holder whose host vanished or whose network was cut, so that no FIN or RST ever arrives,
 * then frees the lock in about 25 s. Only this connection's settings change.
 */
const SERVER_KEEPALIVE = `set_config('tcp_keepalives_idle', '10', false),
  set_config('tcp_keepalives_interval', '5', false), set_config('tcp_keepalives_count', '3', false),
  set_config('tcp_user_timeout', '25000', false)`;

/** Closes a pg connection at once, whatever it is waiting for (its 'error' and 'end' events still fire). */
function hangUp(client: Client): void {
  client.connection.stream.destroy();
}

class PostgresProjectorLock implements ProjectorLock {
  /** The schema, hence the key, does not change: asked once, so a standby's poll needs only the lock connection. */
  private knownKey: bigint | undefined;

  constructor(
    private readonly db: ReadModelDb,
    private readonly databaseUrl: string,
    private readonly heartbeatMs: number,
    private readonly probeTimeoutMs: number | undefined,
    private readonly name: ReadModelLockName,
  ) {}

  private async key(): Promise<bigint> {
    if (this.knownKey === undefined) {
      const current = await sql<{ schema: string }>`select current_schema() as schema`.execute(this.db);
      this.knownKey = advisoryLockKey(current.rows[0]?.schema ?? 'public', this.name);
    }
    return this.knownKey;
  }

  async tryAcquire(): Promise<ProjectorLease | undefined> {
    const key = await this.key();
    const client = new Client({
      connectionString: this.databaseUrl,
      keepAlive: true,
      application_name: `session-engine-${this.name}-lock`,
      connectionTimeoutMillis: this.probeTimeoutMs,
    });
    // An error on an idle client is also reported by the lease; without a listener it would crash the process.
    client.on('error', () => undefined);
    await client.connect();
    try {
      const result = await settleWithin(
        client.query<{ locked: boolean; pid: number }>(
          `select pg_try_advisory_lock($1) as locked, pg_backend_pid() as pid, ${SERVER_KEEPALIVE}`,
          [key.toString()],
        ),
        this.probeTimeoutMs,
        () => new Error(`The database did not answer the request for the ${this.name} lock in time`),
      );
      const row = result.rows[0];
      if (!row?.locked) {
        await settleWithin(client.end(), this.probeTimeoutMs, () => new Error('unanswered')).catch(() =>
          hangUp(client),
        );
        return undefined;
      }
      return new PostgresLease(client, key, row.pid, this.heartbeatMs, this.probeTimeoutMs, this.name);
    } catch (error) {
      hangUp(client);
      throw error;
    }
  }

  async holder(): Promise<string | undefined> {
    const key = await this.key();
    const result = await sql<{ pid: number; client: string | null; since: string | null }>`
      select l.pid, a.client_addr::text as client, a.backend_start::text as since
      from pg_locks l left join pg_stat_activity a on a.pid = l.pid
      where l.granted and ${advisoryLockRow(key)}`.execute(this.db);
    const row = result.rows[0];
    return row ? `backend pid ${row.pid} (${row.client ?? 'local'}, connected ${row.since})` : undefined;
  }
}

class PostgresLease extends Lease {
  /** False once the connection failed or left a probe unanswered: it is then closed, not asked to unlock. */
  private answering = true;
  private freeing: Promise<void> | undefined;

  constructor(
    private readonly client: Client,
    private readonly key: bigint,
    /** The lock connection's backend: the one `pg_locks` must show holding the lock. */
    private readonly backendPid: number,
    heartbeatMs: number,
    private readonly probeTimeoutMs: number | undefined,
    name: ReadModelLockName,
  ) {
    super(heartbeatMs, name);
    const onGone = (error?: Error) => {
      this.answering = false;
      this.lost(error ?? new ProjectorLockLostError(`The ${this.name} lock connection closed`));
    };
    client.on('error', onGone);
    client.on('end', () => onGone());
  }

  protected async heartbeat(): Promise<boolean> {
    await settleWithin(this.client.query('select 1'), this.probeTimeoutMs, () => {
      this.answering = false;
      return new ProjectorLockLostError(
        `The ${this.name} lock connection did not answer a probe within ${this.probeTimeoutMs} ms`,
      );
    });
    return true;
  }

  /**
   * The lock lives on its own connection, which the batch transaction cannot use; but the transaction can see
   * in `pg_locks` whether that connection's backend still holds it. The server may have ended the backend (an
   * administrator, its TCP keep-alive after a network cut) and a standby taken the lock while this process has
   * not heard of it yet: its probe is still waiting, or the network cut only the lock connection.
   */
  protected async renew(trx: ReadModelDb): Promise<boolean> {
    if (!this.isHeld()) return false;
    const result = await sql<{ held: boolean }>`
      select exists (select 1 from pg_locks l
        where l.granted and l.pid = ${this.backendPid} and ${advisoryLockRow(this.key)}) as held`.execute(
      trx,
    );
    // Held in the server's view and still in this process's: the probe may have given the lock up while this
    // query waited (a hung network), and the server not yet noticed that the lock connection is gone.
    return result.rows[0]?.held === true && this.isHeld();
  }

  protected free(): Promise<void> {
    return (this.freeing ??= this.close());
  }

  private async close(): Promise<void> {
    if (this.answering) {
      try {
        const unanswered = () => new Error('The projector lock connection did not answer');
        await settleWithin(
          this.client.query('select pg_advisory_unlock($1)', [this.key.toString()]),
          this.probeTimeoutMs,
          unanswered,
        );
        await settleWithin(this.client.end(), this.probeTimeoutMs, unanswered);
        return;
      } catch {
        // Closed below; the server frees the lock when it notices.
      }
    }
    hangUp(this.client);
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
    name: ReadModelLockName,
  ) {
    super(heartbeatMs, name);
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
