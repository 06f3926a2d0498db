import fc from 'fast-check';
import { compareReadModels, ReadModelRecomputation } from './read-model-recompute';
import { expectSameRows, generatedLog as log, pureFolds } from './testing/generated-log';
import { inLogOrder, SessionHistory } from './testing/session-history';

/**
 * verify folds customer profiles and the analytics in place, for speed; these properties hold it to
 * the projections' own folds (what the projector writes) on generated histories: interleaved
 * sessions, profile moves, closes, returns, cancels and reopens, SKUs repeated within an event,
 * amounts outside the integer fast path, replayed events and streams read from their middle.
 */

describe('ReadModelRecomputation', () => {
  it('folds profiles and analytics exactly as the projections do, in one run or page by page', () => {
    fc.assert(
      fc.property(log, fc.integer({ min: 1, max: 7 }), (events, pageSize) => {
        const want = pureFolds(events);
        // Sessions left out (checkpoint absent): the generated histories are not all valid for `evolve`.
        const limit = BigInt(events.length);
        const got = new ReadModelRecomputation(
          new Map([
            ['customer_profiles', limit],
            ['daily_analytics', limit],
            ['sku_analytics', limit],
          ]),
        );
        for (let i = 0; i < events.length; i += pageSize) got.applyAll(events.slice(i, i + pageSize));
        expectSameRows(got, want);
      }),
      { numRuns: 500 },
    );
  });

  it('stops each projection at its own checkpoint', () => {
    const h = new SessionHistory(1, 's', 1)
      .created('2025-03-01T10:00:00.000Z', { profileId: 'p' })
      .closed('2025-03-01T11:00:00.000Z', 'p', '10', [{ position: 0, sku: 'HAT', quantity: 1, value: '10' }]);
    const [created, closed] = h.events;
    const got = new ReadModelRecomputation(
      new Map([
        ['sessions', created.position],
        ['customer_profiles', closed.position],
        ['daily_analytics', created.position],
      ]),
    );
    got.applyAll(h.events);
    expect(got.sessions.get('session-1-s')?.revision).toBe(0);
    expect(got.profiles.profiles.get('1|p')).toMatchObject({ closedSessions: 1, totalSales: '10' });
    expect(got.daily.rows.get('1|2025-03-01')).toMatchObject({ sessionsCreated: 1, sessionsClosed: 0 });
    expect(got.sku.rows.size).toBe(0);
  });

  it('compares as compareReadModels does on the expected rows: altered, missing and extra rows, in key order', () => {
    const at = '2025-03-01T10:00:00.000Z';
    const histories = [1, 2, 3].map((i) =>
      new SessionHistory(1, `s${i}`, i)
        .created(at, { profileId: `p${i % 2}`, couponCodes: ['A', 'B', 'A'] })
        .closed(at, `p${i % 2}`, `${i}0`, [{ position: 0, sku: 'HAT', quantity: i, value: `${i}0` }]),
    );
    const events = inLogOrder(...histories);
    const everything = new Map(
      (['sessions', 'customer_profiles', 'daily_analytics', 'sku_analytics'] as const).map((name) => [
        name,
        events[events.length - 1].position,
      ]),
    );
    const recomputation = new ReadModelRecomputation(everything);
    recomputation.applyAll(events);
    const stored = recomputation.expectedRows();
    expect(recomputation.compare(stored)).toEqual([]);
    // Stored rows as read back: other objects, one altered, one missing, one extra, one extra column.
    const copy = structuredClone(stored);
    copy.sessions.get('session-1-s2')!.total = '99';
    copy.session_coupons.delete('session-1-s1|B');
    copy.customer_profiles.set('1|zz', { id: '1|zz', session_count: 1 });
    copy.customer_profiles.set('1|aa', { id: '1|aa', session_count: 1 });
    copy.daily_analytics.get('1|2025-03-01')!.extra = 'x';
    // A column a DBA added, empty in every row: nothing the engine wrote differs (2,205 rows of noise before).
    for (const row of copy.sessions.values()) row.dba_note = null;
    copy.projection_streams.delete('sku_analytics|session-1-s3');
    const mismatches = recomputation.compare(copy);
    expect(mismatches).toEqual(compareReadModels(recomputation.expectedRows(), copy));
    expect(mismatches.map((m) => [m.table, m.key, m.field])).toEqual([
      ['sessions', 'session-1-s2', 'total'],
      ['session_coupons', 'session-1-s1|B', '(row)'],
      ['customer_profiles', '1|aa', '(row)'],
      ['customer_profiles', '1|zz', '(row)'],
      ['daily_analytics', '1|2025-03-01', 'extra'],
      ['projection_streams', 'sku_analytics|session-1-s3', '(row)'],
    ]);
  });
});
