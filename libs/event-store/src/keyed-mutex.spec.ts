import { KeyedMutex, LockWaitError } from './keyed-mutex';

const tick = () => new Promise((resolve) => setImmediate(resolve));

/** A promise the test settles: work that holds its key until then. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** How `promise` settles, and after how many ms. */
async function settle(promise: Promise<unknown>): Promise<{ value?: unknown; error?: unknown; ms: number }> {
  const started = Date.now();
  try {
    return { value: await promise, ms: Date.now() - started };
  } catch (error) {
    return { error, ms: Date.now() - started };
  }
}

class StoreHung extends Error {}

describe('KeyedMutex', () => {
  it('runs work on one key one at a time, in arrival order', async () => {
    const mutex = new KeyedMutex();
    const log: string[] = [];
    let running = 0;
    await Promise.all(
      Array.from({ length: 20 }, (_, index) =>
        mutex.run('session-1-a', async () => {
          running++;
          expect(running).toBe(1);
          await tick();
          log.push(String(index));
          running--;
        }),
      ),
    );
    expect(log).toEqual(Array.from({ length: 20 }, (_, index) => String(index)));
  });

  it('lets different keys run in parallel', async () => {
    const mutex = new KeyedMutex();
    let concurrent = 0;
    let peak = 0;
    await Promise.all(
      ['a', 'b', 'c'].map((key) =>
        mutex.run(key, async () => {
          peak = Math.max(peak, ++concurrent);
          await tick();
          concurrent--;
        }),
      ),
    );
    expect(peak).toBe(3);
  });

  it('keeps going after a failure and forgets idle keys', async () => {
    const mutex = new KeyedMutex();
    await expect(mutex.run('k', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(mutex.run('k', async () => 42)).resolves.toBe(42);
    await tick();
    expect(mutex.size).toBe(0);
  });
});

describe('KeyedMutex with a bounded wait', () => {
  it('given work that holds the key past waitMs, when another caller waits, then it gives up with LockWaitError after waitMs and its work never runs', async () => {
    const mutex = new KeyedMutex({ waitMs: 30 });
    const holding = deferred<string>();
    const holder = mutex.run('k', () => holding.promise);
    const queued = jest.fn(async () => 'queued');

    const waiter = await settle(mutex.run('k', queued));

    expect(waiter.error).toBeInstanceOf(LockWaitError);
    expect(waiter.error).toMatchObject({
      reason: 'wait-timeout',
      key: 'k',
      code: 'SERVICE_UNAVAILABLE',
    });
    expect((waiter.error as LockWaitError).waitedMs).toBeGreaterThanOrEqual(25);
    expect(waiter.ms).toBeGreaterThanOrEqual(25);
    holding.resolve('held');
    await expect(holder).resolves.toBe('held');
    await tick();
    expect(queued).not.toHaveBeenCalled();
  });

  it('given a queue of work that each ends within waitMs but together take longer, when they wait, then every caller runs in turn', async () => {
    const mutex = new KeyedMutex({ waitMs: 200 });
    const ran: number[] = [];
    const work = (n: number) => async () => {
      await new Promise((resolve) => setTimeout(resolve, 40));
      ran.push(n);
      return n;
    };

    // Eight callers on one key: the last waits about 280 ms in all, but never 200 ms on one holder.
    const outcomes = await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map((n) => settle(mutex.run('k', work(n)))));

    expect(outcomes.map((outcome) => outcome.error)).toEqual(Array(8).fill(undefined));
    expect(ran).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    await tick();
    expect(mutex.size).toBe(0);
  });

  it('given a caller that gave up, when the holder ends, then the key goes to the caller behind it and nothing is left behind', async () => {
    const mutex = new KeyedMutex();
    const holding = deferred();
    const log: string[] = [];
    const holder = mutex.run('k', async () => {
      await holding.promise;
      log.push('holder');
    });
    const impatient = mutex.run('k', { waitMs: 10 }, async () => void log.push('impatient'));
    const patient = mutex.run('k', async () => void log.push('patient'));
    expect(mutex.waiting('k')).toBe(2);

    await expect(impatient).rejects.toBeInstanceOf(LockWaitError);
    expect(mutex.waiting('k')).toBe(1);
    holding.resolve();
    await Promise.all([holder, patient]);

    expect(log).toEqual(['holder', 'patient']);
    await tick();
    expect(mutex.size).toBe(0);
    expect(mutex.waiting('k')).toBe(0);
    // The key is free: the next caller runs at once, even with no wait allowed.
    await expect(mutex.run('k', { waitMs: 0 }, async () => 'free')).resolves.toBe('free');
  });

  it('given every caller gave up, when the holder ends, then the key is forgotten', async () => {
    const mutex = new KeyedMutex({ waitMs: 5 });
    const holding = deferred();
    const holder = mutex.run('k', () => holding.promise);
    const waiters = await Promise.all(
      [mutex.run('k', async () => 1), mutex.run('k', async () => 2)].map(settle),
    );
    for (const waiter of waiters) expect(waiter.error).toMatchObject({ reason: 'wait-timeout' });

    holding.resolve();
    await holder;
    await tick();

    expect(mutex.size).toBe(0);
  });

  it('given waitMs 0, when the key is held, then the caller gives up at once', async () => {
    const mutex = new KeyedMutex({ waitMs: 60_000 });
    const holding = deferred();
    const holder = mutex.run('k', () => holding.promise);

    const waiter = await settle(mutex.run('k', { waitMs: 0 }, async () => 'never'));

    expect(waiter.error).toMatchObject({ reason: 'wait-timeout', waitedMs: 0 });
    expect(waiter.ms).toBeLessThan(1_000);
    expect(mutex.waiting('k')).toBe(0);
    holding.resolve();
    await holder;
  });

  it('given failWaitersOn, when the holder fails so, then every caller waiting then gives up at once, and a later one runs', async () => {
    const mutex = new KeyedMutex({ waitMs: 60_000, failWaitersOn: (error) => error instanceof StoreHung });
    const holding = deferred();
    const holder = mutex.run('k', () => holding.promise);
    const queued = jest.fn(async () => 'queued');
    const waiters = [mutex.run('k', queued), mutex.run('k', queued), mutex.run('k', queued)].map(settle);
    const hung = new StoreHung('no answer');

    holding.reject(hung);
    const outcomes = await Promise.all(waiters);

    await expect(holder).rejects.toBe(hung);
    for (const outcome of outcomes) {
      expect(outcome.error).toBeInstanceOf(LockWaitError);
      expect(outcome.error).toMatchObject({ reason: 'holder-failed', key: 'k', cause: hung });
      // Long before the 60 s bound.
      expect(outcome.ms).toBeLessThan(10_000);
    }
    expect(queued).not.toHaveBeenCalled();
    expect(mutex.size).toBe(0);
    await expect(mutex.run('k', queued)).resolves.toBe('queued');
  });

  it('given failWaitersOn, when the holder fails otherwise, then the callers waiting run in turn', async () => {
    const mutex = new KeyedMutex({ failWaitersOn: (error) => error instanceof StoreHung });
    const holder = mutex.run('k', async () => Promise.reject(new Error('refused')));
    const next = mutex.run('k', async () => 'next');

    await expect(holder).rejects.toThrow('refused');
    await expect(next).resolves.toBe('next');
  });

  it('given a wait that is no number of ms from 0 to what a timer takes, then it is refused', () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31]) {
      expect(() => new KeyedMutex({ waitMs: bad })).toThrow(RangeError);
    }
    const mutex = new KeyedMutex();
    const holder = mutex.run('k', async () => undefined);
    expect(() => mutex.run('k', { waitMs: -5 }, async () => undefined)).toThrow(RangeError);
    return holder;
  });
});
