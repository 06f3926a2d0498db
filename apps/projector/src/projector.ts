import {
  EsdbClientAdapter,
  type RecordedSessionItem,
  SessionEventStore,
  type SessionEventSubscription,
  UnreadableSessionEventError,
} from '@session-engine/event-store';
import {
  lowestCheckpoint,
  openReadModelDatabase,
  itemType,
  type ProjectedItem,
  type ProjectorLease,
  type ProjectorLock,
  projectorLock,
  type ReadModelDatabase,
  ReadModelWriter,
  readCheckpoints,
} from '@session-engine/read-models';
import type { EventSchemas } from '@session-engine/session-domain';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Backlog } from './backlog';
import {
  type BatchFailureKind,
  classifyBatchError,
  CONTENT_FAILURES,
  describeBatchError,
  retryDelayMs,
} from './batch-failures';
import { DEFAULT_SLOW_COMMIT_MS, DEFAULT_STALL_AFTER_MS } from './config';
import { LockLoss } from './lock-loss';
import { createLogger } from './logger';
import { projectorMetrics } from './projector-metrics';
import { SubscriptionEndedError, SubscriptionOutage } from './subscription-outage';
import {
  projectorStatus,
  type ProjectorReport,
  type ProjectorStatus,
  type ReadingPauseReason,
} from './projector-report';

export interface ProjectorOptions {
  /** Where the event store is (the projector opens its own client, closed on stop). */
  connectionString: string;
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
  /** PostgreSQL: a probe of the lock connection unanswered this long loses the lock (default 10 s). */
  lockProbeTimeoutMs?: number;
  /** SQLite: take over a lease held by this process at once (see `ProjectorLockOptions.reclaimFromThisProcess`). */
  reclaimLockOfThisProcess?: boolean;
  /**
   * The lock holder counts as stalled (`status().stalled`, the standalone projector's /health/ready answers
   * 503, `projector_caught_up` is 0) when events wait and nothing was committed for this long (default 60 s).
   */
  stallAfterMs?: number;
  /**
   * A batch whose commit takes this long (waiting on a lock another writer holds, or an overloaded database)
   * is logged at warn — once, until a batch commits quicker again, which is logged too (default 2 s).
   */
  slowCommitMs?: number;
  /** While a subscription catches up, its progress is logged at most this often (default 30 s). */
  catchUpLogIntervalMs?: number;
  /**
   * Called with the projector's report just before each batch commit starts (the API's projector thread
   * posts it: a thread then blocked in a synchronous SQLite wait has said that events wait).
   */
  onCommitStart?: (report: ProjectorReport) => void;
  /**
   * The event versions this projector reads (default: the domain's, `SESSION_EVENT_SCHEMAS`). Tests give a newer
   * build's: the one deployed to get past an event the default cannot read.
   */
  eventSchemas?: EventSchemas;
}

export type { ProjectorFailure, ProjectorStatus, ReadingPauseReason } from './projector-report';

export interface RunningProjector {
  /** Commits the batch in hand, closes the subscription and the database. */
  stop(): Promise<void>;
  /**
   * Commit position every projection has processed (0 before the first event): on the leader as it commits,
   * on a standby as the database held it at its last lock poll (the leader's commits, at most a poll late).
   */
  position(): bigint;
  /** Resolves true once `position()` ≥ `target`, false after `timeoutMs`. */
  waitForPosition(target: bigint, timeoutMs: number): Promise<boolean>;
  /** True while this projector holds the read-model lock and projects; false on standby. */
  isLeader(): boolean;
  /** Progress and health, for the standalone projector's /health/ready. */
  status(): ProjectorStatus;
  /** The same, as timestamps, for a reader that computes the ages later (the API's projector thread). */
  report(): ProjectorReport;
}

/** Resubscribing after the event store failed: 100 ms doubling up to 5 s (failed batches: `retryDelayMs`). */
const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;
/**
 * A batch that keeps failing is logged at its first failure, when narrowed to one event, then once a minute; so
 * are a lock it cannot reach and read models ahead of the log.
 */
const FAILURE_LOG_INTERVAL_MS = 60_000;
/** At most one "commit is slow" line a minute (a database that is slow on and off). */
const SLOW_LOG_INTERVAL_MS = 60_000;
/** While a subscription catches up, its progress is logged this often (`catchUpLogIntervalMs`). */
const CATCH_UP_LOG_INTERVAL_MS = 30_000;
const MIN_STANDBY_POLL_MS = 100;
/** Bigger batches mean fewer round trips and each row written once per batch; SQLite blocks the thread. */
const CATCH_UP_MAX_DELAY_MS = 1_000;
/**
 * The `application_name` of the projector's read-model connections (its batches; `pg_stat_activity`), the
 * standalone one's and the API's worker thread's alike. Its lock connection has its own,
 * `session-engine-projector-lock`. A DATABASE_URL naming an `application_name` wins.
 */
export const PROJECTOR_APPLICATION_NAME = 'session-engine-projector';
export const DEFAULT_BATCH_SIZE = { postgres: 5_000, sqlite: 10_000 } as const;

function toProjected(recorded: RecordedSessionItem): ProjectedItem {
  if (recorded.position === undefined) throw new Error(`No commit position on ${recorded.streamName}`);
  if (recorded.kind === 'tombstone')
    return {
      kind: 'tombstone',
      streamId: recorded.streamName,
      position: recorded.position,
      created: recorded.created,
    };
  return {
    streamId: recorded.streamName,
    revision: Number(recorded.revision),
    position: recorded.position,
    event: recorded.event,
    created: recorded.created,
  };
}

/** A batch that did not commit: its first event (never the payload), how many, and its last position. */
interface FailedBatch {
  position: bigint;
  streamId: string;
  eventType: string;
  events: number;
  upTo: bigint;
}

function failedBatch(batch: ProjectedItem[]): FailedBatch {
  const first = batch[0]!;
  return {
    position: first.position,
    streamId: first.streamId,
    eventType: itemType(first),
    events: batch.length,
    upTo: batch[batch.length - 1]!.position,
  };
}

/** The failures of one batch, until the projector commits past it. */
interface FailureStreak {
  kind: BatchFailureKind;
  attempts: number;
  since: number;
  /** Committing up to here ends the streak (the last position of every batch that failed in it). */
  upTo: bigint;
  lastLoggedAt: number;
  suppressed: number;
  /** A line was logged for a batch of one event (the event the database refuses, or one it cannot read). */
  pinnedLogged: boolean;
  last: { position: bigint; streamId: string; eventType: string; events: number };
}

/** Batches whose commit took `slowCommitMs` or longer, until one commits quicker. */
interface SlowCommits {
  since: number;
  batches: number;
  longestMs: number;
  /** Its warn line was written (the recovery line is written only then). */
  logged: boolean;
}

/** The longest a stop waits for the read-model database to close (see `closeDatabase`). */
const DATABASE_CLOSE_TIMEOUT_MS = 5_000;

/**
 * Catch-up subscription on `$all` (server-side filter `session-`) → read models.
 * Only the holder of the read-model database's projector lock projects (`projectorLock`); another
 * projector started against the same database waits on standby, polling with back-off, and takes over
 * when the holder stops or dies, resuming from the committed checkpoints. Meanwhile it reads those
 * checkpoints at each poll: a standby's position is the database's (the leader's commits, at most a poll
 * late), its lag 0, and it is not caught up — it projects nothing (`projector_leader` 0 says why).
 * Events are gathered into batches (up to `batchSize`, or whatever arrived within `batchDelayMs`) and
 * each batch is committed in one transaction together with every projection's checkpoint. The
 * subscription always starts after the committed checkpoint, never from "end": when the event store
 * or the database fails, the uncommitted batch is dropped and the subscription restarts (with
 * back-off) from that checkpoint, so no event is skipped and none is counted twice.
 *
 * A batch the database keeps refusing (a row it cannot store) is retried with bounded, jittered exponential
 * back-off (`retryDelayMs`, 100 ms → 30 s), in halves down to the single event it fails on — the events
 * before it are committed, and the log names the event (position, stream, type). Lag and caught-up are
 * measured from the committed checkpoint to the head the subscription has delivered (`Backlog`), so a
 * stuck projector shows the age of its oldest waiting event growing, `projector_caught_up` 0 and
 * `projector_last_commit_age_seconds` climbing. An event this build cannot read (an unknown type or schema
 * version: a newer writer, a rollback) fails the same way, at that event, once the events before it are
 * committed (`unreadable`): it is not an outage of the store, which answers and hands the same event over
 * again. It reads at most about two batches ahead of its commits (the
 * batch being committed and the next), so its lag in events stops there however many wait in the store;
 * `projector_reading_paused` says when it has stopped reading for a commit or a retry. A commit that does not
 * fail but waits (another writer holds the database's lock) is logged once it takes `slowCommitMs`, and is
 * stalled like a failing one once events have waited `stallAfterMs`.
 */
class Projector implements RunningProjector {
  private buffer: ProjectedItem[] = [];
  private committed = 0n;
  private lastCommittedCreated: number | undefined;
  /** The current subscription has reached the live end of the log. */
  private isLive = false;
  /** The head when it did: caught up once this is committed. */
  private liveTarget = 0n;
  /**
   * Events wait in the store that it has not read: a subscription delivered events past what it had read before
   * and has not reached the live end since (resubscribing, or the store going away, does not change that). Only
   * then does the age of the last committed event stand for the backlog's (`lagSince`).
   */
  private catchingUp = false;
  /**
   * The current subscription until it reaches the live end: since when, events read, when its progress was
   * last logged. A catch-up of a large log says how far it got every `catchUpLogIntervalMs`, and when done.
   */
  private catchUp: { since: number; events: number; loggedAt: number } | undefined;
  /** The subscription's failures in a row, as the log tells them (once, then once a minute; its end). */
  private readonly outage: SubscriptionOutage;
  /** The spells without the read-model lock after losing it, as the log tells them (`LockLoss`). */
  private readonly lockLoss: LockLoss;
  /**
   * Not reading the log until a commit ends: what was read waits for it (a full read-ahead), or a failed batch
   * waits for its retry — since when, and which. Events written meanwhile are counted by nothing
   * (`ProjectorReport.readingPaused`).
   */
  private paused: { since: number; reason: ReadingPauseReason } | undefined;
  private readonly backlog: Backlog;
  /** When the last batch committed (or the lock was taken); undefined on standby. */
  private lastCommitAt: number | undefined;
  /** Failed batches since the last commit (the retry back-off). */
  private consecutiveFailures = 0;
  /** The batch that keeps failing, until the projector commits past it. */
  private streak: FailureStreak | undefined;
  /** Where this projector had committed to, and when it last did, when it last let go of the lock. */
  private beforeLockLoss: { committed: bigint; lastCommitAt: number; lostAt: number } | undefined;
  /**
   * The read models' checkpoint is past the end of the event log (see `logEndsBefore`): nothing is projected
   * until their checkpoint changes (read models dropped and projected again). Kept for the checkpoint it was
   * found at, whatever the log does after, also across a lost lock: new writes taking the log past it must not
   * make the projector skip what the log lost.
   */
  private aheadOfLog:
    { checkpoint: bigint; logEnd: bigint; since: number; attempts: number; lastLoggedAt: number } | undefined;
  /**
   * The lock holder cannot start projecting: the read models' checkpoints cannot be read (`checkpoints`: a
   * permission revoked, a search_path naming no schema, a database dropped and re-created empty), or projecting
   * failed outside any batch (`projecting`). Kept across the lock being lost and taken again (every attempt is one
   * more of the same failure, logged once a minute at most); ended by a read of the checkpoints that succeeds
   * (`checkpoints`) or by a commit (`projecting`).
   */
  private startFailure:
    | {
        stage: 'checkpoints' | 'projecting';
        kind: BatchFailureKind;
        attempts: number;
        since: number;
        lastLoggedAt: number;
        suppressed: number;
      }
    | undefined;
  /** The migrations were run again for the current failure to read the checkpoints (`migrateMissing`). */
  private migrateTried = false;
  /**
   * The lock's polls fail in a row (the read-model database does not answer): since when, how often, when last
   * logged. Reported while the projector leads nobody — neither leader nor standby: it cannot know.
   */
  private lockUnreachable:
    { since: number; attempts: number; loggedAt: number; suppressed: number } | undefined;
  /** While narrowing down a failing batch: the largest batch to commit. */
  private retryLimit: number | undefined;
  /** The wait before the next attempt after a failed batch (as logged). */
  private retryInMs = 0;
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
  /** Counts the leases taken: a standby's checkpoint read that outlived its standby spell is dropped. */
  private leases = 0;
  /** The standby's read of the committed checkpoints in flight (one at a time). */
  private following: Promise<void> | undefined;
  private readonly metrics;
  private readonly batchSize: number;
  private readonly batchDelayMs: number;
  private readonly standbyPollMs: number;
  private readonly stallAfterMs: number;
  private readonly slowCommitMs: number;
  private readonly catchUpLogIntervalMs: number;
  private readonly onCommitStart: ((report: ProjectorReport) => void) | undefined;
  private slow: SlowCommits | undefined;
  private slowLoggedAt = -Infinity;

  constructor(
    private readonly events: SessionEventStore,
    private readonly client: EsdbClientAdapter,
    private readonly database: ReadModelDatabase,
    private readonly writer: ReadModelWriter,
    private readonly lock: ProjectorLock,
    private readonly logger: Logger,
    options: ProjectorOptions,
  ) {
    this.batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE[database.dialect];
    this.batchDelayMs = options.batchDelayMs ?? 50;
    this.standbyPollMs = Math.max(options.standbyPollMs ?? 5_000, MIN_STANDBY_POLL_MS);
    this.stallAfterMs = options.stallAfterMs ?? DEFAULT_STALL_AFTER_MS;
    this.slowCommitMs = options.slowCommitMs ?? DEFAULT_SLOW_COMMIT_MS;
    this.catchUpLogIntervalMs = options.catchUpLogIntervalMs ?? CATCH_UP_LOG_INTERVAL_MS;
    this.onCommitStart = options.onCommitStart;
    this.committed = writer.resumePosition() ?? 0n;
    this.backlog = new Backlog(this.committed);
    this.metrics = projectorMetrics(() => this.report(), options.registry);
    this.outage = new SubscriptionOutage(logger);
    this.lockLoss = new LockLoss(logger, this.stallAfterMs);
  }

  report(): ProjectorReport {
    const leader = this.isLeader();
    const paused = leader ? this.paused : undefined;
    const streak = this.streak;
    return {
      at: Date.now(),
      leader,
      reachedLiveEnd: this.reachedLiveEnd(),
      position: this.committed,
      head: this.backlog.head,
      lagEvents: this.backlog.size,
      readingPaused: paused !== undefined,
      readingPausedSince: paused?.since,
      readingPausedFor: paused?.reason,
      failure: streak
        ? { kind: streak.kind, attempts: streak.attempts, since: streak.since, ...streak.last }
        : !leader && this.lockUnreachable !== undefined
          ? {
              kind: 'unavailable',
              attempts: this.lockUnreachable.attempts,
              since: this.lockUnreachable.since,
              position: this.committed,
              streamId: '$all',
              eventType: 'none',
              events: 0,
            }
          : leader && this.startFailure !== undefined
            ? {
                kind: this.startFailure.kind,
                attempts: this.startFailure.attempts,
                since: this.startFailure.since,
                position: this.committed,
                streamId: '$all',
                eventType: 'none',
                events: 0,
              }
            : // Kept across a lost lock (the latch must hold when it takes the lock back); reported while it leads.
              leader && this.aheadOfLog !== undefined
              ? {
                  kind: 'ahead_of_log',
                  attempts: this.aheadOfLog.attempts,
                  since: this.aheadOfLog.since,
                  position: this.aheadOfLog.checkpoint,
                  streamId: '$all',
                  eventType: 'none',
                  events: 0,
                }
              : undefined,
      lagSince: this.lagSince(),
      lastCommitAt: leader ? this.lastCommitAt : undefined,
      stallAfterMs: this.stallAfterMs,
    };
  }

  status(): ProjectorStatus {
    const report = this.report();
    return projectorStatus(report, report.at);
  }

  /**
   * The subscription reached the live end, everything it had delivered by then is committed, and no batch is
   * failing. Events arriving live afterwards do not clear it; a failed batch does, and so does a stall
   * (`isCaughtUp`: events waiting and nothing committed for `stallAfterMs`, e.g. a commit blocked on a lock).
   */
  private reachedLiveEnd(): boolean {
    return (
      this.isLeader() &&
      this.isLive &&
      this.streak === undefined &&
      this.consecutiveFailures === 0 &&
      this.committed >= this.liveTarget
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
    this.lockLoss.reset();
    await this.following;
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve(this.committed >= waiter.target);
    }
    this.waiters.clear();
    await this.client.close().catch(() => undefined);
    await this.closeDatabase();
    this.logger.info({ position: this.committed.toString() }, 'projector stopped');
  }

  /**
   * Closes the read-model database, waiting at most `DATABASE_CLOSE_TIMEOUT_MS`: a PostgreSQL pool ends once every
   * connection it handed out is back, and one that never comes back (left on a link that broke under it) kept a
   * stop waiting for good. Past the wait, the connections still handed out are ended, and the stop goes on.
   */
  private async closeDatabase(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const closed = await Promise.race([
      this.database.close().then(
        () => true,
        () => true,
      ),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), DATABASE_CLOSE_TIMEOUT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    if (closed) return;
    const ended = this.database.abortQueries?.() ?? 0;
    this.logger.warn(
      { waitedMs: DATABASE_CLOSE_TIMEOUT_MS, ended },
      'the read-model database did not close in time: its connections still in use were ended',
    );
  }

  /**
   * When the oldest event not yet committed was written: the oldest one read and not committed; else, while
   * catching up (events wait unread), the last one committed — the next one is no older. Otherwise nothing
   * waits that the projector knows of: not while it is merely not live — resubscribing, or the event store
   * unreachable after it had caught up (an outage of the store is not lag: nothing can be written meanwhile).
   */
  private lagSince(): number | undefined {
    const oldest = this.backlog.oldestCreated;
    if (oldest !== undefined) return Date.parse(oldest);
    if (this.isLeader() && this.catchingUp && !this.isLive) return this.lastCommittedCreated;
    return undefined;
  }

  /** Standby until the lock is ours, then project until stopped or until the lock is lost. */
  private async run(): Promise<void> {
    let poll = MIN_STANDBY_POLL_MS;
    let standby = false;
    // The lock's failures in a row (`lockUnreachable`): the first is logged with its stack (without, right after a
    // loss of the lock), then one line a minute (a database down for an hour was ~720 lines with a stack each).
    while (!this.stopping) {
      let lease: ProjectorLease | undefined;
      let answered = false;
      try {
        lease = await this.lock.tryAcquire();
        answered = true;
        const unreachable = this.lockUnreachable;
        if (unreachable !== undefined) {
          this.logger.info(
            { failedForMs: Date.now() - unreachable.since },
            'projector reached the read-model lock again',
          );
          this.lockUnreachable = undefined;
        }
      } catch (error) {
        const now = Date.now();
        const unreachable = this.lockUnreachable;
        if (unreachable === undefined) {
          this.lockUnreachable = { since: now, attempts: 1, loggedAt: now, suppressed: 0 };
          // Right after losing the lock, the same outage as the loss's line: without a stack, as that one.
          this.logger.warn(
            this.lockLoss.active ? { error: describeBatchError(error) } : { err: error },
            'projector could not reach the read-model lock; retrying',
          );
        } else {
          unreachable.attempts += 1;
          if (now - unreachable.loggedAt >= FAILURE_LOG_INTERVAL_MS) {
            this.logger.warn(
              { error: (error as Error).message, suppressed: unreachable.suppressed },
              'projector still cannot reach the read-model lock; retrying',
            );
            unreachable.loggedAt = now;
            unreachable.suppressed = 0;
          } else unreachable.suppressed += 1;
        }
      }
      if (!lease) {
        // Standby only when the database answered that another projector holds the lock: not when it failed.
        if (!standby && answered) {
          const holder = await this.lock.holder().catch(() => undefined);
          this.logger.info({ holder }, 'projector on standby: another projector holds the read-model lock');
          standby = true;
          this.lockLoss.reset();
        }
        // The database has just answered: read where the leader has got to (not while it does not answer).
        if (answered) this.followCheckpoints();
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
      this.leases += 1;
      this.lockLoss.retaken();
      lease.onLost((reason) => {
        // A blip of the database, retaken at the next poll: `warn`, no stack; `error` once the stall window passes.
        this.lockLoss.lost(reason);
        // Counted here, once per loss, wherever the loop was (subscribed, or still reading the checkpoints): the
        // projection starts again once the lock is retaken.
        if (!this.stopping) this.metrics.reconnects.inc();
        void this.subscription?.close().catch(() => undefined);
        // The batch in hand is dropped: its connection is closed rather than waited for. On a link that died
        // without a word its query would never answer, and the wait for it kept this projector from retaking
        // the lock or reporting the outage (a standby "ok" to /health/ready, for as long as the kernel kept the
        // connection: minutes). Its transaction rolls back; the checkpoints say where to go on from.
        this.database.abortQueries?.();
        this.wakeUp?.();
      });
      try {
        // Its own lock again, the checkpoints where it left them (a blip of the database, not another leader):
        // its last commit is still its last commit. Starting the clock anew at each blip hid a stall for as long
        // as the database kept blipping within the stall window.
        // Within the stall window only: after a longer spell (another leader may have held the lock meanwhile,
        // committing nothing on a quiet log), the first events would show as stalled before any grace.
        const before = this.beforeLockLoss;
        const previous = this.committed;
        const now = Date.now();
        this.lastCommitAt =
          before !== undefined && before.committed === previous && now - before.lostAt < this.stallAfterMs
            ? before.lastCommitAt
            : now;
        // Whoever held the lock before may have moved the checkpoints: start from what is stored. A database that
        // does not let it read them is retried with back-off, holding the lock (stalled after the window).
        if (!(await this.loadCheckpoints(lease))) continue;
        this.committed = this.writer.resumePosition() ?? 0n;
        this.backlog.reset(this.committed);
        // Checkpoints another leader moved: a new start. The same ones: the clock runs on from above (through the
        // failed reads too, so a projector that could not read them for the stall window is stalled until it
        // commits).
        if (this.committed !== previous) this.lastCommitAt = Date.now();
        this.notifyWaiters();
        this.logger.info({ position: this.committed.toString() }, 'projector holds the read-model lock');
        await this.project(lease);
      } catch (error) {
        // Not expected (the checkpoints' read and the projection loop handle their own failures): logged once a
        // minute at most, retried with the back-off of a failing batch.
        this.startFailed(error, 'projecting');
        await this.sleep(this.retryInMs);
      } finally {
        await lease.release().catch(() => undefined);
        this.beforeLockLoss =
          this.lastCommitAt === undefined
            ? undefined
            : { committed: this.committed, lastCommitAt: this.lastCommitAt, lostAt: Date.now() };
        this.lease = undefined;
        this.isLive = false;
        this.catchingUp = false;
        this.outage.reset();
        this.paused = undefined;
        this.lastCommitAt = undefined;
        this.consecutiveFailures = 0;
        this.streak = undefined;
        this.retryLimit = undefined;
        this.backlog.reset(this.committed);
      }
    }
  }

  /**
   * Reads the stored checkpoints, right after taking the lock. A database that does not let it — SELECT revoked on
   * `projection_checkpoints`, a role's search_path set to a schema that does not exist, the database dropped and
   * re-created empty — fails as a batch does: with the lock held, it retries with the back-off of a failing batch
   * (100 ms doubling to 30 s), logs at error once and then at most once a minute, counts every attempt in
   * `projector_batch_failures_total` (its kind as a batch's: `unavailable`, `other`…), reports the failure, and,
   * as events wait in the log past its last known checkpoint, is stalled after the stall window. Read models that
   * are not there at all (PostgreSQL 42P01 / 3F000: a database or schema dropped and re-created empty) are
   * migrated again first, as a start would. Resolves false when the lock was lost or the projector stops.
   */
  private async loadCheckpoints(lease: ProjectorLease): Promise<boolean> {
    for (;;) {
      try {
        await this.writer.reload();
        this.migrateTried = false;
        const failed = this.startFailure;
        if (failed?.stage === 'checkpoints') {
          this.startFailure = undefined;
          this.logger.info(
            { failedAttempts: failed.attempts, failingForMs: Date.now() - failed.since },
            'projector can read the checkpoints again; projecting',
          );
        }
        return true;
      } catch (error) {
        if (this.stopping || !lease.isHeld()) return false;
        if (await this.migrateMissing(error)) continue;
        this.startFailed(error, 'checkpoints');
        // Events wait in the log past the last checkpoint it knows: counted as waiting, so the stall rule applies
        // (it cannot tell session events from others there; any is one it has not projected, or cannot know).
        const logEnd = await this.events.client.lastPosition().catch(() => undefined);
        if (logEnd !== undefined && logEnd > this.committed && lease.isHeld()) {
          this.catchingUp = true;
          this.backlog.delivered(logEnd, undefined);
        }
        this.paused = { since: Date.now(), reason: 'retry' };
        await this.sleep(this.retryInMs);
        this.paused = undefined;
        if (this.stopping || !lease.isHeld()) return false;
      }
    }
  }

  /**
   * PostgreSQL: the read models are not there (42P01 undefined table, 3F000 no such schema) — the database or
   * schema was dropped and re-created empty. Migrates them again, as a start would; true when it created anything
   * (the checkpoints are then read again at once). Once per failure: a table that is missing while the migrations
   * say it was made (renamed, dropped by hand) is reported as the failure it is, not migrated at every attempt.
   */
  private async migrateMissing(error: unknown): Promise<boolean> {
    const code = (error as { code?: unknown } | undefined)?.code;
    if ((code !== '42P01' && code !== '3F000') || this.database.migrate === undefined) return false;
    if (this.migrateTried) return false;
    this.migrateTried = true;
    try {
      const applied = await this.database.migrate();
      if (applied === 0) return false;
      this.logger.warn(
        { migrations: applied, error: describeBatchError(error) },
        'projector found no read models in the database (dropped and re-created empty?): created them; projecting from the start of the log',
      );
      return true;
    } catch (migrateError) {
      this.logger.debug(
        { error: describeBatchError(migrateError) },
        'projector could not migrate the read models',
      );
      return false;
    }
  }

  /** Counts and logs (once, then at most once a minute) a failure to start projecting; sets the retry's wait. */
  private startFailed(error: unknown, stage: 'checkpoints' | 'projecting'): void {
    const kind = classifyBatchError(error);
    this.metrics.batchFailures.inc({ kind });
    const now = Date.now();
    let failure = this.startFailure;
    if (failure === undefined || failure.stage !== stage) {
      failure = { stage, kind, attempts: 0, since: now, lastLoggedAt: 0, suppressed: 0 };
    }
    this.startFailure = failure;
    failure.kind = kind;
    failure.attempts += 1;
    this.retryInMs = retryDelayMs(failure.attempts);
    const fields = {
      error: describeBatchError(error),
      kind,
      attempt: failure.attempts,
      failingSince: new Date(failure.since).toISOString(),
      retryInMs: this.retryInMs,
      position: this.committed.toString(),
    };
    this.logFailure(
      failure,
      now,
      failure.attempts === 1,
      fields,
      stage === 'checkpoints'
        ? "projector cannot read the read models' checkpoints; retrying"
        : 'projector could not start projecting; retrying',
      'projector could not start projecting again',
    );
  }

  /**
   * On standby: reads the committed checkpoints the leader leaves in the database, so that this projector's
   * position (`projector_position`, /health/ready) says where the read models are, not where they were when
   * it started or last led. Called at each lock poll the database answered; a read still in flight (a slow
   * database) is not doubled, and the poll does not wait for it. A read that fails leaves the last position
   * (the lock poll reports an unreachable database).
   */
  private followCheckpoints(): void {
    if (this.following) return;
    const leases = this.leases;
    this.following = readCheckpoints(this.database.db)
      .then(
        (checkpoints) => {
          if (this.lease !== undefined || this.stopping || this.leases !== leases) return;
          this.committed = lowestCheckpoint(checkpoints) ?? 0n;
          this.backlog.reset(this.committed);
          this.notifyWaiters();
        },
        () => undefined,
      )
      .finally(() => {
        this.following = undefined;
      });
  }

  private async project(lease: ProjectorLease): Promise<void> {
    let backoff = MIN_BACKOFF_MS;
    while (!this.stopping && lease.isHeld()) {
      const from = this.writer.resumePosition();
      const fromPosition = from?.toString() ?? 'start';
      this.isLive = false;
      try {
        if (from === undefined)
          this.aheadOfLog = undefined; // read models emptied: nothing is ahead
        else if (await this.logEndsBefore(from)) continue;
        // Subscribed once the store answers — its confirmation, an event, caught-up or a checkpoint — not when
        // the call is made: a subscription to a store that is down is opened all the same, and fails after.
        let answered = false;
        const heard = (subscription: SessionEventSubscription, live: boolean) => {
          if (this.subscription !== subscription || (answered && !(live && this.outage.down))) return;
          const first = !answered;
          answered = true;
          const outage = this.outage.received(fromPosition, live);
          if (outage === 'ongoing') return; // failing on something the store's answer does not cure
          backoff = MIN_BACKOFF_MS;
          if (outage === 'none' && first)
            this.logger[this.streak !== undefined ? 'debug' : 'info'](
              { fromPosition },
              'projector subscribed',
            );
        };
        this.catchUp = { since: Date.now(), events: 0, loggedAt: Date.now() };
        const subscription = this.events.subscribeToSessionEvents({
          fromPosition: from,
          onCheckpoint: () => heard(subscription, false),
        });
        this.subscription = subscription;
        subscription.onConfirmed(() => heard(subscription, false));
        // Heard once every event before the live end has been enqueued (the adapter calls it in their order): the
        // head is then the live target, and a subscription that fails on those events never gets here.
        subscription.onCaughtUp(() => {
          if (this.subscription !== subscription) return;
          // Projecting again, with nothing to commit on a quiet log: a failure to start it is over.
          if (this.startFailure?.stage === 'projecting') this.startFailure = undefined;
          this.isLive = true;
          this.catchingUp = false;
          this.liveTarget = this.backlog.head;
          heard(subscription, true);
          this.caughtUp();
        });
        // Arrays of what has arrived, not one awaited step per event (see EventSubscription.batches).
        for await (const arrived of subscription.batches(Math.min(this.batchSize, 1000))) {
          if (this.stopping || !lease.isHeld()) break;
          heard(subscription, false);
          for (const recorded of arrived) this.enqueue(toProjected(recorded));
          if (this.buffer.length >= (this.retryLimit ?? this.batchSize)) {
            // One batch commits while the next one fills: reading and writing overlap. Reading stops here until
            // the batch before commits: the read-ahead, and so the lag in events, is at most about two batches.
            this.paused = { since: Date.now(), reason: 'commit' };
            await this.committing;
            this.paused = undefined;
            this.committing = this.flush();
          }
          if (this.flushError) throw this.flushError;
        }
        if (!lease.isHeld()) throw new Error('lock lost');
        await this.flush();
        if (this.flushError) throw this.flushError;
        if (!this.stopping) throw new SubscriptionEndedError();
      } catch (error) {
        await this.subscription?.close().catch(() => undefined);
        if (this.stopping && lease.isHeld()) {
          // Stopping closes the subscription under us: whatever arrived before is committed.
          await this.flush();
          break;
        }
        if (error instanceof UnreadableSessionEventError && lease.isHeld()) await this.unreadable(error);
        // Drop what was not committed and start again after the committed checkpoint.
        clearTimeout(this.timer);
        this.timer = undefined;
        this.buffer = [];
        await this.flushing;
        const batchFailed = this.flushError !== undefined;
        this.flushError = undefined;
        if (!lease.isHeld() && !this.stopping) {
          // The lock lost to a database failure (counted where it was lost): the subscription starts again once
          // the lock is retaken.
          break;
        }
        if (this.stopping) break;
        // A conflict re-read the checkpoints: go on from what is stored.
        this.committed = this.writer.resumePosition() ?? this.committed;
        this.backlog.committed(this.committed);
        this.notifyWaiters();
        this.metrics.reconnects.inc();
        if (batchFailed) {
          // Logged (rate-limited) where it failed; wait longer after each failure in a row.
          this.paused = { since: Date.now(), reason: 'retry' };
          await this.sleep(this.retryInMs);
          this.paused = undefined;
          continue;
        }
        // Logged when an outage starts, then at most once a minute (SubscriptionOutage).
        this.outage.failed(error, { position: this.committed.toString(), retryInMs: backoff });
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
  }

  /**
   * Whether the event log ends before the read models' checkpoint: they were projected from a log that has since
   * gone back — the store restored from a backup, or replaced — and resuming after the checkpoint would skip
   * every event written from the log's end up to it, silently (the read models would also keep what the log
   * lost). Checked before each subscription (a start, a reconnect). Then nothing is projected: the failure is
   * in `/health/ready` and `projector_batch_failures_total{kind="ahead_of_log"}`, logged at `error` (then once a
   * minute), and the checkpoints are read again every few seconds, so read models emptied or replaced meanwhile
   * (a checkpoint within the log) let it go on. (`replay rebuild` keeps the live checkpoints: it is no remedy.)
   */
  private async logEndsBefore(from: bigint): Promise<boolean> {
    const latched = this.aheadOfLog?.checkpoint === from ? this.aheadOfLog : undefined;
    const logEnd = latched?.logEnd ?? (await this.events.client.lastPosition());
    if (latched === undefined && logEnd >= from) {
      this.aheadOfLog = undefined;
      return false;
    }
    const now = Date.now();
    const ahead = (this.aheadOfLog = latched ?? {
      checkpoint: from,
      logEnd,
      since: now,
      attempts: 0,
      lastLoggedAt: 0,
    });
    ahead.attempts += 1;
    this.metrics.batchFailures.inc({ kind: 'ahead_of_log' });
    if (now - ahead.lastLoggedAt >= FAILURE_LOG_INTERVAL_MS) {
      ahead.lastLoggedAt = now;
      this.logger.error(
        { checkpoint: from.toString(), logEnd: ahead.logEnd.toString(), attempts: ahead.attempts },
        'read models are ahead of the event log: their checkpoint is past its end (the event store was restored ' +
          'from a backup or replaced); nothing is projected until they are projected again: stop the projector, ' +
          'drop the read models (the SQLite file or the PostgreSQL schema) and start it',
      );
    }
    await this.sleep(MAX_BACKOFF_MS);
    await this.writer.reload().catch(() => undefined);
    this.committed = this.writer.resumePosition() ?? this.committed;
    this.backlog.committed(this.committed);
    return true;
  }

  /** The subscription reached the live end: said once, when it read any event on its way there. */
  private caughtUp(): void {
    const catchUp = this.catchUp;
    this.catchUp = undefined;
    if (catchUp === undefined || catchUp.events === 0) return;
    this.logger.info(
      {
        events: catchUp.events,
        tookMs: Date.now() - catchUp.since,
        readPosition: this.backlog.head.toString(),
      },
      'projector caught up with the event log',
    );
  }

  /** Every `catchUpLogIntervalMs` while catching up: how far the commits got, and at what rate. */
  private catchUpProgress(): void {
    const catchUp = this.catchUp;
    const now = Date.now();
    if (catchUp === undefined || this.isLive || now - catchUp.loggedAt < this.catchUpLogIntervalMs) return;
    catchUp.loggedAt = now;
    const seconds = (now - catchUp.since) / 1000;
    this.logger.info(
      {
        position: this.committed.toString(),
        eventsRead: catchUp.events,
        eventsPerSecond: Math.round(catchUp.events / Math.max(seconds, 0.001)),
        // How far behind the log the read models are: when the last committed event was written to the store.
        projectedUpTo:
          this.lastCommittedCreated === undefined ? null : new Date(this.lastCommittedCreated).toISOString(),
      },
      'projector catching up',
    );
  }

  private enqueue(event: ProjectedItem): void {
    if (this.catchUp !== undefined && !this.isLive) this.catchUp.events += 1;
    if (!this.isLive && event.position > this.backlog.head) this.catchingUp = true;
    this.backlog.delivered(event.position, event.created);
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
      if (!this.isLive && flowing && now - firstArrival < CATCH_UP_MAX_DELAY_MS) {
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
      const batch = this.takeBatch();
      if (batch.length === 0) return;
      if (this.flushError) return; // a failed batch must not be followed by a later one
      const lease = this.lease;
      if (!lease?.isHeld()) return; // the lock is gone: the next holder projects these events
      const upTo = batch[batch.length - 1]!.position;
      const startedAt = Date.now();
      this.onCommitStart?.(this.report());
      // Fires while an asynchronous commit (PostgreSQL) waits; a synchronous SQLite wait blocks this thread,
      // timer included, and is measured when it returns.
      const watch = setTimeout(() => this.commitWasSlow(batch, startedAt, 'waiting'), this.slowCommitMs);
      try {
        await this.writer.apply(batch, upTo, (trx) => lease.fence(trx));
      } catch (error) {
        clearTimeout(watch);
        this.commitTimed(batch, startedAt, 'failed');
        this.flushError = error;
        // Lost the lock meanwhile: its connection was closed under it (`abortQueries`), "Connection terminated", as
        // on every blip of the database. The lock's loss is the failure, and logged as such (not at `error`).
        this.batchFailed(failedBatch(batch), error, !lease.isHeld());
        void this.subscription?.close().catch(() => undefined);
        return;
      }
      clearTimeout(watch);
      this.commitTimed(batch, startedAt, 'committed');
      this.batchCommitted(batch, upTo);
    });
    this.waiting = batchPromise;
    this.flushing = batchPromise;
    return batchPromise;
  }

  /** The buffer, or while a failing batch is narrowed down its first `retryLimit` events (the rest follow). */
  private takeBatch(): ProjectedItem[] {
    const limit = this.retryLimit;
    if (limit === undefined || this.buffer.length <= limit) {
      const batch = this.buffer;
      this.buffer = [];
      return batch;
    }
    const batch = this.buffer.slice(0, limit);
    this.buffer = this.buffer.slice(limit);
    if (this.timer === undefined) this.armTimer(Date.now());
    return batch;
  }

  private batchCommitted(batch: ProjectedItem[], upTo: bigint): void {
    this.committed = this.writer.resumePosition() ?? upTo;
    this.backlog.committed(this.committed);
    this.lastCommitAt = Date.now();
    this.consecutiveFailures = 0;
    if (this.startFailure?.stage === 'projecting') this.startFailure = undefined;
    const created = batch[batch.length - 1]!.created;
    this.lastCommittedCreated = created === undefined ? undefined : Date.parse(created);
    this.metrics.events.inc(batch.length);
    this.metrics.batches.inc();
    this.catchUpProgress();
    const streak = this.streak;
    if (streak && this.committed >= streak.upTo) {
      this.streak = undefined;
      this.retryLimit = undefined;
      this.logger.info(
        {
          position: this.committed.toString(),
          failedAttempts: streak.attempts,
          failingForMs: Date.now() - streak.since,
        },
        'projector committed past the batch that failed; projecting again',
      );
    }
    this.notifyWaiters();
  }

  /** A batch commit ended: note it if it was slow; a quick commit ends a run of slow ones (and says so). */
  private commitTimed(batch: ProjectedItem[], startedAt: number, outcome: 'committed' | 'failed'): void {
    const tookMs = Date.now() - startedAt;
    if (tookMs >= this.slowCommitMs) {
      this.commitWasSlow(batch, startedAt, outcome);
      return;
    }
    const slow = this.slow;
    if (outcome !== 'committed' || !slow) return;
    this.slow = undefined;
    if (slow.logged)
      this.logger.info(
        {
          slowBatches: slow.batches,
          slowForMs: Date.now() - slow.since,
          longestMs: slow.longestMs,
          position: this.committed.toString(),
        },
        'projector batch commits are quick again',
      );
  }

  /**
   * A commit took `slowCommitMs` or longer (`waiting`: it still does). Logged at warn once for a run of slow
   * commits, and at most once a minute; the batch's first event is named by position only.
   */
  private commitWasSlow(
    batch: ProjectedItem[],
    startedAt: number,
    outcome: 'waiting' | 'committed' | 'failed',
  ): void {
    const now = Date.now();
    // The watch timer fires on libuv's clock, which can run a millisecond ahead of `Date.now()`: a commit still
    // waiting when it fires has waited the whole threshold.
    const waitedMs = outcome === 'waiting' ? Math.max(now - startedAt, this.slowCommitMs) : now - startedAt;
    const slow = (this.slow ??= { since: startedAt, batches: 0, longestMs: 0, logged: false });
    if (outcome !== 'waiting') slow.batches += 1;
    slow.longestMs = Math.max(slow.longestMs, waitedMs);
    if (slow.logged || now - this.slowLoggedAt < SLOW_LOG_INTERVAL_MS) return;
    slow.logged = true;
    this.slowLoggedAt = now;
    this.logger.warn(
      {
        waitedMs,
        outcome,
        slowCommitMs: this.slowCommitMs,
        events: batch.length,
        position: batch[0]!.position.toString(),
        lastPosition: batch[batch.length - 1]!.position.toString(),
      },
      'projector batch commit is slow: the read-model database is locked by another writer, or overloaded',
    );
  }

  /**
   * The subscription met an event this build cannot read (an unknown type, a schema version above the ones it
   * reads or not one at all: a newer writer during a rolling upgrade, a rollback), after handing on the events
   * before it. Those are committed first, in order — it used to drop them with the page they came in — and the
   * event then fails as a batch the database refuses does: counted (`unreadable`), logged once and at most once a
   * minute, the projector not caught up and stalled after the window, retried with the same growing back-off until
   * a build that reads it is deployed. It is no outage of the store: the store answers, and would hand the same
   * event over on every attempt.
   */
  private async unreadable(error: UnreadableSessionEventError): Promise<void> {
    while (this.buffer.length > 0 && this.flushError === undefined && this.lease?.isHeld())
      await this.flush();
    await this.flushing;
    if (this.flushError !== undefined || !this.lease?.isHeld()) return; // a batch before it failed: that comes first
    const { stored, following } = error;
    const position = stored.position ?? this.committed;
    // It waits, and so do the events read after it: the lag and the stall count them.
    for (const event of [stored, ...following])
      if (event.position !== undefined) this.backlog.delivered(event.position, event.created);
    this.flushError = error;
    this.batchFailed(
      { position, streamId: stored.streamName, eventType: stored.type, events: 1, upTo: position },
      error,
    );
  }

  /**
   * Counts and logs a batch that did not commit. One that may have failed on its contents is retried in
   * halves, down to the one event it fails on (the events before it commit). The log line names the
   * batch's first event — stream, type and position, never the payload — and the attempts so far: at error
   * on the first failure and when narrowed down to one event, then at most once a minute. `lockLost`: the lock was
   * lost by the time it failed (its connection closed under it): counted and logged as `lock_lost`, at warn.
   */
  private batchFailed(batch: FailedBatch, error: unknown, lockLost = false): void {
    const kind = lockLost ? 'lock_lost' : classifyBatchError(error);
    this.metrics.batchFailures.inc({ kind });
    this.consecutiveFailures += 1;
    const upTo = batch.upTo;
    const at = {
      position: batch.position.toString(),
      streamId: batch.streamId,
      eventType: batch.eventType,
      events: batch.events,
      lastPosition: upTo.toString(),
    };
    const described = describeBatchError(error);
    const retryInMs = retryDelayMs(this.consecutiveFailures);
    this.retryInMs = retryInMs;
    if (kind === 'conflict' || kind === 'lock_lost') {
      // Another projector moved the checkpoints or took the lock: nothing is stuck, the loop re-reads them.
      this.logger.warn(
        { error: described, kind, ...at },
        'projector batch rolled back; resuming from the stored checkpoints',
      );
      return;
    }
    const content = CONTENT_FAILURES.has(kind);
    if (content) this.retryLimit = Math.max(1, Math.floor(batch.events / 2));
    const now = Date.now();
    const last = {
      position: batch.position,
      streamId: batch.streamId,
      eventType: batch.eventType,
      events: batch.events,
    };
    const streak = (this.streak ??= {
      kind,
      attempts: 0,
      since: now,
      upTo,
      lastLoggedAt: 0,
      suppressed: 0,
      pinnedLogged: false,
      last,
    });
    streak.kind = kind;
    streak.attempts += 1;
    streak.last = last;
    if (upTo > streak.upTo) streak.upTo = upTo;
    // Pinned down to one event: the one the database refuses, or one this build cannot read (always alone).
    const unreadable = kind === 'unreadable';
    const single = (content && batch.events === 1) || unreadable;
    const pinned = single && !streak.pinnedLogged;
    const fields = {
      error: described,
      kind,
      attempt: streak.attempts,
      failingSince: new Date(streak.since).toISOString(),
      retryInMs,
      ...at,
    };
    const logged = this.logFailure(
      streak,
      now,
      streak.attempts === 1 || pinned,
      fields,
      unreadable
        ? 'projector cannot read this event (written by a newer version?); retrying'
        : single
          ? 'projector cannot commit this event; retrying'
          : content
            ? 'projector batch failed; retrying in smaller batches'
            : 'projector batch failed; retrying',
      'projector batch failed again',
    );
    if (logged && single) streak.pinnedLogged = true;
  }

  /**
   * A failure that repeats: logged at its first attempt (or when `force`d), then at most once a minute with the
   * attempts `suppressed` since, each of those at `debug`. True when it was logged. The line is at `error`, but at
   * `warn` while it is only an outage (`kind` unavailable: the store or the database could not be reached) younger
   * than the stall window — a blip the retry gets past must not page anyone; one that lasts is logged at `error`
   * when it is logged next (at most a minute on).
   */
  private logFailure(
    state: { lastLoggedAt: number; suppressed: number; since: number; kind?: string },
    now: number,
    force: boolean,
    fields: object,
    message: string,
    again: string,
  ): boolean {
    if (force || now - state.lastLoggedAt >= FAILURE_LOG_INTERVAL_MS) {
      const passing = state.kind === 'unavailable' && now - state.since < this.stallAfterMs;
      this.logger[passing ? 'warn' : 'error']({ ...fields, suppressed: state.suppressed }, message);
      state.lastLoggedAt = now;
      state.suppressed = 0;
      return true;
    }
    state.suppressed += 1;
    this.logger.debug(fields, again);
    return false;
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
    applicationName: PROJECTOR_APPLICATION_NAME,
  });
  const writer = await ReadModelWriter.open(database.db);
  const lock = projectorLock(database, {
    databaseUrl: options.databaseUrl,
    heartbeatMs: options.lockHeartbeatMs,
    probeTimeoutMs: options.lockProbeTimeoutMs,
    reclaimFromThisProcess: options.reclaimLockOfThisProcess,
  });
  const client = EsdbClientAdapter.connect(options.connectionString);
  const events = new SessionEventStore(client, options.eventSchemas);
  const projector = new Projector(events, client, database, writer, lock, logger, options);
  projector.start();
  return projector;
}
