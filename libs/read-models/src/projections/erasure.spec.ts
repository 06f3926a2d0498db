import fc from 'fast-check';
import type { CountedLine } from '@session-engine/session-domain';
import type { ProjectedEvent, ProjectedItem, ProjectedTombstone } from '../projected-event';
import { ReadModelRecomputation } from '../read-model-recompute';
import { entries } from '../testing/generated-log';
import { inLogOrder, SessionHistory } from '../testing/session-history';
import { PROJECTION_NAMES, type ProjectionName } from '../writers/projection-writer';

/**
 * A session stream tombstoned (an erasure): the projections drop what they hold of it when they reach its
 * `$streamDeleted`. Sessions, profile sessions, customer profiles and the analytics' stream revisions become what
 * a replay of the log without the stream's events gives; the daily and SKU sums keep what the stream added (no
 * customer data; a rebuild after the scavenge recomputes them). Folded as `replay verify` folds
 * (`ReadModelRecomputation`, on the same in-place folds and erasures as the projector's writers).
 */

const T1 = '2025-03-01T10:00:00.000Z';
const T2 = '2025-03-02T10:00:00.000Z';
const T3 = '2025-03-03T10:00:00.000Z';
const hat = (quantity: number, value: string): CountedLine => ({ position: 0, sku: 'HAT', quantity, value });

/** Every projection up to the end of the log. */
const everything = () =>
  new ReadModelRecomputation(new Map(PROJECTION_NAMES.map((name) => [name, 1n << 62n])));

function fold(items: readonly ProjectedItem[], limits?: Partial<Record<ProjectionName, bigint>>) {
  const recomputation = limits
    ? new ReadModelRecomputation(new Map(PROJECTION_NAMES.map((name) => [name, limits[name] ?? 1n << 62n])))
    : everything();
  recomputation.applyAll(items);
  return recomputation;
}

/** The rows a replay compares, analytics sums apart, in key order (as the tables hold them). */
function customerRows(r: ReadModelRecomputation) {
  const sorted = <T>(map: Map<string, T>) => entries(new Map([...map].sort(([a], [b]) => (a < b ? -1 : 1))));
  return {
    sessions: [...r.sessions.keys()].sort(),
    profileSessions: sorted(r.profiles.sessions),
    profiles: sorted(r.profiles.profiles),
    dailyStreams: sorted(r.daily.revisions),
    skuStreams: sorted(r.sku.revisions),
  };
}

const without = (events: readonly ProjectedEvent[], streamIds: string[]) =>
  events.filter((e) => !streamIds.includes(e.streamId));

describe('a tombstone of a session stream, in the projections', () => {
  it("given a profile's first session and a later one, when the first is erased, then the profile counts the other alone", () => {
    const first = new SessionHistory(1, 'first', 1)
      .created(T1, { profileId: 'jane', couponCodes: ['SPRING'] })
      .closed(T2, 'jane', '20', [hat(2, '20')]);
    const later = new SessionHistory(1, 'later', 2)
      .created(T1, { profileId: 'jane', firstSession: false })
      .closed(T1, 'jane', '5', [hat(1, '5')]);
    const events = inLogOrder(first, later);

    const erased = fold([...events, first.tombstone()]);

    expect(erased.sessions.has(first.streamId)).toBe(false);
    expect(erased.profiles.sessions.has(first.streamId)).toBe(false);
    expect(erased.profiles.profiles.get('1|jane')).toEqual({
      applicationId: 1,
      profileId: 'jane',
      sessionCount: 1,
      closedSessions: 1,
      totalSales: '5',
      firstSessionIntegrationId: null,
      lastActivity: T1,
    });
    expect(customerRows(erased)).toEqual(customerRows(fold(without(events, [first.streamId]))));
    // The analytics keep what the erased session added, until a rebuild after the scavenge.
    expect(erased.daily.rows.get(`1|${T2.slice(0, 10)}`)).toMatchObject({ sessionsClosed: 1 });
    expect(erased.sku.rows.get(`1|${T2.slice(0, 10)}|HAT`)).toMatchObject({ quantitySold: 2, revenue: '20' });
  });

  it('given every session of a profile, when they are all erased, then the profile row goes and another stays', () => {
    const a = new SessionHistory(1, 'a', 1).created(T1, { profileId: 'jane' }).closed(T2, 'jane', '3', []);
    const b = new SessionHistory(1, 'b', 2).created(T2, { profileId: 'jane', firstSession: false });
    const other = new SessionHistory(1, 'o', 3).created(T1, { profileId: 'max' });
    const events = inLogOrder(a, b, other);

    const erased = fold([...events, a.tombstone(), b.tombstone()]);

    expect([...erased.profiles.profiles.keys()]).toEqual(['1|max']);
    expect([...erased.sessions.keys()]).toEqual([other.streamId]);
    expect(customerRows(erased)).toEqual(customerRows(fold([other.events[0]!])));
  });

  it('given a tombstone in the middle of the log, when a later session of the profile follows, then it is counted from nothing', () => {
    const a = new SessionHistory(1, 'a', 1).created(T1, { profileId: 'jane' });
    const tombstone = a.tombstone();
    const b = new SessionHistory(1, 'b', 2).created(T3, { profileId: 'jane', firstSession: false });

    const erased = fold([...a.events, tombstone, ...b.events]);

    expect(erased.profiles.profiles.get('1|jane')).toMatchObject({
      sessionCount: 1,
      firstSessionIntegrationId: null,
      lastActivity: T3,
    });
    expect(customerRows(erased)).toEqual(customerRows(fold(b.events)));
  });

  it('given a stream the projections never saw, or one erased already, when its tombstone comes, then nothing changes', () => {
    const a = new SessionHistory(1, 'a', 1).created(T1, { profileId: 'jane' });
    const ghost = new SessionHistory(1, 'ghost', 9);
    const tombstone = a.tombstone();
    const once = fold([...a.events, ghost.tombstone(), tombstone]);
    const twice = fold([...a.events, ghost.tombstone(), tombstone, tombstone]);
    expect(customerRows(twice)).toEqual(customerRows(once));
    expect(customerRows(fold([...a.events, ghost.tombstone()]))).toEqual(customerRows(fold(a.events)));
  });

  it('given a projection whose checkpoint is before the tombstone, then it keeps the session (it has not reached it)', () => {
    const a = new SessionHistory(1, 'a', 1).created(T1, { profileId: 'jane' });
    const tombstone = a.tombstone();
    const partly = fold([...a.events, tombstone], { customer_profiles: tombstone.position - 1n });
    expect(partly.sessions.has(a.streamId)).toBe(false);
    expect(partly.profiles.sessions.has(a.streamId)).toBe(true);
    expect(partly.profiles.profiles.get('1|jane')).toMatchObject({ sessionCount: 1 });
  });

  /**
   * Sessions that each keep one profile (the erase command erases a session that named the profile, whatever
   * it names now), at most one of them its profile's first (the one that claimed it: the claim stream lets one
   * session only), and whose events' times do not go back: the erasure then leaves exactly what a replay without
   * the erased streams gives, wherever their tombstones fall after their events.
   */
  const day = fc.integer({ min: 1, max: 3 });
  const money = fc.constantFrom('0', '5', '19.99', '0.1', '12345678901234567890.123');
  type Step = (h: SessionHistory, at: string, profile: string) => void;
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.tuple(money, fc.integer({ min: 0, max: 3 })).map(
      ([total, n]) =>
        (h: SessionHistory, at: string, p: string) =>
          void h.closed(at, p, total, n > 0 ? [hat(n, total)] : []),
    ),
    money.map((value) => (h: SessionHistory, at: string, p: string) => {
      h.returned(at, p, 'closed', [hat(1, value)], value);
    }),
    money.map((value) => (h: SessionHistory, at: string, p: string) => {
      h.cancelled(at, p, 'closed', value, [hat(1, value)]);
    }),
    money.map((value) => (h: SessionHistory, at: string, p: string) => {
      h.reopened(at, p, value, [hat(1, value)]);
    }),
    fc.constant((h: SessionHistory, at: string) => void h.couponsChanged(at, ['C'])),
  );
  const session = fc.record({
    app: fc.integer({ min: 1, max: 2 }),
    profile: fc.constantFrom('', 'p1', 'p2'),
    first: fc.boolean(),
    steps: fc.array(fc.tuple(step, day), { maxLength: 5 }),
    start: day,
    erased: fc.boolean(),
    /** How many of the log's later events come before its tombstone. */
    delay: fc.nat({ max: 20 }),
  });

  it('leaves, for sessions that keep their profile, what a replay of the log without them gives', () => {
    fc.assert(
      fc.property(
        fc.array(session, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat()),
        (sessions, picks) => {
          const claimed = new Set<string>();
          const histories = sessions.map((s, i) => {
            const h = new SessionHistory(s.app, `s${i}`, i + 1);
            let d = s.start;
            const profile = `${s.app}|${s.profile}`;
            const first = s.first && s.profile !== '' && !claimed.has(profile);
            if (first) claimed.add(profile);
            h.created(`2025-03-0${d}T10:00:00.000Z`, { profileId: s.profile, firstSession: first });
            for (const [apply, more] of s.steps) {
              d = Math.min(3, d + (more - 1)); // times never go back within a session
              apply(h, `2025-03-0${d}T10:00:00.000Z`, s.profile);
            }
            return h;
          });
          // Interleave the streams; each erased stream's tombstone comes `delay` events after its last one.
          const queues = histories.map((h) => [...h.events]);
          const items: (ProjectedEvent | { tombstoneOf: number })[] = [];
          const pending: { index: number; after: number }[] = [];
          let p = 0;
          for (let open = queues.filter((q) => q.length > 0); open.length > 0;) {
            const queue = open[(picks[p++] ?? 0) % open.length]!;
            items.push(queue.shift()!);
            const index = queues.indexOf(queue);
            if (queue.length === 0 && sessions[index]!.erased)
              pending.push({ index, after: items.length + sessions[index]!.delay });
            for (const due of pending.filter((t) => t.after <= items.length)) {
              items.push({ tombstoneOf: due.index });
              pending.splice(pending.indexOf(due), 1);
            }
            open = queues.filter((q) => q.length > 0);
          }
          for (const due of pending) items.push({ tombstoneOf: due.index });
          const log: ProjectedItem[] = items.map((item, i) => {
            const position = BigInt(i + 1);
            if ('tombstoneOf' in item) {
              const streamId = histories[item.tombstoneOf]!.streamId;
              return { kind: 'tombstone', streamId, position } satisfies ProjectedTombstone;
            }
            return { ...item, position };
          });
          const erasedStreams = histories.filter((_, i) => sessions[i]!.erased).map((h) => h.streamId);
          const events = log.filter((item): item is ProjectedEvent => item.kind !== 'tombstone');

          // Not the sessions projection: these histories are no domain's (a return of a line no cart holds).
          const limits = { sessions: -1n };
          expect(customerRows(fold(log, limits))).toEqual(
            customerRows(fold(without(events, erasedStreams), limits)),
          );
          // The sums per day and SKU are those of the whole log.
          const sums = (r: ReadModelRecomputation) => [entries(r.daily.rows), entries(r.sku.rows)];
          expect(sums(fold(log, limits))).toEqual(sums(fold(events, limits)));
        },
      ),
      { numRuns: 500 },
    );
  });
});
