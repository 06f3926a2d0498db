import { decide } from './decide';
import type { SessionEvent } from './events';
import { evolve, fold } from './evolve';
import {
  addItems,
  at,
  cancel,
  close,
  extend,
  HISTORIES,
  history,
  reopen,
  stateOf,
  update,
} from './spec-fixtures';

describe('evolve and fold', () => {
  it('starts updateCount at 1 after creation', () => {
    expect(stateOf(history(update({}))).updateCount).toBe(1);
  });

  it('counts a creation as closed (two events, one request) once', () => {
    expect(stateOf(history(update({ state: 'closed' }))).updateCount).toBe(1);
  });

  it('adds 1 per accepted request, not per event', () => {
    const events = history(
      update({}),
      update({
        couponCodes: ['A'],
        referralCode: 'R',
        cartItems: [{ sku: 'A', quantity: 1 }],
        state: 'closed',
      }),
      reopen(),
      addItems([{ sku: 'B', quantity: 1 }]),
    );
    expect(events).toHaveLength(7);
    expect(stateOf(events).updateCount).toBe(4);
  });

  it('leaves updateCount unchanged by a no-op update (it appends nothing)', () => {
    const events = history(update({ couponCodes: ['A'] }), update({ couponCodes: ['A'] }));
    expect(stateOf(events).updateCount).toBe(1);
  });

  it('takes created from the first event and updated from the latest one', () => {
    const state = stateOf(history(update({}), update({ referralCode: 'R' }), close(), cancel()));
    expect(state.created).toBe(at(1));
    expect(state.updated).toBe(at(4));
  });

  it('never reads a clock: replaying the same events later gives the same state', () => {
    const events = HISTORIES.partially_returned();
    expect(fold(events)).toEqual(fold(JSON.parse(JSON.stringify(events)) as SessionEvent[]));
  });

  it('folds onto a given state as if the events had been folded from the start', () => {
    const events = HISTORIES.partially_returned();
    expect(fold(events.slice(2), fold(events.slice(0, 2)))).toEqual(fold(events));
  });

  it('folds no events to no session', () => {
    expect(fold([])).toBeNull();
  });

  it('refuses a history that does not start with SessionCreated', () => {
    expect(() =>
      fold(history(update({})).map((event) => ({ ...event, type: 'StoreChanged' }) as SessionEvent)),
    ).toThrow('StoreChanged before SessionCreated');
  });

  it('refuses a second SessionCreated', () => {
    const [created] = history(update({}));
    expect(() => fold([created, created])).toThrow('SessionCreated on the existing session');
  });

  it('rejects an event type it does not know', () => {
    const state = stateOf(history(update({})));
    expect(() => evolve(state, { type: 'Bogus', data: { at: at(2), commandId: 'x' } } as never)).toThrow(
      'Unexpected',
    );
  });

  it('rejects a command type it does not know', () => {
    expect(() => decide({ type: 'Bogus' } as never, null)).toThrow('Unexpected');
  });

  it('does not mutate the state it evolves', () => {
    const events = HISTORIES.closed();
    const before = stateOf(events);
    const snapshot = JSON.parse(JSON.stringify(before));
    fold(extend(events, cancel()).slice(events.length), before);
    fold(history(update({ cartItems: [{ sku: 'A', quantity: 2 }] }), close()).slice(0, 1));
    expect(before).toEqual(snapshot);
  });
});
