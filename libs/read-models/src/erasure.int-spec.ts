/**
 * An erasure in the read models, on SQLite and PostgreSQL: the projector's writers reach a session stream's
 * tombstone (`$streamDeleted`) and, in the batch's transaction, remove the session's row and coupons, its profile
 * session and its share of the profile (the profile row when it has no session left) and the analytics' stream
 * revisions — what a replay of the log without the session holds — while the daily and SKU sums stay until a
 * rebuild after the scavenge. A tombstone re-delivered after a crash, or of a stream never seen, changes nothing
 * more; `replay verify`'s recomputation and a rebuild apply it the same way.
 */
import type { ReadModelDatabase } from './database';
import { eventsWithoutNul } from './postgres-text';
import type { ProjectedItem } from './projected-event';
import { ReadModelRecomputation, readStoredReadModels } from './read-model-recompute';
import { dumpReadModels } from './read-model-dump';
import { PROJECTION_WRITERS, ReadModelWriter } from './read-model-writer';
import { ReadModelRebuild } from './rebuild';
import { kyselyRowStore } from './row-store';
import { inLogOrder, item, line, SessionHistory } from './testing/session-history';
import { testDatabases, type TestDatabase } from './testing/test-databases';
import { applyItems, PROJECTION_NAMES } from './writers/projection-writer';

jest.setTimeout(60_000);

const T1 = '2025-03-01T10:00:00.000Z';
const T2 = '2025-03-02T11:00:00.000Z';
const T3 = '2025-03-03T12:00:00.000Z';

/** Jane's two sessions (one with an id holding U+0000, stored as U+FFFD on PostgreSQL), Max's, an anonymous one. */
function histories() {
  const jane1 = new SessionHistory(1, 'jane-1\u0000x', 101)
    .created(T1, { profileId: 'Jane', couponCodes: ['SPRING'], cartItems: [item('SHIRT', 2, '10')] })
    .closed(T1, 'Jane', '20', [line(0, 'SHIRT', 2, '20')])
    .returned(T2, 'Jane', 'closed', [line(0, 'SHIRT', 1, '10')], '10');
  const jane2 = new SessionHistory(1, 'jane-2', 102)
    .created(T2, { profileId: 'Jane', firstSession: false, couponCodes: ['JANE-ONLY'] })
    .closed(T2, 'Jane', '0', []);
  const max = new SessionHistory(1, 'max-1', 103)
    .created(T1, { profileId: 'Max', couponCodes: ['SPRING'], cartItems: [item('HAT', 1, '9')] })
    .closed(T3, 'Max', '9', [line(0, 'HAT', 1, '9')]);
  const guest = new SessionHistory(1, 'guest', 104).created(T3, { cartItems: [item('HAT', 1, '9')] });
  return { jane1, jane2, max, guest, events: inLogOrder(jane1, jane2, max, guest) };
}

const last = (items: readonly ProjectedItem[]) => items[items.length - 1]!.position;

const CUSTOMER_TABLES = [
  'sessions',
  'session_coupons',
  'profile_sessions',
  'customer_profiles',
  'projection_streams',
] as const;
const pick = (dump: Record<string, unknown[]>, tables: readonly string[]) =>
  Object.fromEntries(tables.map((t) => [t, dump[t]]));

describe.each(testDatabases())('an erasure in the read models on $name', (database: TestDatabase) => {
  let rm: ReadModelDatabase;

  beforeAll(async () => {
    rm = await database.open();
  });
  afterAll(async () => {
    await rm?.close();
    await database.drop();
  });

  /** Empty read models, then `batches` written by a projector's writer; the rows then. */
  async function project(...batches: ProjectedItem[][]) {
    for (const table of [...CUSTOMER_TABLES, 'daily_analytics', 'sku_analytics', 'projection_checkpoints'])
      await rm.db.deleteFrom(table as never).execute();
    const writer = await ReadModelWriter.open(rm.db);
    for (const batch of batches) await writer.apply(batch, last(batch));
    return dumpReadModels(rm.db);
  }

  it("removes the erased session's row, coupons and profile session, leaves the profile as a replay without it would, and keeps the analytics' sums", async () => {
    const h = histories();
    const projected = await project(h.events);
    const tombstone = h.jane1.tombstone();
    const erased = await project(h.events, [tombstone]);
    const checkpoints = await rm.db.selectFrom('projection_checkpoints').selectAll().execute();
    expect(checkpoints.map((c) => BigInt(c.position))).toEqual(
      PROJECTION_NAMES.map(() => tombstone.position),
    );

    const replayed = await project(h.events.filter((e) => e.streamId !== h.jane1.streamId));
    expect(pick(erased, CUSTOMER_TABLES)).toEqual(pick(replayed, CUSTOMER_TABLES));
    expect(erased.sessions!.map((r) => r.integration_id)).toEqual(['guest', 'jane-2', 'max-1']);
    expect(erased.session_coupons!.map((r) => r.code)).toEqual(['JANE-ONLY', 'SPRING']);
    expect(erased.customer_profiles).toEqual([
      expect.objectContaining({
        id: '1|Jane',
        session_count: 1,
        closed_sessions: 1,
        total_sales: '0',
        first_session_integration_id: null,
      }),
      expect.objectContaining({ id: '1|Max', session_count: 1, total_sales: '9' }),
    ]);
    // Sums per day and SKU, no customer data: as they were.
    expect(pick(erased, ['daily_analytics', 'sku_analytics'])).toEqual(
      pick(projected, ['daily_analytics', 'sku_analytics']),
    );
  });

  it('removes the profile row once none of its sessions is left; another profile is untouched', async () => {
    const h = histories();
    const before = await project(h.events);
    const erased = await project([...h.events, h.jane2.tombstone(), h.jane1.tombstone()]);
    expect(erased.customer_profiles).toEqual(before.customer_profiles!.filter((r) => r.id === '1|Max'));
    expect(erased.profile_sessions!.map((r) => r.stream_id)).toEqual(['session-1-guest', 'session-1-max-1']);
    expect(erased.sessions!.filter((r) => r.profile_id === 'Jane')).toEqual([]);
    expect(erased.projection_streams!.map((r) => r.stream_id)).not.toContain(h.jane2.streamId);
  });

  it('applies a tombstone in the middle of a batch in log order: a later session of the profile counts from nothing', async () => {
    const h = histories();
    const tombstone = h.jane1.tombstone();
    const later = new SessionHistory(1, 'jane-3', 105).created(T3, {
      profileId: 'Jane',
      firstSession: false,
    });
    const erased = await project([...h.events, tombstone, ...later.events]);
    const replayed = await project([
      ...h.events.filter((e) => e.streamId !== h.jane1.streamId),
      ...later.events,
    ]);
    expect(pick(erased, CUSTOMER_TABLES)).toEqual(pick(replayed, CUSTOMER_TABLES));
  });

  it('takes an erased session that moved to another profile out of the profiles it claimed first and left', async () => {
    const h = histories();
    // Lea's first session moves to Max; she has another session later. Ola's only session moves to Max too.
    const leaFirst = new SessionHistory(1, 'lea-first', 106)
      .created(T1, { profileId: 'Lea', firstSession: true })
      .profileChanged(T2, 'Lea', 'Max', false);
    const leaLater = new SessionHistory(1, 'lea-later', 107).created(T3, {
      profileId: 'Lea',
      firstSession: false,
    });
    const olaOnly = new SessionHistory(1, 'ola-only', 108)
      .created(T1, { profileId: 'Ola', firstSession: true })
      .profileChanged(T2, 'Ola', 'Max', false);
    const events = [...h.events, ...inLogOrder(leaFirst, olaOnly), ...leaLater.events];
    const before = await project(events);
    expect(
      before.customer_profiles!.map((r) => [r.id, r.session_count, r.first_session_integration_id]),
    ).toEqual([
      ['1|Jane', 2, 'jane-1\u0000x'.replace('\u0000', rm.dialect === 'postgres' ? '\ufffd' : '\u0000')],
      ['1|Lea', 1, 'lea-first'],
      ['1|Max', 3, 'max-1'],
      ['1|Ola', 0, 'ola-only'],
    ]);

    const tombstones = [leaFirst.tombstone(), olaOnly.tombstone()];
    const erased = await project(events, tombstones);
    // verify's recomputation erases the same way.
    const stored = await readStoredReadModels(rm.db, { dialect: rm.dialect });
    const recomputation = new ReadModelRecomputation(stored.checkpoints);
    recomputation.applyAll([...events, ...tombstones]);
    expect(recomputation.compare(stored.rows)).toEqual([]);
    const moved = [leaFirst.streamId, olaOnly.streamId];
    const replayed = await project(events.filter((e) => !moved.includes(e.streamId)));
    expect(pick(erased, CUSTOMER_TABLES)).toEqual(pick(replayed, CUSTOMER_TABLES));
    expect(JSON.stringify(erased)).not.toMatch(/lea-first|ola-only|"1\|Ola"/);
  });

  it('gives a profile left by its erased first session the first session a replay gives, also when two claim it', async () => {
    // Two sessions of Pia say they are her first (a claim's residual race); the first of them was active last.
    const older = new SessionHistory(1, 'pia-a', 110).created(T1, { profileId: 'Pia', firstSession: true });
    const newer = new SessionHistory(1, 'pia-b', 111).created(T1, { profileId: 'Pia', firstSession: true });
    const leaver = new SessionHistory(1, 'pia-leaver', 112).created(T1, {
      profileId: 'Pia',
      firstSession: true,
    });
    older.couponsChanged(T2, ['LATER']);
    leaver.couponsChanged(T2, ['LAST']).profileChanged(T3, 'Pia', 'Quinn', true);
    const events = inLogOrder(older, newer, leaver);
    const tombstone = leaver.tombstone();
    // One batch per event, as a projector that keeps up writes them.
    const erased = await project(...events.map((e) => [e]), [tombstone]);
    const stored = await readStoredReadModels(rm.db, { dialect: rm.dialect });
    const recomputation = new ReadModelRecomputation(stored.checkpoints);
    recomputation.applyAll([...events, tombstone]);
    expect(recomputation.compare(stored.rows)).toEqual([]);
    const replayed = await project(events.filter((e) => e.streamId !== leaver.streamId));
    expect(erased.customer_profiles).toEqual(replayed.customer_profiles);
    expect(erased.customer_profiles!.find((r) => r.id === '1|Pia')!.first_session_integration_id).toBe(
      'pia-a',
    );
  });

  it('re-delivered after a crash (the checkpoint not moved), or applied twice, leaves the same rows', async () => {
    const h = histories();
    const tombstone = h.jane1.tombstone();
    const once = await project(h.events, [tombstone]);

    await project(h.events);
    const writer = await ReadModelWriter.open(rm.db);
    // The batch fails at its last statement (the projector's lock fence): rolled back whole.
    let fences = 0;
    const crash = async () => {
      if (++fences === 2) throw new Error('crashed before the commit');
    };
    await expect(writer.apply([tombstone], tombstone.position, crash)).rejects.toThrow('crashed');
    await writer.reload();
    await writer.apply([tombstone], tombstone.position);
    expect(await dumpReadModels(rm.db)).toEqual(once);

    // A writer erasing again what is erased already (a rebuild's overlap, say): nothing more changes. (On
    // PostgreSQL the writers see stream names with U+0000 read as U+FFFD, as ReadModelWriter hands them over.)
    const again = rm.dialect === 'postgres' ? eventsWithoutNul([tombstone]) : [tombstone];
    await rm.db.transaction().execute(async (trx) => {
      for (const w of PROJECTION_WRITERS) await applyItems(w, kyselyRowStore(trx), again);
    });
    expect(await dumpReadModels(rm.db)).toEqual(once);
  });

  it('is a no-op for a stream the read models never saw', async () => {
    const h = histories();
    const before = await project(h.events);
    const ghost = new SessionHistory(1, 'never-projected', 999).tombstone();
    expect(await project(h.events, [ghost])).toEqual(before);
    const checkpoints = await rm.db.selectFrom('projection_checkpoints').selectAll().execute();
    expect(checkpoints.map((c) => BigInt(c.position))).toEqual(PROJECTION_NAMES.map(() => ghost.position));
  });

  it("agrees with verify's recomputation; after a scavenge only the analytics sums differ, and a rebuild recomputes them", async () => {
    const h = histories();
    const tombstone = h.jane1.tombstone();
    const log: ProjectedItem[] = [...h.events, tombstone];
    await project(h.events.slice(0, 4), h.events.slice(4), [tombstone]);

    const compare = async (items: readonly ProjectedItem[]) => {
      const stored = await readStoredReadModels(rm.db, { dialect: rm.dialect });
      const recomputation = new ReadModelRecomputation(stored.checkpoints);
      recomputation.applyAll(items);
      return recomputation.compare(stored.rows);
    };
    // Before the scavenge the log holds the erased events and the tombstone.
    expect(await compare(log)).toEqual([]);
    // After it, only the tombstone: the sessions and profiles agree, the days and SKUs it counted do not.
    const scavenged = log.filter((e) => e.kind === 'tombstone' || e.streamId !== h.jane1.streamId);
    const differing = await compare(scavenged);
    expect([...new Set(differing.map((m) => m.table))].sort()).toEqual(['daily_analytics', 'sku_analytics']);
    expect([...new Set(differing.map((m) => m.key))].sort()).toEqual([
      '1|2025-03-01',
      '1|2025-03-01|SHIRT',
      '1|2025-03-02',
      '1|2025-03-02|SHIRT',
    ]);

    // A rebuild folds the same log, tombstone included: verify then finds nothing.
    const rebuild = await ReadModelRebuild.prepare({ live: rm, databaseUrl: database.options().databaseUrl });
    try {
      const limits = await rebuild.liveCheckpoints();
      await rebuild.apply(scavenged, last(scavenged), limits);
      await rebuild.swap([], last(scavenged));
    } finally {
      await rebuild.close();
    }
    expect(await compare(scavenged)).toEqual([]);
    const rebuilt = await dumpReadModels(rm.db);
    expect(rebuilt.sessions!.map((r) => r.integration_id)).toEqual(['guest', 'jane-2', 'max-1']);

    // A rebuild from the log before the scavenge drops the erased session too (its tombstone follows its events).
    const again = await ReadModelRebuild.prepare({ live: rm, databaseUrl: database.options().databaseUrl });
    try {
      await again.apply(log, last(log), await again.liveCheckpoints());
      await again.swap([], last(log));
    } finally {
      await again.close();
    }
    expect(pick(await dumpReadModels(rm.db), CUSTOMER_TABLES)).toEqual(pick(rebuilt, CUSTOMER_TABLES));
    expect(await compare(log)).toEqual([]);
  });
});
