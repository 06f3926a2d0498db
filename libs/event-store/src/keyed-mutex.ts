/**
 * Serialises async work per key inside one process: work on one session runs one at a time, in arrival
 * order, while different sessions proceed in parallel. This is what lets 50 concurrent commands on one
 * session all succeed without fighting over the expected revision.
 *
 * The wait for a key can be bounded. Work queued behind work that hangs would otherwise start only once that
 * work ends, so waits add up: with each event-store call bounded by a deadline, the fifth of five commands on
 * one session would answer after five deadlines, then still send its own calls. With `waitMs` a caller gives up
 * when the key has stayed with one holder that long while it waited — the clock restarts each time the key
 * changes hands, so a long queue of work that does finish (a busy session, a slow store) is served in turn —
 * and with `failWaitersOn` every caller waiting when the holder fails so (the store did not answer it) gives up
 * at once: either way with `LockWaitError`, its work never started.
 */
export interface KeyedMutexOptions {
  /**
   * How long a caller may wait while the key stays with one holder, in ms (`run` may say otherwise per call);
   * the wait starts again when the key passes to the next caller. 0: not at all (it gives up at once when the
   * key is held). Unbounded if absent.
   */
  waitMs?: number;
  /**
   * Whether the holder's failure also ends the wait of every caller queued for the key at that moment (with
   * `LockWaitError`, reason `holder-failed`), instead of running their work in turn.
   */
  failWaitersOn?: (error: unknown) => boolean;
}

/**
 * A caller of `KeyedMutex.run` that gave up waiting for its key: its work was never started. The library's
 * code for it, as for its other refusals: 503 `SERVICE_UNAVAILABLE` (a wait is bounded because the event
 * store stopped answering the work ahead), `outcome="service_unavailable"` in the API's command metrics.
 */
export class LockWaitError extends Error {
  override readonly name = 'LockWaitError';
  readonly code = 'SERVICE_UNAVAILABLE';
  constructor(
    /**
     * `wait-timeout`: the key stayed with one holder for the bound while this caller waited; `holder-failed`:
     * the holder failed as `failWaitersOn` says.
     */
    readonly reason: 'wait-timeout' | 'holder-failed',
    readonly key: string,
    /** How long it waited in all, in ms. */
    readonly waitedMs: number,
    /** The holder's failure, for `holder-failed`. */
    override readonly cause?: unknown,
  ) {
    super(
      reason === 'wait-timeout'
        ? `Gave up after waiting ${waitedMs} ms while earlier work on the same key did not finish; this work was not started`
        : `The earlier work on the same key failed; this work, queued behind it, was not started`,
    );
  }
}

export interface RunOptions {
  /** This call's bound on its wait, in ms, instead of the mutex's `waitMs` (undefined: the mutex's). */
  waitMs?: number;
}

/**
 * A caller queued for a key: `start` hands it the key, `fail` ends its wait (the holder failed with `cause`),
 * `handedOver` restarts its bound (the key passed to another caller ahead of it).
 */
interface Waiter {
  start(): void;
  fail(cause: unknown): void;
  handedOver(): void;
}

/** A key held by running work, and the callers waiting for it in arrival order. */
interface Lane {
  readonly waiting: Set<Waiter>;
}

export class KeyedMutex {
  private readonly lanes = new Map<string, Lane>();
  private readonly waitMs: number | undefined;
  private readonly failWaitersOn: ((error: unknown) => boolean) | undefined;

  constructor(options: KeyedMutexOptions = {}) {
    this.waitMs = checkedWait(options.waitMs);
    this.failWaitersOn = options.failWaitersOn;
  }

  /** Runs `work` once it holds `key`; `options` may bound this call's wait otherwise than the mutex's. */
  run<T>(key: string, work: () => Promise<T>): Promise<T>;
  run<T>(key: string, options: RunOptions, work: () => Promise<T>): Promise<T>;
  run<T>(key: string, second: RunOptions | (() => Promise<T>), third?: () => Promise<T>): Promise<T> {
    const [options, work] = typeof second === 'function' ? [{}, second] : [second, third!];
    const waitMs = options.waitMs === undefined ? this.waitMs : checkedWait(options.waitMs);
    const lane = this.lanes.get(key);
    if (!lane) {
      const held: Lane = { waiting: new Set() };
      this.lanes.set(key, held);
      return this.hold(key, held, work);
    }
    if (waitMs === 0) return Promise.reject(new LockWaitError('wait-timeout', key, 0));
    const started = Date.now();
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const arm = () => {
        if (waitMs === undefined) return;
        clearTimeout(timer);
        timer = setTimeout(() => {
          // Out of the queue as it gives up: the holder, when it ends, hands the key to the next one.
          lane.waiting.delete(waiter);
          reject(new LockWaitError('wait-timeout', key, Date.now() - started));
        }, waitMs);
      };
      const waiter: Waiter = {
        start: () => {
          clearTimeout(timer);
          resolve(this.hold(key, lane, work));
        },
        fail: (cause) => {
          clearTimeout(timer);
          reject(new LockWaitError('holder-failed', key, Date.now() - started, cause));
        },
        handedOver: arm,
      };
      lane.waiting.add(waiter);
      arm();
    });
  }

  /** Keys with work queued or running (for tests and metrics). */
  get size(): number {
    return this.lanes.size;
  }

  /** Callers waiting for `key` (for tests). */
  waiting(key: string): number {
    return this.lanes.get(key)?.waiting.size ?? 0;
  }

  /** Runs `work` holding `key`; when it ends, the key goes to the next waiter, or is forgotten. */
  private hold<T>(key: string, lane: Lane, work: () => Promise<T>): Promise<T> {
    const result = Promise.resolve().then(work);
    result.then(
      () => this.release(key, lane, false, undefined),
      (error: unknown) => this.release(key, lane, true, error),
    );
    return result;
  }

  private release(key: string, lane: Lane, failed: boolean, error: unknown): void {
    if (failed && this.failWaitersOn?.(error)) {
      const waiting = [...lane.waiting];
      lane.waiting.clear();
      for (const waiter of waiting) waiter.fail(error);
    }
    const [next] = lane.waiting;
    if (next === undefined) {
      this.lanes.delete(key);
      return;
    }
    lane.waiting.delete(next);
    next.start();
    // The work ahead moves: the callers still waiting count their bound from this hand-over.
    for (const waiter of lane.waiting) waiter.handedOver();
  }
}

/** The longest delay a timer takes (about 24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function checkedWait(waitMs: number | undefined): number | undefined {
  if (waitMs !== undefined && !(waitMs >= 0 && waitMs <= MAX_TIMER_MS)) {
    throw new RangeError(`A lock wait must be from 0 to ${MAX_TIMER_MS} ms (got ${waitMs})`);
  }
  return waitMs;
}
