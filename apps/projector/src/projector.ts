import {
  EsdbClientAdapter,
  type RecordedSessionEvent,
  SessionEventStore,
  type SessionEventSubscription,
} from '@session-engine/event-store';
import {
  openReadModelDatabase,
  type ProjectedEvent,
  type ProjectorLease,
  type ProjectorLock,
  projectorLock,
  type ReadModelDatabase,
  ReadModelWriter,
} from '@session-engine/read-models';
import type { Logger } from 'pino';
import { createLogger } from './logger';
import type { Registry } from 'prom-client';
import { projectorMetrics } from './projector-metrics';

export interface ProjectorOptions {
  /** Where the event store is; or give `client` to share an open adapter (left open on stop). */
  connectionString?: string;
  client?: EsdbClientAdapter;
  /** PostgreSQL when set, SQLite under `dataDir` otherwise. */
  databaseUrl?: string;
  dataDir: string;
  /** PostgreSQL schema (tests use one per run). */
  schema?: string;
  logger?: Logger;
  /**
   * Largest batch per transaction (default 5 000 events on PostgreSQL, 10 000 on SQLite, whose writes run
   * on this thread: fewer, larger transactions load and rewrite each session row fewer times while catching up). Batches reach it only while catching up; live, a batch is what arrived within
   * `batchDelayMs`.
   */
  batchSize?: number;
  /** Longest wait before a partial batch is committed (default 50 ms). */
  batchDelayMs?: number;
  /** Where the metrics go (default: prom-client's default registry). */
  registry?: Registry;
  /** Longest pause between two attempts of a standby to take the read-model lock (default 5 s). */
  standbyPollMs?: number;
  /** How often the lock holder proves it is alive (default 2 s). */
  lockHeartbeatMs?: number;
  /** SQLite: a lease whose heartbeat is older than this is free (default 15 s). */
  lockStaleAfterMs?: number;
  /** SQLite: take over a lease held by this process at once (see `ProjectorLockOptions.reclaimFromThisProcess`). */
  reclaimLockOfThisProcess?: boolean;
}

export interface RunningProjector {
  /** Commits the batch in hand, closes the subscription and the database. */
  stop(): Promise<void>;
  /** Commit position every projection has processed (0 before the first event). */
  position(): bigint;
  /** Resolves true once `position()` ≥ `target`, false after `timeoutMs`. */
  waitForPosition(target: bigint, timeoutMs: number): Promise<boolean>;
  /** True while this projector holds the read-model lock and projects; false on standby. */
  isLeader(): boolean;
}

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;
const MIN_STANDBY_POLL_MS = 100;
/** Bigger batches mean fewer round trips and each row written once per batch; SQLite blocks the thread. */
const CATCH_UP_MAX_DELAY_MS = 1_000;
export const DEFAULT_BATCH_SIZE = { postgres: 5_000, sqlite: 10_000 } as const;

function toProjected(recorded: RecordedSessionEvent): ProjectedEvent {
  if (recorded.position === undefined) throw new Error(`No commit position on ${recorded.streamName}`);
  return {
    streamId: recorded.streamName,
    revision: Number(recorded.revision),
    position: recorded.position,
    event: recorded.event,
    created: recorded.created,
  };
}

/**
 * Catch-up subscription on `$all` (server-side filter `session-`) → read models.
 * Only the holder of the read-model database's projector lock projects (`projectorLock`); another
 * projector started against the same database waits on standby, polling with back-off, and takes over
 * when the holder stops or dies, resuming from the committed checkpoints.
 * Events are gathered into batches (up to `batchSize`, or whatever arrived within `batchDelayMs`) and
 * each batch is committed in one transaction together with every projection's checkpoint. The
 * subscription always starts after the committed checkpoint, never from "end": when the event store
 * or the database fails, the uncommitted batch is dropped and the subscription restarts (with
 * back-off) from that checkpoint, so no event is skipped and none is counted twice.
 */
class Projector implements RunningProjector {
  private buffer: ProjectedEvent[] = [];
  private inFlight = 0;
  private committed = 0n;
  private lastCommittedCreated: number | undefined;
  private isCaughtUp = false;
  private stopping = false;
  private subscription: SessionEventSubscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastArrival = 0;
  private flushing: Promise<void> = Promise.resolve();
  private committing: Promise<void> = Promise.resolve();
  /** The batch asked for that has not taken the buffer yet (it waits for the one before it). */
  private waiting: Promise<void> | undefined;
  private flushError: unknown;
  private loop: Promise<void> = Promise.resolve();
  private wakeUp: (() => void) | undefined;
  private waiters = new Set<{ target: bigint; resolve: (ok: boolean) => void; timer: NodeJS.Timeout }>();
  private lease: ProjectorLease | undefined;
  private readonly metrics;
  private readonly batchSize: number;
  private readonly batchDelayMs: number;
  private readonly standbyPollMs: number;

  constructor(
    private readonly events: SessionEventStore,
    private readonly client: EsdbClientAdapter | undefined,
    private readonly database: ReadModelDatabase,
    private readonly writer: ReadModelWriter,
    private readonly lock: ProjectorLock,
    private readonly logger: Logger,
    options: ProjectorOptions,
  ) {
    this.batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE[database.dialect];
    this.batchDelayMs = options.batchDelayMs ?? 50;
    this.standbyPollMs = Math.max(options.standbyPollMs ?? 5_000, MIN_STANDBY_POLL_MS);
    this.committed = writer.resumePosition() ?? 0n;
    this.metrics = projectorMetrics(
      {
        pendingEvents: () => this.buffer.length + this.inFlight,
        lagSince: () => this.lagSince(),
        caughtUp: () => this.isCaughtUp,
        position: () => this.committed,
        leader: () => this.isLeader(),
      },
      options.registry,
    );
  }

  isLeader(): boolean {
    return this.lease?.isHeld() ?? false;
  }

  start(): void {
    this.loop = this.run();
  }

  position(): bigint {
    return this.committed;
  }

  waitForPosition(target: bigint, timeoutMs: number): Promise<boolean> {
    if (this.committed >= target) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = {
        target,
        resolve,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          resolve(false);
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  async stop(): Promise<void> {
    if (this.stopping) return this.loop;
    this.stopping = true;
    this.wakeUp?.();
    await this.subscription?.close().catch(() => undefined);
    await this.loop;
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve(this.committed >= waiter.target);
    }
    this.waiters.clear();
    await this.client?.close().catch(() => undefined);
    await this.database.close();
    this.logger.info({ position: this.committed.toString() }, 'projector stopped');
  }

  private lagSince(): number | undefined {
    const oldest = this.buffer[0]?.created;
    if (oldest !== undefined) return Date.parse(oldest);
    if (this.inFlight > 0 || !this.isCaughtUp) return this.lastCommittedCreated;
    return undefined;
  }

  /** Standby until the lock is ours, then project until stopped or until the lock is lost. */
  private async run(): Promise<void> {
    let poll = MIN_STANDBY_POLL_MS;
    let standby = false;
    while (!this.stopping) {
      let lease: ProjectorLease | undefined;
      try {
        lease = await this.lock.tryAcquire();
      } catch (error) {
        this.logger.warn({ err: error }, 'projector could not reach the read-model lock; retrying');
      }
      if (!lease) {
        if (!standby) {
          const holder = await this.lock.holder().catch(() => undefined);
          this.logger.info({ holder }, 'projector on standby: another projector holds the read-model lock');
          standby = true;
        }
        await this.sleep(poll);
        poll = Math.min(poll * 2, this.standbyPollMs);
        continue;
      }
      if (this.stopping) {
        await lease.release().catch(() => undefined);
        break;
      }
      standby = false;
      poll = MIN_STANDBY_POLL_MS;
      this.lease = lease;
      lease.onLost((reason) => {
        this.logger.error({ err: reason }, 'projector lost the read-model lock; dropping the batch in hand');
        void this.subscription?.close().catch(() => undefined);
        this.wakeUp?.();
      });
      try {
        // Whoever held the lock before may have moved the checkpoints: start from what is stored.
        await this.writer.reload();
        this.committed = this.writer.resumePosition() ?? 0n;
        this.notifyWaiters();
        this.logger.info({ position: this.committed.toString() }, 'projector holds the read-model lock');
        await this.project(lease);
      } catch (error) {
        this.logger.warn({ err: error }, 'projector could not start projecting; retrying');
        await this.sleep(MIN_BACKOFF_MS);
      } finally {
        await lease.release().catch(() => undefined);
        this.lease = undefined;
        this.isCaughtUp = false;
      }
    }
  }

  private async project(lease: ProjectorLease): Promise<void> {
    let backoff = MIN_BACKOFF_MS;
    while (!this.stopping && lease.isHeld()) {
      const from = this.writer.resumePosition();
      this.isCaughtUp = false;
      try {
        this.subscription = this.events.subscribeToSessionEvents({ fromPosition: from });
        this.subscription.onCaughtUp(() => {
          this.isCaughtUp = true;
        });
        this.logger.info({ fromPosition: from?.toString() ?? 'start' }, 'projector subscribed');
        // Arrays of what has arrived, not one awaited step per event (see EventSubscription.batches).
        for await (const arrived of this.subscription.batches(Math.min(this.batchSize, 1000))) {
          if (this.stopping || !lease.isHeld()) break;
          backoff = MIN_BACKOFF_MS;
          for (const recorded of arrived) this.enqueue(toProjected(recorded));
          if (this.buffer.length >= this.batchSize) {
            // One batch commits while the next one fills: reading and writing overlap.
            await this.committing;
            this.committing = this.flush();
          }
          if (this.flushError) throw this.flushError;
        }
        if (!lease.isHeld()) throw new Error('lock lost');
        await this.flush();
        if (this.flushError) throw this.flushError;
        if (!this.stopping) throw new Error('subscription ended');
      } catch (error) {
        await this.subscription?.close().catch(() => undefined);
        if (this.stopping && lease.isHeld()) {
          // Stopping closes the subscription under us: whatever arrived before is committed.
          await this.flush();
          break;
        }
        // Drop what was not committed and start again after the committed checkpoint.
        clearTimeout(this.timer);
        this.timer = undefined;
        this.buffer = [];
        await this.flushing;
        this.flushError = undefined;
        if (!lease.isHeld() || this.stopping) break;
        // A conflict re-read the checkpoints: go on from what is stored.
        this.committed = this.writer.resumePosition() ?? this.committed;
        this.metrics.reconnects.inc();
        this.logger.warn({ err: error, retryInMs: backoff }, 'projector subscription failed; resubscribing');
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
  }

  private enqueue(event: ProjectedEvent): void {
    this.buffer.push(event);
    this.lastArrival = Date.now();
    if (this.timer === undefined) this.armTimer(this.lastArrival);
  }

  /**
   * Live, a partial batch waits at most `batchDelayMs`. While catching up the events keep coming, and a
   * partial batch committed on that timer would only make more, smaller transactions: it waits for a full
   * batch instead, unless the stream pauses for `batchDelayMs` or the batch is CATCH_UP_MAX_DELAY_MS old.
   */
  private armTimer(firstArrival: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = Date.now();
      const flowing = now - this.lastArrival < this.batchDelayMs;
      if (!this.isCaughtUp && flowing && now - firstArrival < CATCH_UP_MAX_DELAY_MS) {
        this.armTimer(firstArrival);
        return;
      }
      void this.flush();
    }, this.batchDelayMs);
  }

  /**
   * Commits the buffered events; batches are committed one after the other, in log order. A batch
   * takes the buffer when its turn comes, not when it was asked for: whatever arrived while the batch
   * before it was committing goes into one transaction (group commit), instead of one small batch per
   * `batchDelayMs` queueing up behind a slow commit — live, a commit slower than the batch delay would
   * otherwise make the lag grow without bound. Asking again while a batch waits for its turn returns
   * that batch.
   */
  private flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.waiting) return this.waiting;
    if (this.buffer.length === 0) return this.flushing;
    const batchPromise = this.flushing.then(async () => {
      this.waiting = undefined;
      const batch = this.buffer;
      this.buffer = [];
      if (batch.length === 0) return;
      this.inFlight += batch.length;
      try {
        if (this.flushError) return; // a failed batch must not be followed by a later one
        const lease = this.lease;
        if (!lease?.isHeld()) return; // the lock is gone: the next holder projects these events
        const upTo = batch[batch.length - 1].position;
        await this.writer.apply(batch, upTo, (trx) => lease.fence(trx));
        this.committed = this.writer.resumePosition() ?? upTo;
        const created = batch[batch.length - 1].created;
        this.lastCommittedCreated = created === undefined ? undefined : Date.parse(created);
        this.metrics.events.inc(batch.length);
        this.metrics.batches.inc();
        this.notifyWaiters();
      } catch (error) {
        this.flushError = error;
        this.logger.error({ err: error }, 'projector batch failed');
        void this.subscription?.close().catch(() => undefined);
      } finally {
        this.inFlight -= batch.length;
      }
    });
    this.waiting = batchPromise;
    this.flushing = batchPromise;
    return batchPromise;
  }

  private notifyWaiters(): void {
    for (const waiter of this.waiters) {
      if (this.committed >= waiter.target) {
        clearTimeout(waiter.timer);
        this.waiters.delete(waiter);
        waiter.resolve(true);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** Starts the projector in this process (the API's `npm start` does; `main.ts` runs it alone). */
export async function startProjector(options: ProjectorOptions): Promise<RunningProjector> {
  const logger = options.logger ?? createLogger('projector', 'info');
  const database = await openReadModelDatabase({
    databaseUrl: options.databaseUrl,
    dataDir: options.dataDir,
    schema: options.schema,
  });
  const writer = await ReadModelWriter.open(database.db);
  const lock = projectorLock(database, {
    databaseUrl: options.databaseUrl,
    heartbeatMs: options.lockHeartbeatMs,
    staleAfterMs: options.lockStaleAfterMs,
    reclaimFromThisProcess: options.reclaimLockOfThisProcess,
  });
  let owned: EsdbClientAdapter | undefined;
  if (!options.client) {
    if (!options.connectionString) throw new Error('startProjector needs a connectionString or a client');
    owned = EsdbClientAdapter.connect(options.connectionString);
  }
  const events = new SessionEventStore(options.client ?? owned!);
  const projector = new Projector(events, owned, database, writer, lock, logger, options);
  projector.start();
  return projector;
}
