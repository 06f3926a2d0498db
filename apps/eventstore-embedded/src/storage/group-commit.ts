/**
 * Whether the single writer should wait a moment before a flush, so that the appends arriving meanwhile share
 * its transaction, its fsync and one burst of acknowledgements.
 *
 * Waiting is a trade. When the writers are held back by something other than the store — an API whose event
 * loop is saturated, with requests queued in its sockets — the appends keep arriving during the wait, and
 * fewer, larger flushes free CPU for the rest of the machine: more writes per second. When each writer waits
 * for its acknowledgement before sending the next append (a client writing one at a time, a few such clients),
 * every millisecond of waiting is a millisecond of its latency and the writes per second fall. Nothing the
 * store sees in one flush tells the two apart (measured: with a fixed 2 ms wait, 32 saturating HTTP clients
 * of the API went from 1,838–1,917 to 2,078–2,116 AddCartItems/s, 4 clients fell from 1,380 to 891/s).
 *
 * So the tuner measures it. While writes keep coming it runs epochs flushing at once and epochs waiting, in turn
 * (`rounds` pairs, so that a load rising or falling meanwhile favours neither), and compares the writes committed
 * per millisecond; the better mode is kept for `holdEpochs` epochs (doubled, up to `maxHoldEpochs`, each time the
 * same mode wins again), then both are measured again, as the load may have changed. Waiting has to win by `margin`
 * to be kept; half a waiting epoch that commits under CLEARLY_LOSES of the immediate rate ends the measurement there
 * (writers gated by their acknowledgements pay for little of it). A first epoch in which every flush committed a
 * single write (one writer at a time) ends the measurement there: a lone writer is not made to wait (but for at most
 * LONE_HELD_FLUSHES flushes when a load that waiting served shrinks to one writer: that many held flushes in a row
 * that no other write joined start over). After a pause in the writes (no flush for `idleMs`, not counting a flush's
 * own wait) a measurement under way goes on, a load that waiting did not serve keeps that answer and its hold, and
 * one that waiting served is measured again; after LONG_PAUSE_MS, everything is measured again. A flush is delayed
 * only while the store is busy (the last flush ended less than BUSY_MS ago): a write into an idle store is never
 * held. Pure: the caller passes the time (ms, monotonic).
 */
export interface GroupCommitTunerOptions {
  /** How long to wait, when waiting pays (ms). 0: never wait. */
  windowMs: number;
  /**
   * Length of a measured epoch (ms). 500: at 250 the rates of two epochs differed by ±5–10 % from noise alone
   * (the projector's commits, garbage collection) and the choice flipped with it.
   */
  epochMs?: number;
  /** Pairs of epochs (one flushing at once, one waiting, in turn) in a measurement. */
  rounds?: number;
  /** Epochs the chosen mode is kept before both are measured again; doubled each time the same mode wins. */
  holdEpochs?: number;
  /** The most epochs a mode is kept between two measurements. */
  maxHoldEpochs?: number;
  /** How much more waiting must commit per millisecond to be kept (0.05: 5 % more). */
  margin?: number;
  /**
   * A gap between flushes this long (ms; a flush's own wait not counted) is a pause: the epoch under way is
   * dropped, and what was learned is kept or measured again (see `paused`).
   */
  idleMs?: number;
}

/** The embedded server's window (`startEmbeddedEventStore`, `--group-commit-window-ms`). */
export const DEFAULT_GROUP_COMMIT_WINDOW_MS = 2;
/** The longest window the settings accept (ms). */
export const MAX_GROUP_COMMIT_WINDOW_MS = 1000;

/** Held flushes in a row, each committing a single write, that end the waiting: a lone writer's. */
const LONE_HELD_FLUSHES = 8;

/** A waiting epoch whose first half commits under this share of the immediate rate ends the measurement. */
const CLEARLY_LOSES = 0.8;

/** A pause this long (ms) ends whatever was learned: the writes after it are another load. */
const LONG_PAUSE_MS = 1000;

/** A flush that starts less than this after the previous one ended finds the store busy. */
const BUSY_MS = 5;

type Phase = 'measure' | 'hold';

export class GroupCommitTuner {
  private readonly windowMs: number;
  private readonly epochMs: number;
  private readonly rounds: number;
  private readonly holdEpochs: number;
  private readonly maxHoldEpochs: number;
  private readonly margin: number;
  private readonly idleMs: number;

  private waiting = false;
  private phase: Phase = 'measure';
  /** Epochs measured so far in this measurement: even ones flush at once, odd ones wait. */
  private step = 0;
  /** Set by the first flush, which always starts over (no flush before it). */
  private epochStart = 0;
  private epochWrites = 0;
  private epochFlushes = 0;
  /** Writes and milliseconds of this measurement's epochs, flushing at once and waiting. */
  private readonly measured = { immediate: { writes: 0, ms: 0 }, waiting: { writes: 0, ms: 0 } };
  private held = 0;
  /** Epochs the current choice is kept for. */
  private hold: number;
  /** The last choice measured (undefined until one is, and after starting over). */
  private lastChoice: boolean | undefined;
  private lastFlushAt = -Infinity;
  /** Held flushes in a row that committed a single write. */
  private loneHeldFlushes = 0;
  /** The wait `delayMs` gave the flush now scheduled. */
  private heldFor = 0;

  constructor(options: GroupCommitTunerOptions) {
    this.windowMs = options.windowMs;
    this.epochMs = options.epochMs ?? 500;
    this.rounds = options.rounds ?? 2;
    this.holdEpochs = options.holdEpochs ?? 8;
    this.maxHoldEpochs = options.maxHoldEpochs ?? 32;
    this.hold = this.holdEpochs;
    this.margin = options.margin ?? 0.05;
    this.idleMs = options.idleMs ?? 100;
  }

  /** How long to wait before flushing what is queued now (0: on the next turn of the event loop). */
  delayMs(now: number): number {
    this.heldFor = this.waiting && now - this.lastFlushAt < BUSY_MS ? this.windowMs : 0;
    return this.heldFor;
  }

  /** Whether flushes are being delayed now (while busy). */
  get isWaiting(): boolean {
    return this.waiting;
  }

  /** A flush committed `writes` appends or deletes, ending at `now` (after the delay `delayMs` gave it). */
  flushed(now: number, writes: number): void {
    const held = this.heldFor;
    this.heldFor = 0;
    if (this.windowMs === 0) return;
    // Held flushes that, again and again, no other write joined: a lone writer now (one such flush alone is
    // chance, as under load a flush now and then finds one write).
    this.loneHeldFlushes = held > 0 && writes === 1 ? this.loneHeldFlushes + 1 : 0;
    // The gap since the last flush, less the wait this one was given: a long window is no pause.
    const gap = now - this.lastFlushAt - held;
    if (gap > LONG_PAUSE_MS) this.startOver(now);
    else if (gap > this.idleMs) this.paused(now, gap);
    else if (this.loneHeldFlushes >= LONE_HELD_FLUSHES) this.startOver(now);
    this.lastFlushAt = now;
    this.epochWrites += writes;
    this.epochFlushes += 1;
    const elapsed = now - this.epochStart;
    if (elapsed < this.epochMs) {
      if (!this.waitingClearlyLoses(elapsed)) return;
      this.decide(false);
      this.newEpoch(now);
      return;
    }
    if (this.phase === 'measure') this.measuredEpoch(elapsed);
    else if (++this.held >= this.hold) this.measure();
    this.newEpoch(now);
  }

  /**
   * Writes resume after a pause of `gap` ms. After a load that waiting served, the load is measured again,
   * flushing at once first, as it may be another now. Otherwise the epoch under way goes on without the pause
   * (its start moves forward by it): its rate counts busy time only, and bursts shorter than an epoch add up —
   * a measurement under way goes on across them, and a load that waiting did not serve keeps that answer until
   * its hold is spent in busy time, so bursts of it are not each measured again (each measurement costs them
   * time waiting).
   */
  private paused(now: number, gap: number): void {
    if (this.phase === 'hold' && this.lastChoice !== false) this.startOver(now);
    else this.epochStart += gap;
  }

  /** An epoch of a measurement ended; after the last one, the faster mode is chosen. */
  private measuredEpoch(elapsed: number): void {
    const mode = this.waiting ? this.measured.waiting : this.measured.immediate;
    mode.writes += this.epochWrites;
    mode.ms += elapsed;
    if (this.step === 0 && this.epochWrites === this.epochFlushes) {
      // Every flush committed one write: one writer at a time, which waiting could only slow down. Not
      // measured, so it costs that writer nothing; looked at again after a hold.
      this.choose(false, this.holdEpochs);
      return;
    }
    this.step += 1;
    // Flushing at once and waiting take turns, so that a load rising or falling meanwhile favours neither.
    if (this.step < 2 * this.rounds) {
      this.waiting = this.step % 2 === 1;
      return;
    }
    const { immediate, waiting } = this.measured;
    this.decide(waiting.writes / waiting.ms > (immediate.writes / immediate.ms) * (1 + this.margin));
  }

  /**
   * Half a waiting epoch commits under 80 % of what flushing at once did: the writers are waiting on the store,
   * and the rest of the measurement would only cost them more of it.
   */
  private waitingClearlyLoses(elapsed: number): boolean {
    if (this.phase !== 'measure' || !this.waiting || elapsed < this.epochMs / 2) return false;
    const { immediate } = this.measured;
    return this.epochWrites / elapsed < (immediate.writes / immediate.ms) * CLEARLY_LOSES;
  }

  /**
   * The measurement's answer. A load that keeps giving the same one is measured less often: each measurement of
   * the losing mode costs the writers time in it.
   */
  private decide(wait: boolean): void {
    this.choose(
      wait,
      wait === this.lastChoice ? Math.min(this.hold * 2, this.maxHoldEpochs) : this.holdEpochs,
    );
  }

  /** Keeps `wait` for `hold` epochs. */
  private choose(wait: boolean, hold: number): void {
    this.waiting = wait;
    this.lastChoice = wait;
    this.phase = 'hold';
    this.hold = hold;
    this.held = 0;
  }

  private newEpoch(now: number): void {
    this.epochStart = now;
    this.epochWrites = 0;
    this.epochFlushes = 0;
  }

  /** Starts a measurement, with an epoch flushing at once. */
  private measure(): void {
    this.phase = 'measure';
    this.step = 0;
    this.waiting = false;
    this.measured.immediate = { writes: 0, ms: 0 };
    this.measured.waiting = { writes: 0, ms: 0 };
  }

  private startOver(now: number): void {
    this.measure();
    this.hold = this.holdEpochs;
    this.lastChoice = undefined;
    this.loneHeldFlushes = 0;
    this.newEpoch(now);
  }
}
