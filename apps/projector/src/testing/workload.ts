import { SessionHistory } from '@session-engine/read-models/testing/session-history';
import Decimal from 'decimal.js';

const SKUS = ['SHIRT', 'HAT', 'SOCKS', 'SHOES', 'BELT'];

/**
 * A mixed workload with every path the projections care about: closes, repeated partial returns,
 * cancels after close, reopen and close again, profile changes; over several days and applications.
 * 4.5 events per session on average.
 */
export function workload(sessions: number, offset = 0): SessionHistory[] {
  return Array.from({ length: sessions }, (_, k) => {
    const i = offset + k;
    const day = `2025-05-${String(1 + (i % 28)).padStart(2, '0')}`;
    const next = `2025-05-${String(2 + (i % 28)).padStart(2, '0')}`;
    const at = (d: string, hour: number) => `${d}T${String(hour).padStart(2, '0')}:00:00.000Z`;
    const profile = i % 5 === 0 ? '' : `profile-${i % 97}`;
    const sku = SKUS[i % SKUS.length];
    const price = `${(i % 50) + 1}.${String(i % 100).padStart(2, '0')}`;
    const value = (q: number) => new Decimal(price).times(q).toString();
    const line = (q: number) => ({ position: 0, sku, quantity: q, value: value(q) });
    const h = new SessionHistory(1 + (i % 3), `w-${i}`, 1_000_000 + i)
      .created(at(day, 8), { profileId: profile, firstSession: i < 97 })
      .cartAdded(at(day, 9), 0, [{ sku, quantity: 3, price }]);
    switch (i % 4) {
      case 0:
        return h
          .closed(at(day, 10), profile, value(3), [line(3)])
          .returned(at(next, 11), profile, 'closed', [line(1)], value(1))
          .returned(at(next, 12), profile, 'partially_returned', [line(1)], value(1));
      case 1:
        return h
          .closed(at(day, 10), profile, value(3), [line(3)])
          .cancelled(at(next, 9), profile, 'closed', value(3), [line(3)]);
      case 2:
        return h
          .closed(at(day, 10), profile, value(3), [line(3)])
          .reopened(at(day, 11), profile, value(3), [line(3)])
          .closed(at(next, 10), profile, value(3), [line(3)]);
      default:
        return h
          .profileChanged(at(day, 10), profile, `moved-${i % 11}`, false)
          .couponsChanged(at(day, 11), [`C-${i}`]);
    }
  });
}
