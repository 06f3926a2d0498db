import { SessionHistory, inLogOrder } from '../testing/session-history';
import type { ProjectedEvent } from '../projected-event';
import { dailyAnalyticsProjection, type DailyAnalyticsRow } from './daily-analytics.projection';
import { foldFlow } from './flow-projection';

const DAY1 = '2025-03-01T10:00:00.000Z';
const DAY1_LATE = '2025-03-01T23:59:59.999Z';
const DAY2 = '2025-03-02T00:00:00.000Z';
const DAY3 = '2025-03-03T08:30:00.000Z';

const shoes = (quantity: number, value: string) => ({ position: 0, sku: 'SHOE', quantity, value });

function project(events: ProjectedEvent[]) {
  const state = { rows: new Map<string, DailyAnalyticsRow>(), revisions: new Map<string, number>() };
  foldFlow(dailyAnalyticsProjection, state, events);
  return {
    day: (date: string, applicationId = 1) => state.rows.get(`${applicationId}|${date}`),
    state,
  };
}

describe('daily analytics projection', () => {
  it('counts a session created and closed on the same day as gross and net revenue of that day', () => {
    const s = new SessionHistory(1, 'a', 1).created(DAY1).closed(DAY1_LATE, '', '60.07', [shoes(3, '60.07')]);
    const { day } = project(s.events);
    expect(day('2025-03-01')).toEqual({
      applicationId: 1,
      date: '2025-03-01',
      sessionsCreated: 1,
      sessionsClosed: 1,
      sessionsCancelled: 0,
      sessionsReopened: 0,
      itemsReturned: 0,
      grossRevenue: '60.07',
      returnedValue: '0',
      reversedRevenue: '0',
      netRevenue: '60.07',
    });
  });

  it('takes back on the cancel day what a closed session still counted, so the range nets to zero', () => {
    const s = new SessionHistory(1, 'a', 1)
      .created(DAY1)
      .closed(DAY1, '', '100', [shoes(2, '100')])
      .returned(DAY2, '', 'closed', [shoes(1, '50')], '50')
      .cancelled(DAY3, '', 'partially_returned', '50', [shoes(1, '50')]);
    const { day } = project(s.events);
    expect(day('2025-03-01')).toMatchObject({ grossRevenue: '100', netRevenue: '100' });
    expect(day('2025-03-02')).toMatchObject({ itemsReturned: 1, returnedValue: '50', netRevenue: '-50' });
    expect(day('2025-03-03')).toMatchObject({
      sessionsCancelled: 1,
      reversedRevenue: '50',
      netRevenue: '-50',
    });
  });

  it('takes back nothing when an open session is cancelled', () => {
    const s = new SessionHistory(1, 'a', 1).created(DAY1).cancelled(DAY2, '', 'open');
    expect(project(s.events).day('2025-03-02')).toMatchObject({
      sessionsCancelled: 1,
      reversedRevenue: '0',
      netRevenue: '0',
    });
  });

  it('reverses revenue on reopen and counts it again on the second close', () => {
    const s = new SessionHistory(1, 'a', 1)
      .created(DAY1)
      .closed(DAY1, '', '30.10', [shoes(1, '30.10')])
      .reopened(DAY2, '', '30.10', [shoes(1, '30.10')])
      .closed(DAY2, '', '45.20', [shoes(2, '45.20')]);
    const { day } = project(s.events);
    expect(day('2025-03-02')).toMatchObject({
      sessionsReopened: 1,
      sessionsClosed: 1,
      grossRevenue: '45.2',
      reversedRevenue: '30.1',
      netRevenue: '15.1',
    });
  });

  it('adds up repeated partial returns exactly, without float artefacts', () => {
    const s = new SessionHistory(1, 'a', 1)
      .created(DAY1)
      .closed(DAY1, '', '0.3', [shoes(3, '0.3')])
      .returned(DAY2, '', 'closed', [shoes(1, '0.1')], '0.1')
      .returned(DAY2, '', 'partially_returned', [shoes(1, '0.1')], '0.1')
      .returned(DAY2, '', 'partially_returned', [shoes(1, '0.1')], '0.1');
    expect(project(s.events).day('2025-03-02')).toMatchObject({
      itemsReturned: 3,
      returnedValue: '0.3',
      netRevenue: '-0.3',
    });
  });

  it('keeps applications apart and dates events by their own UTC day', () => {
    const a = new SessionHistory(1, 'x', 1).created(DAY1_LATE);
    const b = new SessionHistory(2, 'x', 2).created(DAY2);
    const { day } = project(inLogOrder(a, b));
    expect(day('2025-03-01', 1)?.sessionsCreated).toBe(1);
    expect(day('2025-03-02', 1)).toBeUndefined();
    expect(day('2025-03-02', 2)?.sessionsCreated).toBe(1);
  });

  it('changes nothing when the same events are delivered twice', () => {
    const s = new SessionHistory(1, 'a', 1)
      .created(DAY1)
      .closed(DAY1, '', '10', [shoes(1, '10')])
      .returned(DAY2, '', 'closed', [shoes(1, '10')], '10');
    const once = project(s.events);
    const twice = project([...s.events, ...s.events]);
    const overlapping = project([...s.events.slice(0, 2), ...s.events]);
    expect([...twice.state.rows]).toEqual([...once.state.rows]);
    expect([...overlapping.state.rows]).toEqual([...once.state.rows]);
  });
});
