/**
 * What the projector's log says when it loses the read-model lock and takes it back. A short blip of the database
 * — a restart, a dropped connection, a probe unanswered for a second — costs the lock, and the projector retakes it
 * by itself at its next poll (`projector_reconnects_total` counts it); it used to log each loss at `error` with a
 * stack, so every blip paged whoever alerts on `error` lines. So, as for an outage of the subscription
 * (`SubscriptionOutage`):
 *
 * - a loss is logged at `warn`, one line with the cause's type, message and code (no stack: it is a connection
 *   that failed or a probe that was not answered, nothing an operator reads a stack for); a loss within a minute
 *   of the last one logged is logged at `debug` only, and counted in the next `warn` line's `suppressed`;
 * - a spell without the lock that lasts the stall window (`stallAfterMs`) is logged once at `error`, with how long
 *   it has been; the lock's polls meanwhile say why (`projector could not reach the read-model lock`…);
 * - and when the lock is taken back after that `error` line, one `info` line says the projector leads again, and
 *   after how long. A spell that ends sooner ends without a line of its own: `projector holds the read-model lock`
 *   follows, as at every take of the lock.
 *
 * A spell ends as well when another projector holds the lock (the projector goes on standby, and says so): the
 * read models have a leader, and nothing is for an operator to do.
 */
import type { Logger } from 'pino';
import { describeBatchError } from './batch-failures';

/** At most one `warn` line a minute for losses in a row, as for a batch that keeps failing. */
export const LOCK_LOSS_LOG_INTERVAL_MS = 60_000;

interface Spell {
  since: number;
  /** The loss's cause, as logged. */
  error: Record<string, string>;
  timer: NodeJS.Timeout;
  /** The spell outlasted the window: its `error` line was written. */
  overdue: boolean;
}

/** The projector's spells without the read-model lock, from a loss until it is taken back. */
export class LockLoss {
  private spell: Spell | undefined;
  private lastLoggedAt = -Infinity;
  /** Losses since the last `warn` line that were logged at `debug` only. */
  private suppressed = 0;

  constructor(
    private readonly logger: Logger,
    /** How long a spell lasts before it is logged at `error` (the projector's `stallAfterMs`). */
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
    private readonly intervalMs = LOCK_LOSS_LOG_INTERVAL_MS,
  ) {}

  /** Lost the lock and not taken back (nor gone on standby) since. */
  get active(): boolean {
    return this.spell !== undefined;
  }

  /** The lease was lost (`reason`: what its probe, connection or fence failed on). */
  lost(reason: unknown): void {
    const now = this.now();
    const error = describeBatchError(reason);
    if (this.spell === undefined) {
      const spell: Spell = {
        since: now,
        error,
        overdue: false,
        timer: setTimeout(() => this.overdue(spell), this.windowMs),
      };
      spell.timer.unref();
      this.spell = spell;
    }
    if (now - this.lastLoggedAt >= this.intervalMs) {
      this.logger.warn(
        { error, suppressed: this.suppressed },
        'projector lost the read-model lock; dropping the batch in hand and taking the lock again',
      );
      this.lastLoggedAt = now;
      this.suppressed = 0;
    } else {
      this.suppressed += 1;
      this.logger.debug({ error }, 'projector lost the read-model lock again');
    }
  }

  /** The lock is held again: ends the spell, and says so if it was logged at `error`. */
  retaken(): void {
    const spell = this.end();
    if (spell?.overdue)
      this.logger.info(
        { withoutLockForMs: this.now() - spell.since },
        'projector leads again: it took the read-model lock back',
      );
  }

  /** Another projector holds the lock (its standby line says so), or this one stops: the spell ends unsaid. */
  reset(): void {
    this.end();
  }

  private end(): Spell | undefined {
    const spell = this.spell;
    if (spell === undefined) return undefined;
    clearTimeout(spell.timer);
    this.spell = undefined;
    return spell;
  }

  private overdue(spell: Spell): void {
    if (this.spell !== spell) return;
    spell.overdue = true;
    this.logger.error(
      {
        withoutLockForMs: this.now() - spell.since,
        lostAt: new Date(spell.since).toISOString(),
        stallAfterMs: this.windowMs,
        error: spell.error,
      },
      'projector has not taken the read-model lock back within the stall window; retrying',
    );
  }
}
