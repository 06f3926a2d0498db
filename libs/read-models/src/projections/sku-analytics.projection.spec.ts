import { SessionHistory, line } from '../testing/session-history';
import type { ProjectedEvent } from '../projected-event';
import { foldFlow } from './flow-projection';
import { skuAnalyticsProjection, type SkuAnalyticsRow } from './sku-analytics.projection';

const DAY1 = '2025-03-01T10:00:00.000Z';
const DAY2 = '2025-03-02T10:00:00.000Z';

function project(events: ProjectedEvent[]) {
  const state = { rows: new Map<string, SkuAnalyticsRow>(), revisions: new Map<string, number>() };
  foldFlow(skuAnalyticsProjection, state, events);
  return { row: (date: string, sku: string) => state.rows.get(`1|${date}|${sku}`), state };
}

describe('SKU analytics projection', () => {
  it('adds the lines of one SKU spread over several cart positions', () => {
    const s = new SessionHistory(1, 'a', 1)
      .created(DAY1)
      .closed(DAY1, '', '35', [line(0, 'HAT', 1, '10'), line(1, 'SOCK', 2, '5'), line(2, 'HAT', 2, '20')]);
    const { row } = project(s.events);
    expect(row('2025-03-01', 'HAT')).toEqual({
      applicationId: 1,
      sku: 'HAT',
      date: '2025-03-01',
      quantitySold: 3,
      quantityReturned: 0,
      revenue: '30',
    });
    expect(row('2025-03-01', 'SOCK')).toMatchObject({ quantitySold: 2, revenue: '5' });
  });

  it('counts returned units and takes their value off revenue on the return day', () => {
    const s = new SessionHistory(1, 'a', 1)
      .created(DAY1)
      .closed(DAY1, '', '30', [line(0, 'HAT', 3, '30')])
      .returned(DAY2, '', 'closed', [line(0, 'HAT', 1, '10')], '10')
      .returned(DAY2, '', 'partially_returned', [line(0, 'HAT', 1, '10')], '10');
    expect(project(s.events).row('2025-03-02', 'HAT')).toMatchObject({
      quantitySold: 0,
      quantityReturned: 2,
      revenue: '-20',
    });
  });

  it('takes back the units still counted when a closed session is cancelled', () => {
    const s = new SessionHistory(1, 'a', 1)
      .created(DAY1)
      .closed(DAY1, '', '30', [line(0, 'HAT', 3, '30')])
      .returned(DAY1, '', 'closed', [line(0, 'HAT', 1, '10')], '10')
      .cancelled(DAY2, '', 'partially_returned', '20', [line(0, 'HAT', 2, '20')]);
    const { row } = project(s.events);
    expect(row('2025-03-01', 'HAT')).toMatchObject({ quantitySold: 3, quantityReturned: 1, revenue: '20' });
    expect(row('2025-03-02', 'HAT')).toMatchObject({ quantitySold: -2, quantityReturned: 0, revenue: '-20' });
  });

  it('takes back sold units on reopen and sells them again on the next close', () => {
    const s = new SessionHistory(1, 'a', 1)
      .created(DAY1)
      .closed(DAY1, '', '20', [line(0, 'HAT', 2, '20')])
      .reopened(DAY1, '', '20', [line(0, 'HAT', 2, '20')])
      .closed(DAY1, '', '10', [line(0, 'HAT', 1, '10')]);
    expect(project(s.events).row('2025-03-01', 'HAT')).toMatchObject({ quantitySold: 1, revenue: '10' });
  });

  it('touches no row for events that move no units', () => {
    const s = new SessionHistory(1, 'a', 1)
      .created(DAY1)
      .couponsChanged(DAY1, ['X'])
      .cancelled(DAY1, '', 'open');
    expect(project(s.events).state.rows.size).toBe(0);
  });

  it('changes nothing when the same events are delivered twice', () => {
    const s = new SessionHistory(1, 'a', 1)
      .created(DAY1)
      .closed(DAY1, '', '30', [line(0, 'HAT', 3, '30')])
      .returned(DAY2, '', 'closed', [line(0, 'HAT', 1, '10')], '10');
    expect([...project([...s.events, ...s.events]).state.rows]).toEqual([...project(s.events).state.rows]);
  });
});
