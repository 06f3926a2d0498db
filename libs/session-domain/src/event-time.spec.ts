import { DeciderSpecification } from '@session-engine/testing';
import type { SessionCommand } from './commands';
import { decide } from './decide';
import type { SessionEvent } from './events';
import { evolve } from './evolve';
import {
  addItems,
  at,
  cancel,
  close,
  HISTORIES,
  reopen,
  returnItems,
  stateOf,
  update,
} from './spec-fixtures';
import type { SessionState } from './state';

const spec = DeciderSpecification.for<SessionCommand, SessionEvent, SessionState | null>({
  decide,
  evolve,
  initialState: () => null,
});

/**
 * A command decided with a clock behind the session's latest event: it waited or retried behind a later
 * command, or its process's clock runs behind the one that wrote that event. Its own id, so it counts as a
 * request of its own.
 */
function behind<C extends SessionCommand>(command: C, now = at(0)): C {
  return { ...command, now, commandId: 'cmd-behind' };
}

/** Each history with its latest event's time, and a command that session accepts. */
const ACCEPTED: { name: string; given: () => SessionEvent[]; when: SessionCommand }[] = [
  { name: 'AddCartItems', given: HISTORIES.open, when: addItems([{ sku: 'HAT', quantity: 1 }]) },
  { name: 'UpdateSession (a field)', given: HISTORIES.open, when: update({ referralCode: 'R' }) },
  {
    name: 'UpdateSession (fields, then close)',
    given: HISTORIES.open,
    when: update({ couponCodes: ['C'], state: 'closed' }),
  },
  { name: 'CloseSession', given: HISTORIES.open, when: close() },
  { name: 'CancelSession', given: HISTORIES.partially_returned, when: cancel() },
  { name: 'ReopenSession', given: HISTORIES.closed, when: reopen() },
  { name: 'ReturnItems', given: HISTORIES.closed, when: returnItems([{ position: 0, quantity: 1 }]) },
];

const latestAt = (events: SessionEvent[]): string => events[events.length - 1]!.data.at;

describe('event times never go backwards in a stream', () => {
  it.each(ACCEPTED)(
    'stamps $name decided with a clock behind the latest event at that event’s time',
    ({ given, when }) => {
      const history = given();
      const latest = latestAt(history);
      spec
        .given(history)
        .when(behind(when))
        .thenEvents((events, before, after) => {
          expect(events.length).toBeGreaterThan(0);
          expect(events.map((event) => event.data.at)).toEqual(events.map(() => latest));
          expect(after!.updated).toBe(latest);
          expect(after!.updated).toBe(before!.updated);
          expect(after!.created).toBe(before!.created);
          expect(after!.updateCount).toBe(before!.updateCount + 1);
        });
    },
  );

  it('records the late command’s events at the latest event’s time, not at its own clock', () => {
    const history = HISTORIES.open(); // created at(1)
    spec
      .given(history)
      .when(behind(addItems([{ sku: 'HAT', quantity: 1 }]), '2024-05-01T09:59:59.999Z'))
      .then([
        {
          type: 'CartItemsAdded',
          data: {
            at: at(1),
            commandId: 'cmd-behind',
            firstPosition: 2,
            cartItems: [{ sku: 'HAT', quantity: 1 }],
          },
        },
      ]);
  });

  it('stamps a command whose clock is ahead of the latest event with its own time', () => {
    spec
      .given(HISTORIES.closed())
      .when(reopen(45))
      .thenEvents((events, _before, after) => {
        expect(events.map((event) => event.data.at)).toEqual([at(45)]);
        expect(after!.updated).toBe(at(45));
      });
  });

  it('compares times as instants, not as text', () => {
    // "…:00Z" sorts after "…:00.500Z" as text but is half a second earlier.
    const history = HISTORIES.open().map((event) => ({
      ...event,
      data: { ...event.data, at: '2024-05-01T10:01:00.500Z' },
    })) as SessionEvent[];
    spec
      .given(history)
      .when(behind(close(), '2024-05-01T10:01:00Z'))
      .thenEvents((events) =>
        expect(events.map((event) => event.data.at)).toEqual(['2024-05-01T10:01:00.500Z']),
      );
  });

  it('creates a session at the command’s own time (a new stream has no earlier event)', () => {
    spec
      .given([])
      .when(behind(update({ state: 'closed' })))
      .thenEvents((events, _before, after) => {
        expect(events.map((event) => event.data.at)).toEqual([at(0), at(0)]);
        expect(after).toMatchObject({ created: at(0), updated: at(0) });
      });
  });

  it('never lets updated go back over a run of late and early commands', () => {
    let events = HISTORIES.open();
    const clocks = [at(30), at(10), at(20), at(40), at(5)];
    clocks.forEach((now, i) => {
      events = [
        ...events,
        ...decide({ ...addItems([{ sku: `S${i}`, quantity: 1 }]), now, commandId: `c${i}` }, stateOf(events)),
      ];
    });
    const times = events.map((event) => event.data.at);
    expect(times).toEqual([...times].sort());
    expect(stateOf(events).updated).toBe(at(40));
  });
});
