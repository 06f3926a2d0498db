import { SessionHistory, inLogOrder } from '../testing/session-history';
import type { ProjectedEvent } from '../projected-event';
import { foldCustomerProfiles, type ProfileState } from './customer-profiles.projection';

const T1 = '2025-03-01T10:00:00.000Z';
const T2 = '2025-03-02T10:00:00.000Z';
const T3 = '2025-03-03T10:00:00.000Z';
const T4 = '2025-03-04T10:00:00.000Z';
const hat = (quantity: number, value: string) => ({ position: 0, sku: 'HAT', quantity, value });

function project(events: ProjectedEvent[]) {
  const state: ProfileState = { sessions: new Map(), profiles: new Map() };
  foldCustomerProfiles(state, events);
  return { profile: (profileId: string) => state.profiles.get(`1|${profileId}`), state };
}

describe('customer profiles projection', () => {
  it('counts a closed session with its total and names the session that claimed the profile', () => {
    const first = new SessionHistory(1, 's1', 1)
      .created(T1, { profileId: 'p' })
      .closed(T2, 'p', '19.99', [hat(1, '19.99')]);
    const second = new SessionHistory(1, 's2', 2).created(T3, { profileId: 'p', firstSession: false });
    expect(project(inLogOrder(first, second)).profile('p')).toEqual({
      applicationId: 1,
      profileId: 'p',
      sessionCount: 2,
      closedSessions: 1,
      totalSales: '19.99',
      firstSessionIntegrationId: 's1',
      lastActivity: T3,
    });
  });

  it('keeps a partially returned session counted, minus the value of every return', () => {
    const s = new SessionHistory(1, 's1', 1)
      .created(T1, { profileId: 'p' })
      .closed(T1, 'p', '30', [hat(3, '30')])
      .returned(T2, 'p', 'closed', [hat(1, '10')], '10')
      .returned(T3, 'p', 'partially_returned', [hat(1, '10')], '10');
    expect(project(s.events).profile('p')).toMatchObject({
      closedSessions: 1,
      totalSales: '10',
      lastActivity: T3,
    });
  });

  it('stops counting a closed session once it is cancelled, but still counts the session', () => {
    const s = new SessionHistory(1, 's1', 1)
      .created(T1, { profileId: 'p' })
      .closed(T1, 'p', '30', [hat(3, '30')])
      .returned(T2, 'p', 'closed', [hat(1, '10')], '10')
      .cancelled(T3, 'p', 'partially_returned', '20', [hat(2, '20')]);
    expect(project(s.events).profile('p')).toMatchObject({
      sessionCount: 1,
      closedSessions: 0,
      totalSales: '0',
    });
  });

  it('stops counting a reopened session until it is closed again with its new total', () => {
    const s = new SessionHistory(1, 's1', 1)
      .created(T1, { profileId: 'p' })
      .closed(T1, 'p', '30', [hat(3, '30')]);
    expect(project(s.events).profile('p')).toMatchObject({ closedSessions: 1, totalSales: '30' });
    s.reopened(T2, 'p', '30', [hat(3, '30')]);
    expect(project(s.events).profile('p')).toMatchObject({ closedSessions: 0, totalSales: '0' });
    s.closed(T3, 'p', '12.5', [hat(1, '12.5')]);
    expect(project(s.events).profile('p')).toMatchObject({ closedSessions: 1, totalSales: '12.5' });
  });

  it('moves an open session from the anonymous profile to the one it is given later', () => {
    const s = new SessionHistory(1, 's1', 1)
      .created(T1, { profileId: '', firstSession: true })
      .profileChanged(T2, '', 'p', true)
      .closed(T3, 'p', '5', [hat(1, '5')]);
    const { profile, state } = project(s.events);
    expect(profile('')).toBeUndefined();
    expect(profile('p')).toMatchObject({
      sessionCount: 1,
      closedSessions: 1,
      firstSessionIntegrationId: 's1',
    });
    expect(state.profiles.size).toBe(1);
  });

  it('takes a session out of the profile it leaves', () => {
    const s = new SessionHistory(1, 's1', 1)
      .created(T1, { profileId: 'a' })
      .profileChanged(T2, 'a', 'b', true);
    const { profile } = project(s.events);
    expect(profile('a')).toMatchObject({ sessionCount: 0, lastActivity: T1 });
    expect(profile('b')).toMatchObject({ sessionCount: 1, lastActivity: T2 });
  });

  it('changes nothing when the same events are delivered twice', () => {
    const a = new SessionHistory(1, 's1', 1)
      .created(T1, { profileId: 'p' })
      .closed(T2, 'p', '30', [hat(3, '30')])
      .returned(T3, 'p', 'closed', [hat(1, '10')], '10');
    const b = new SessionHistory(1, 's2', 2)
      .created(T2, { profileId: 'p', firstSession: false })
      .cancelled(T4, 'p', 'open');
    const events = inLogOrder(a, b);
    const once = project(events);
    const twice = project([...events, ...events]);
    expect([...twice.state.profiles]).toEqual([...once.state.profiles]);
    expect(once.profile('p')).toMatchObject({
      sessionCount: 2,
      closedSessions: 1,
      totalSales: '20',
      lastActivity: T4,
    });
  });
});
