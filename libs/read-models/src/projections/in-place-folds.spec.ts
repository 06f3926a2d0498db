import fc from 'fast-check';
import type { CountedLine } from '@session-engine/session-domain';
import type { ProjectedEvent } from '../projected-event';
import { SessionHistory } from '../testing/session-history';
import { foldCustomerProfiles, type ProfileState } from './customer-profiles.projection';
import { dailyAnalyticsProjection, type DailyAnalyticsRow } from './daily-analytics.projection';
import { foldFlow, type FlowProjection, type FlowState } from './flow-projection';
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
const money = fc.oneof(
  fc.integer({ min: 0, max: 100_000 }).map((cents) => (cents / 100).toString()),
  fc.constantFrom('0', '19.990', '0.1', '0.0000001', '12345678901234567890.123', '1e-7', '-0', '5.5'),
);
const line = fc.record({
  position: fc.integer({ min: 0, max: 3 }),
  sku: fc.constantFrom('HAT', 'CAP', 'SOCK'),
  quantity: fc.integer({ min: 0, max: 5 }),
  value: money,
});
const lines = fc.array(line, { maxLength: 4 });
const day = fc.integer({ min: 1, max: 3 }).map((d) => `2025-03-0${d}T10:00:00.000Z`);
const profile = fc.constantFrom('', 'p1', 'p2');

type Step = (h: SessionHistory) => void;
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.tuple(day, profile, profile, fc.boolean()).map(
    ([at, from, to, first]) =>
      (h: SessionHistory) =>
        void h.profileChanged(at, from, to, first),
  ),
  fc.tuple(day, profile, money, lines).map(([at, p, total, items]) => (h: SessionHistory) => {
    h.closed(at, p, total, items as CountedLine[]);
  }),
  fc.tuple(day, profile, lines, money).map(([at, p, items, value]) => (h: SessionHistory) => {
    h.returned(at, p, 'closed', items as CountedLine[], value);
  }),
  fc.tuple(day, profile, money, lines).map(([at, p, value, items]) => (h: SessionHistory) => {
    h.cancelled(at, p, 'closed', value, items as CountedLine[]);
  }),
  fc.tuple(day, profile, money, lines).map(([at, p, value, items]) => (h: SessionHistory) => {
    h.reopened(at, p, value, items as CountedLine[]);
  }),
  day.map((at) => (h: SessionHistory) => void h.couponsChanged(at, ['C'])),
);
const session = fc.record({
  app: fc.integer({ min: 1, max: 2 }),
  created: fc.tuple(day, profile, fc.boolean()),
  steps: fc.array(step, { maxLength: 6 }),
  fromMiddle: fc.boolean(),
});
const log = fc
  .tuple(
    fc.array(session, { minLength: 1, maxLength: 6 }),
    fc.array(fc.nat(), { maxLength: 60 }),
    fc.array(fc.nat(), { maxLength: 8 }),
  )
  .map(([sessions, picks, replays]) => {
    const streams = sessions.map((s, i) => {
      const h = new SessionHistory(s.app, `s${i}`, i + 1).created(s.created[0], {
        profileId: s.created[1],
        firstSession: s.created[2],
      });
      for (const apply of s.steps) apply(h);
      return s.fromMiddle && h.events.length > 1 ? h.events.slice(1) : [...h.events];
    });
    // Interleave the streams (each in its own order), then replay some events.
    const events: ProjectedEvent[] = [];
    let p = 0;
    for (let open = streams.filter((s) => s.length > 0); open.length > 0;) {
      const stream = open[(picks[p++] ?? 0) % open.length];
      events.push(stream.shift()!);
      open = open.filter((s) => s.length > 0);
    }
    for (const k of replays) {
      if (events.length > 0) events.splice(k % events.length, 0, events[k % events.length]);
    }
    return events.map((event, i) => ({ ...event, position: BigInt(i + 1) }));
  });

function pure(events: ProjectedEvent[]) {
  const profiles: ProfileState = { sessions: new Map(), profiles: new Map() };
  const daily: FlowState<DailyAnalyticsRow> = { rows: new Map(), revisions: new Map() };
  const sku: FlowState<SkuAnalyticsRow> = { rows: new Map(), revisions: new Map() };
  const changed = {
    profiles: foldCustomerProfiles(profiles, events),
    daily: foldFlow(dailyAnalyticsProjection as FlowProjection<unknown, DailyAnalyticsRow>, daily, events),
    sku: foldFlow(skuAnalyticsProjection as FlowProjection<unknown, SkuAnalyticsRow>, sku, events),
  };
  return { profiles, daily, sku, changed };
}

/** Rows with their keys in order (the order mismatches are reported in). */
const entries = <T>(map: Map<string, T>) =>
  [...map].map(([id, row]) => [id, Object.entries(row as Record<string, unknown>)]);

const sorted = (keys: Set<string>) => [...keys].sort();

describe('in-place folds', () => {
  it('change the same rows as the pure folds, on rows loaded from an earlier batch (the writers)', () => {
    fc.assert(
      fc.property(log, fc.nat(), (events, cut) => {
        const at = cut % (events.length + 1);
        const later = events.slice(at);
        // The pure folds go on from the rows the earlier batch left…
        const want = pure(events.slice(0, at));
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
        const got = structuredClone(pure(events.slice(0, at)));
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
        expect(entries(got.profiles.sessions)).toEqual(entries(want.profiles.sessions));
        expect(entries(got.profiles.profiles)).toEqual(entries(want.profiles.profiles));
        expect(entries(got.daily.rows)).toEqual(entries(want.daily.rows));
        expect(entries(got.sku.rows)).toEqual(entries(want.sku.rows));
        expect([...got.daily.revisions]).toEqual([...want.daily.revisions]);
        expect([...got.sku.revisions]).toEqual([...want.sku.revisions]);
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
    const state = pure(h.events);
    const before = pure(h.events);
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
