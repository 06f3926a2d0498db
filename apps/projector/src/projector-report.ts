/**
 * What a projector knows about its progress, as facts stamped with times (when it last committed, when the
 * oldest waiting event was written) rather than as ages, and the definitions every reader derives from such a
 * report at the moment it reads it: the standalone projector's /metrics and /health/ready (a report made on
 * the spot), and the API's /metrics under `npm start`, where the report comes from the projector's worker
 * thread and may be old — a worker blocked in a synchronous SQLite wait posts nothing. Ages computed when
 * read keep growing while the projector is silent; an age copied from its last report would stand still.
 */
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
  /** Server time (ms) of the oldest event delivered and not committed, or of the last one committed while catching up. */
  lagSince: number | undefined;
  /** When the last batch committed, or when this projector took the lock (ms); undefined on standby. */
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
