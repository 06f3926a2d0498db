/**
 * Property tests of the projections' faster folds (the writers' and verify's in-place folds): generated
 * session logs — interleaved sessions of two applications, profile moves, closes, returns, cancels and
 * reopens, sessions created anew on their stream, SKUs repeated within an event, amounts outside the integer fast path, replayed events and
 * streams read from their middle — the projections' own pure folds as the reference, and the comparison.
 */
import { expect } from '@jest/globals';
import fc from 'fast-check';
import type { CountedLine } from '@session-engine/session-domain';
import type { ProjectedEvent } from '../projected-event';
import { foldCustomerProfiles, type ProfileState } from '../projections/customer-profiles.projection';
import { dailyAnalyticsProjection, type DailyAnalyticsRow } from '../projections/daily-analytics.projection';
import { foldFlow, type FlowProjection, type FlowState } from '../projections/flow-projection';
import { skuAnalyticsProjection, type SkuAnalyticsRow } from '../projections/sku-analytics.projection';
import { SessionHistory } from './session-history';

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
  // Soft-deleted and created anew: a second SessionCreated continues the stream's revisions.
  fc.tuple(day, profile, fc.boolean()).map(([at, p, first]) => (h: SessionHistory) => {
    h.created(at, { profileId: p, firstSession: first });
  }),
);
const session = fc.record({
  app: fc.integer({ min: 1, max: 2 }),
  created: fc.tuple(day, profile, fc.boolean()),
  steps: fc.array(step, { maxLength: 6 }),
  fromMiddle: fc.boolean(),
});
/** A log of session events in position order (positions 1, 2, …). */
export const generatedLog: fc.Arbitrary<ProjectedEvent[]> = fc
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

export interface FoldedRows {
  profiles: ProfileState;
  daily: FlowState<DailyAnalyticsRow>;
  sku: FlowState<SkuAnalyticsRow>;
}

/** The projections' pure folds over `events`, and the rows each reported as changed. */
export function pureFolds(events: ProjectedEvent[]) {
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
export const entries = <T>(map: Map<string, T>) =>
  [...map].map(([id, row]) => [id, Object.entries(row as Record<string, unknown>)]);

/** The same profile, session, daily and SKU rows, fields in the same order, and the same stream revisions. */
export function expectSameRows(got: FoldedRows, want: FoldedRows): void {
  expect(entries(got.profiles.sessions)).toEqual(entries(want.profiles.sessions));
  expect(entries(got.profiles.profiles)).toEqual(entries(want.profiles.profiles));
  expect(entries(got.daily.rows)).toEqual(entries(want.daily.rows));
  expect(entries(got.sku.rows)).toEqual(entries(want.sku.rows));
  expect([...got.daily.revisions]).toEqual([...want.daily.revisions]);
  expect([...got.sku.revisions]).toEqual([...want.sku.revisions]);
}
