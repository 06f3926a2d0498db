import fc from 'fast-check';
import { entries, expectSameRows, generatedLog as log, pureFolds } from '../testing/generated-log';
import { SessionHistory } from '../testing/session-history';
import { foldCustomerProfiles } from './customer-profiles.projection';
import { dailyAnalyticsProjection, type DailyAnalyticsRow } from './daily-analytics.projection';
import { foldFlow, type FlowProjection } from './flow-projection';
import {
  dailyAnalyticsIds,
  foldCustomerProfilesInPlace,
  foldDailyAnalyticsInPlace,
  foldSkuAnalyticsInPlace,
  skuAnalyticsIds,
  StreamNames,
} from './in-place-folds';
import { skuAnalyticsProjection, type SkuAnalyticsRow } from './sku-analytics.projection';

/**
 * The projector's writers fold customer profiles and the analytics in place, on the rows a batch
 * loaded; these properties hold them to the projections' own pure folds on generated histories
 * (interleaved sessions, profile moves, closes, returns, cancels and reopens, SKUs repeated within an
 * event, amounts outside the integer fast path, replayed events, streams read from their middle),
 * split into an earlier batch and a later one: the same rows, and the same rows reported as changed
 * (what the writers write).
 */

const sorted = (keys: Set<string>) => [...keys].sort();

describe('in-place folds', () => {
  it('change the same rows as the pure folds, on rows loaded from an earlier batch (the writers)', () => {
    fc.assert(
      fc.property(log, fc.nat(), (events, cut) => {
        const at = cut % (events.length + 1);
        const later = events.slice(at);
        // The pure folds go on from the rows the earlier batch left…
        const want = pureFolds(events.slice(0, at));
        const wantChanged = {
          profiles: foldCustomerProfiles(want.profiles, later),
          daily: foldFlow(
            dailyAnalyticsProjection as FlowProjection<unknown, DailyAnalyticsRow>,
            want.daily,
            later,
          ),
          sku: foldFlow(skuAnalyticsProjection as FlowProjection<unknown, SkuAnalyticsRow>, want.sku, later),
        };
        // … the in-place folds from a copy of them, as a writer loads them from the database.
        const got = structuredClone(pureFolds(events.slice(0, at)));
        const names = new StreamNames();
        const changed = { sessions: new Set<string>(), profiles: new Set<string>() };
        const daily = new Set<string>();
        const sku = new Set<string>();
        foldCustomerProfilesInPlace(got.profiles, later, later.length, names, changed);
        foldDailyAnalyticsInPlace(got.daily, later, later.length, names, daily);
        foldSkuAnalyticsInPlace(got.sku, later, later.length, names, sku);
        expect(sorted(changed.sessions)).toEqual(sorted(wantChanged.profiles.sessions));
        expect(sorted(changed.profiles)).toEqual(sorted(wantChanged.profiles.profiles));
        expect(sorted(daily)).toEqual(sorted(wantChanged.daily));
        expect(sorted(sku)).toEqual(sorted(wantChanged.sku));
        expectSameRows(got, want);
      }),
      { numRuns: 500 },
    );
  });

  it('name the rows a batch can touch as the flow projections do (the rows a writer loads)', () => {
    fc.assert(
      fc.property(log, (events) => {
        const keys = <K>(projection: FlowProjection<K, unknown>) =>
          new Set(events.flatMap((e) => projection.keysOf(e).map((k) => projection.keyId(k))));
        const names = new StreamNames();
        expect(sorted(dailyAnalyticsIds(events, names))).toEqual(
          sorted(keys(dailyAnalyticsProjection as FlowProjection<unknown, unknown>)),
        );
        expect(sorted(skuAnalyticsIds(events, names))).toEqual(
          sorted(keys(skuAnalyticsProjection as FlowProjection<unknown, unknown>)),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('reports nothing for a replayed batch and leaves the rows as they are', () => {
    const h = new SessionHistory(1, 's', 1)
      .created('2025-03-01T10:00:00.000Z', { profileId: 'p' })
      .closed('2025-03-01T11:00:00.000Z', 'p', '10', [{ position: 0, sku: 'HAT', quantity: 1, value: '10' }]);
    const state = pureFolds(h.events);
    const before = pureFolds(h.events);
    const changed = { sessions: new Set<string>(), profiles: new Set<string>() };
    const daily = new Set<string>();
    const sku = new Set<string>();
    const names = new StreamNames();
    foldCustomerProfilesInPlace(state.profiles, h.events, h.events.length, names, changed);
    foldDailyAnalyticsInPlace(state.daily, h.events, h.events.length, names, daily);
    foldSkuAnalyticsInPlace(state.sku, h.events, h.events.length, names, sku);
    expect([changed.sessions.size, changed.profiles.size, daily.size, sku.size]).toEqual([0, 0, 0, 0]);
    expect(entries(state.profiles.sessions)).toEqual(entries(before.profiles.sessions));
    expect(entries(state.profiles.profiles)).toEqual(entries(before.profiles.profiles));
    expect(entries(state.daily.rows)).toEqual(entries(before.daily.rows));
    expect(entries(state.sku.rows)).toEqual(entries(before.sku.rows));
    expect(state.profiles.profiles.get('1|p')).toMatchObject({ closedSessions: 1, totalSales: '10' });
  });
});
