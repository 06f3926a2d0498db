import { SessionHistory } from '../testing/session-history';
import { foldSessions, summarize, type SessionRow } from './sessions.projection';

const T1 = '2025-03-01T10:00:00.000Z';
const T2 = '2025-03-02T10:00:00.000Z';
const T3 = '2025-03-03T10:00:00.000Z';
const T4 = '2025-03-04T10:00:00.000Z';
const shirt = { sku: 'SHIRT', quantity: 3, price: '19.99' };
const counted = (quantity: number, value: string) => ({ position: 0, sku: 'SHIRT', quantity, value });

function project(history: SessionHistory, events = history.events) {
  const rows = new Map<string, SessionRow>();
  foldSessions(rows, events);
  const row = rows.get(history.streamId);
  return row && summarize(row);
}

describe('sessions projection', () => {
  it('holds the full CustomerSessionV2 with its exact total and the latest event time', () => {
    const s = new SessionHistory(1, 'cart-1', 42)
      .created(T1, { profileId: 'p', couponCodes: ['SPRING'] })
      .cartAdded(T2, 0, [shirt])
      .closed(T3, 'p', '59.97', [counted(3, '59.97')]);
    const summary = project(s)!;
    expect(summary.total).toBe('59.97');
    expect(summary.session).toMatchObject({
      id: 42,
      integrationId: 'cart-1',
      applicationId: 1,
      profileId: 'p',
      couponCodes: ['SPRING'],
      state: 'closed',
      created: T1,
      updated: T3,
      updateCount: 3,
      total: 59.97,
      cartItems: [
        { sku: 'SHIRT', quantity: 3, returnedQuantity: 0, remainingQuantity: 3, price: 19.99, position: 0 },
      ],
    });
  });

  it('shows a cancel after close as cancelled with the totals unchanged', () => {
    const s = new SessionHistory(1, 'c', 1)
      .created(T1, { cartItems: [shirt] })
      .closed(T2, '', '59.97', [counted(3, '59.97')])
      .cancelled(T3, '', 'closed', '59.97', [counted(3, '59.97')]);
    expect(project(s)!.session).toMatchObject({ state: 'cancelled', total: 59.97, updated: T3 });
  });

  it('shows a reopen after close as open again', () => {
    const s = new SessionHistory(1, 'c', 1)
      .created(T1, { cartItems: [shirt] })
      .closed(T2, '', '59.97', [counted(3, '59.97')])
      .reopened(T3, '', '59.97', [counted(3, '59.97')]);
    expect(project(s)!.session.state).toBe('open');
  });

  it('accumulates repeated partial returns on the cart line', () => {
    const s = new SessionHistory(1, 'c', 1)
      .created(T1, { cartItems: [shirt] })
      .closed(T2, '', '59.97', [counted(3, '59.97')])
      .returned(T3, '', 'closed', [counted(1, '19.99')], '19.99')
      .returned(T4, '', 'partially_returned', [counted(1, '19.99')], '19.99');
    expect(project(s)!.session).toMatchObject({
      state: 'partially_returned',
      total: 59.97,
      cartItems: [{ returnedQuantity: 2, remainingQuantity: 1 }],
    });
  });

  it('changes nothing when the same events are delivered twice', () => {
    const s = new SessionHistory(1, 'c', 1)
      .created(T1, { cartItems: [shirt] })
      .couponsChanged(T2, ['A'])
      .closed(T3, '', '59.97', [counted(3, '59.97')]);
    const once = project(s);
    expect(project(s, [...s.events, ...s.events])).toEqual(once);
    expect(
      project(s, [s.events[0], s.events[1], s.events[0], s.events[1], s.events[2], s.events[1]]),
    ).toEqual(once);
  });

  it('ignores a stream whose creation it never saw instead of inventing a session', () => {
    const s = new SessionHistory(1, 'c', 1).created(T1).couponsChanged(T2, ['A']);
    expect(project(s, s.events.slice(1))).toBeUndefined();
  });
});
