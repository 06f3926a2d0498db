import { KeyedMutex } from './keyed-mutex';

const tick = () => new Promise((resolve) => setImmediate(resolve));

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
