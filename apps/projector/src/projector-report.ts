/**
 * What a projector knows about its progress, as facts stamped with times (when it last committed, when the
 * oldest waiting event was written) rather than as ages, and the definitions every reader derives from such a
 * report at the moment it reads it: the standalone projector's /metrics and /health/ready (a report made on
 * the spot), and the API's /metrics under `npm start`, where the report comes from the projector's worker
 * thread and may be old — a worker blocked in a synchronous SQLite wait posts nothing. Ages computed when
 * read keep growing while the projector is silent; an age copied from its last report would stand still.
 * `projectorStatus` derives what /health/ready reports from it — the standalone projector's, and the
 * projector section of the API's under `npm start`.
 */
import type { BatchFailureKind } from './batch-failures';

/**
 * Why the projector has stopped reading the log: `commit` — its read-ahead is full and waits for the batch
 * being committed (a slow commit, or one waiting on a lock another writer holds); `retry` — a failed batch waits
 * for its retry (the back-off after a failure; `failure` says which).
 */
export type ReadingPauseReason = 'commit' | 'retry';

/** The batch that is failing: its first event (stream and type, never the payload) and how often it failed. */
export interface ProjectorFailure {
  kind: BatchFailureKind;
  /** Failed attempts since the projector last committed past the failing events. */
  attempts: number;
  /** When the first of them failed (ms since the epoch). */
  since: number;
  /** The first event of the last failed batch: where the projector is stuck. */
  position: bigint;
  streamId: string;
  eventType: string;
  /** Events in the last failed batch (1: the event above is the one the database refuses). */
  events: number;
}

export interface ProjectorReport {
  /** When the projector made this report (ms since the epoch). */
  at: number;
  /** Holds the read-model lock (projects) rather than waiting on standby. */
  leader: boolean;
  /**
   * The subscription reached the live end, everything it had delivered then is committed, and no batch is
   * failing. `isCaughtUp` adds the stall rule and the age of the report.
   */
  reachedLiveEnd: boolean;
  /** The committed checkpoint. */
  position: bigint;
  /** The highest position the subscription has delivered. */
  head: bigint;
  /**
   * Events the subscription delivered and the projector has not committed: what it has read ahead, at most
   * about two batches (the one being committed and the next; a failed batch is read again from the checkpoint).
   * More may wait in the store — counting them would mean reading them — while the subscription catches up,
   * and while `readingPaused`.
   */
  lagEvents: number;
  /**
   * The lock holder has stopped reading the log until a commit ends: its read-ahead is full and waits for the
   * batch being committed, or a failed batch waits for its retry. Events written meanwhile are not in `lagEvents`.
   */
  readingPaused: boolean;
  /** While `readingPaused`: when it stopped reading (ms since the epoch); otherwise undefined. */
  readingPausedSince: number | undefined;
  /** While `readingPaused`: what it waits for; otherwise undefined. */
  readingPausedFor: ReadingPauseReason | undefined;
  /** The batch that keeps failing, until the projector commits past it. */
  failure: ProjectorFailure | undefined;
  /** Server time (ms) of the oldest event delivered and not committed, or of the last one committed while catching up. */
  lagSince: number | undefined;
  /**
   * When the last batch committed, or when this projector took the lock (ms) — unless it took back its own, the
   * checkpoints where it left them (a database blip): then still its last commit's; undefined on standby.
   */
  lastCommitAt: number | undefined;
  /** Events waiting and no commit for this long: stalled (not caught up; the standalone /health/ready answers 503). */
  stallAfterMs: number;
}

/** Milliseconds since the last commit (or since the lock was taken) at `now`; undefined on standby. */
export function lastCommitAgeMs(report: ProjectorReport, now: number): number | undefined {
  if (!report.leader || report.lastCommitAt === undefined) return undefined;
  return Math.max(0, now - report.lastCommitAt);
}

/**
 * The lock holder has events waiting and has committed nothing for `stallAfterMs` while they waited: failing,
 * or blocked. Measured from the later of the last commit and the oldest waiting event, so an event that
 * arrives after a quiet spell longer than the window does not count as a stall while its batch commits.
 */
export function isStalled(report: ProjectorReport, now: number): boolean {
  if (!report.leader || report.lagEvents === 0 || report.lastCommitAt === undefined) return false;
  const waitingSince = Math.max(report.lastCommitAt, report.lagSince ?? -Infinity);
  return now - waitingSince >= report.stallAfterMs;
}

/**
 * Caught up: the subscription reached the live end, what it had delivered then is committed, no batch is
 * failing, the projector is not stalled, and the report is younger than the stall window — a projector that
 * has not said anything for that long (a worker thread blocked on the database) is not vouched for.
 */
export function isCaughtUp(report: ProjectorReport, now: number): boolean {
  return (
    report.leader && report.reachedLiveEnd && !isStalled(report, now) && now - report.at < report.stallAfterMs
  );
}

/** Seconds the oldest waiting event has waited (0 when nothing waits). */
export function lagSeconds(report: ProjectorReport, now: number): number {
  return report.lagSince === undefined ? 0 : Math.max(0, (now - report.lagSince) / 1000);
}

/** Progress and health at one moment: what /health/ready reports (`readiness` in projector-http.ts). */
export interface ProjectorStatus {
  leader: boolean;
  /** See `projector_caught_up` (`isCaughtUp`). */
  caughtUp: boolean;
  /** The committed checkpoint. */
  position: bigint;
  /** The highest position the subscription has delivered. */
  head: bigint;
  /** Events delivered and not committed. */
  lagEvents: number;
  /** Since the last commit (or since the lock was taken); undefined on standby. */
  lastCommitAgeMs: number | undefined;
  /** Leader, events waiting, and no commit for `stallAfterMs` (`isStalled`). */
  stalled: boolean;
  /** See `ProjectorReport.readingPaused` (`projector_reading_paused`). */
  readingPaused: boolean;
  readingPausedSince: number | undefined;
  readingPausedFor: ReadingPauseReason | undefined;
  failure: ProjectorFailure | undefined;
}

/** The status a report means at `now` (the ages computed then). */
export function projectorStatus(report: ProjectorReport, now: number): ProjectorStatus {
  return {
    leader: report.leader,
    caughtUp: isCaughtUp(report, now),
    position: report.position,
    head: report.head,
    lagEvents: report.lagEvents,
    lastCommitAgeMs: lastCommitAgeMs(report, now),
    stalled: isStalled(report, now),
    readingPaused: report.readingPaused,
    readingPausedSince: report.readingPausedSince,
    readingPausedFor: report.readingPausedFor,
    failure: report.failure,
  };
}
