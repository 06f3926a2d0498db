import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { BodyBudget, BodyBudgetWaitError } from './body-budget';

/** A response that closes when told to (the budget listens for 'close' only). */
function response(): ServerResponse & { finish: () => void } {
  const emitter = new EventEmitter() as EventEmitter & { closed: boolean; finish: () => void };
  emitter.closed = false;
  emitter.finish = () => {
    emitter.closed = true;
    emitter.emit('close');
  };
  return emitter as unknown as ServerResponse & { finish: () => void };
}

/** Which of `reservations` have been admitted, after the microtasks queued so far ran. */
async function admitted(reservations: Promise<void>[]): Promise<boolean[]> {
  const states = reservations.map(() => false);
  reservations.forEach((reservation, i) => void reservation.then(() => (states[i] = true)));
  await new Promise((resolve) => setImmediate(resolve));
  return states;
}

describe('BodyBudget', () => {
  it('given room, admits at once; given none, waits until a response that holds a share closes', async () => {
    const budget = new BodyBudget(100);
    const [a, b, c] = [response(), response(), response()];
    const reservations = [budget.reserve(a, 60), budget.reserve(b, 40), budget.reserve(c, 10)];
    expect(await admitted(reservations)).toEqual([true, true, false]);
    expect(budget.usage()).toEqual({ reservedBytes: 100, waiting: 1 });
    b.finish();
    expect(await admitted(reservations)).toEqual([true, true, true]);
    expect(budget.usage()).toEqual({ reservedBytes: 70, waiting: 0 });
    a.finish();
    c.finish();
    expect(budget.usage()).toEqual({ reservedBytes: 0, waiting: 0 });
  });

  it('admits in arrival order: a small body does not overtake a large one that waits before it', async () => {
    const budget = new BodyBudget(100);
    const [holder, large, small] = [response(), response(), response()];
    const reservations = [budget.reserve(holder, 50), budget.reserve(large, 80), budget.reserve(small, 10)];
    expect(await admitted(reservations)).toEqual([true, false, false]);
    holder.finish();
    expect(await admitted(reservations)).toEqual([true, true, true]);
    expect(budget.usage().reservedBytes).toBe(90);
  });

  it('takes at most the whole budget for a body larger than it, so it can still be admitted alone', async () => {
    const budget = new BodyBudget(100);
    const [huge] = [response()];
    expect(await admitted([budget.reserve(huge, 500)])).toEqual([true]);
    expect(budget.usage().reservedBytes).toBe(100);
  });

  it('drops a waiter whose connection closes, and lets the next one in when the first in line leaves', async () => {
    const budget = new BodyBudget(100);
    const [holder, gone, next] = [response(), response(), response()];
    const reservations = [budget.reserve(holder, 30), budget.reserve(gone, 80), budget.reserve(next, 50)];
    expect(await admitted(reservations)).toEqual([true, false, false]);
    gone.finish();
    expect(await admitted(reservations)).toEqual([true, false, true]);
    expect(budget.usage()).toEqual({ reservedBytes: 80, waiting: 0 });
  });

  it('refuses a request that found no room within its wait, and lets the next in when it was the first in line', async () => {
    const budget = new BodyBudget(100);
    const [holder, late, next] = [response(), response(), response()];
    const held = budget.reserve(holder, 30);
    const refused = budget.reserve(late, 80, 20);
    const following = budget.reserve(next, 50, 60_000);
    expect(await admitted([held, following])).toEqual([true, false]);
    await expect(refused).rejects.toBeInstanceOf(BodyBudgetWaitError);
    expect(await admitted([following])).toEqual([true]);
    expect(budget.usage()).toEqual({ reservedBytes: 80, waiting: 0 });
    // Its response closing later gives nothing back: it never held a share.
    late.finish();
    expect(budget.usage().reservedBytes).toBe(80);
  });

  it('never admits nor counts a response already closed', async () => {
    const budget = new BodyBudget(100);
    const closed = response();
    closed.finish();
    expect(await admitted([budget.reserve(closed, 80)])).toEqual([false]);
    expect(budget.usage()).toEqual({ reservedBytes: 0, waiting: 0 });
  });
});
