import type { ReadModelDatabase } from './database';
import { dumpReadModels } from './read-model-dump';
import { ReadModelQueries } from './read-model-queries';
import { ReadModelWriter } from './read-model-writer';
import { SessionHistory, inLogOrder, item, line } from './testing/session-history';
import { testDatabases, type TestDatabase } from './testing/test-databases';
import { sessionsWriter } from './writers/sessions.writer';

const T1 = '2025-03-01T10:00:00.000Z';
const T2 = '2025-03-02T11:00:00.000Z';
const T3 = '2025-03-03T12:00:00.000Z';

/** Three sessions of application 1, one of application 2. */
function histories() {
  const a = new SessionHistory(1, 'Order-Alpha', 101)
    .created(T1, {
      profileId: 'Jane',
      couponCodes: ['SPRING-Sale'],
      referralCode: 'REF-abc',
      storeIntegrationId: 'Store-1',
    })
    .cartAdded(T1, 0, [item('SHIRT', 3, '19.99'), item('GIFT', 1, '0.10')])
    .closed(T1, 'Jane', '60.07', [line(0, 'SHIRT', 3, '59.97'), line(1, 'GIFT', 1, '0.10')])
    .returned(T2, 'Jane', 'closed', [line(0, 'SHIRT', 1, '19.99')], '19.99');
  const b = new SessionHistory(1, 'order-beta', 102)
    .created(T2, { profileId: 'Jane', firstSession: false, cartItems: [item('HAT', 1, '9')] })
    .closed(T2, 'Jane', '9', [line(0, 'HAT', 1, '9')]);
  const c = new SessionHistory(1, 'gamma', 103)
    .created(T3, { cartItems: [item('HAT', 10, '10')], couponCodes: ['WINTER'] })
    .cancelled(T3, '', 'open');
  const other = new SessionHistory(2, 'Order-Alpha', 201).created(T1, { profileId: 'Jane' });
  return { a, b, c, other, events: inLogOrder(a, b, c, other) };
}

describe.each(testDatabases())('read models on $name', (database: TestDatabase) => {
  let rm: ReadModelDatabase;
  let queries: ReadModelQueries;
  const h = histories();
  const list = (q: Partial<Parameters<ReadModelQueries['listSessions']>[0]>) =>
    queries
      .listSessions({ applicationId: 1, pageSize: 1000, skip: 0, ...q })
      .then((r) => r.data.map((s) => s.integrationId));

  beforeAll(async () => {
    rm = await database.open();
    queries = new ReadModelQueries(rm.db);
    const writer = await ReadModelWriter.open(rm.db);
    await writer.apply(h.events.slice(0, 5), h.events[4].position);
    await writer.apply(h.events.slice(5), h.events[h.events.length - 1].position);
  });
  afterAll(async () => {
    await rm?.close();
    await database.drop();
  });

  it('stores the full session view, cart included, found by internal id within its application only', async () => {
    const session = await queries.getSession(1, 101);
    expect(session).toMatchObject({
      id: 101,
      integrationId: 'Order-Alpha',
      state: 'partially_returned',
      total: 60.07,
      cartItems: [{ sku: 'SHIRT', returnedQuantity: 1, remainingQuantity: 2 }, { sku: 'GIFT' }],
    });
    expect(await queries.getSession(2, 101)).toBeUndefined();
  });

  it('filters on every field exactly, and by case-insensitive substring with partialMatch', async () => {
    expect(await list({ profile: 'Jane' })).toEqual(['Order-Alpha', 'order-beta']);
    expect(await list({ profile: 'jane' })).toEqual([]);
    expect(await list({ profile: 'ANE', partialMatch: true })).toEqual(['Order-Alpha', 'order-beta']);
    expect(await list({ coupon: 'SPRING-Sale' })).toEqual(['Order-Alpha']);
    expect(await list({ coupon: 'spring' })).toEqual([]);
    expect(await list({ coupon: 'ing-s', partialMatch: true })).toEqual(['Order-Alpha']);
    expect(await list({ referral: 'ref-ABC', partialMatch: true })).toEqual(['Order-Alpha']);
    expect(await list({ integrationId: 'order-alpha' })).toEqual([]);
    expect(await list({ integrationId: 'ORDER', partialMatch: true })).toEqual(['Order-Alpha', 'order-beta']);
    expect(await list({ storeIntegrationId: 'Store-1' })).toEqual(['Order-Alpha']);
    expect(await list({ state: 'cancelled' })).toEqual(['gamma']);
    expect(await list({ createdAfter: T1 })).toEqual(['order-beta', 'gamma']);
    expect(await list({ createdBefore: T3 })).toEqual(['Order-Alpha', 'order-beta']);
  });

  it('treats LIKE wildcards in a partial filter as plain characters', async () => {
    expect(await list({ integrationId: '%_%', partialMatch: true })).toEqual([]);
  });

  it('sorts totals numerically in both directions and pages with hasMore', async () => {
    expect(await list({ sort: { field: 'total', descending: false } })).toEqual([
      'order-beta',
      'Order-Alpha',
      'gamma',
    ]);
    expect(await list({ sort: { field: 'total', descending: true } })).toEqual([
      'gamma',
      'Order-Alpha',
      'order-beta',
    ]);
    expect(await list({ sort: { field: 'updated', descending: true } })).toEqual([
      'gamma',
      'Order-Alpha',
      'order-beta',
    ]);
    const page = await queries.listSessions({ applicationId: 1, pageSize: 2, skip: 1 });
    expect(page).toMatchObject({ hasMore: false, data: [{ id: 102 }, { id: 103 }] });
    expect((await queries.listSessions({ applicationId: 1, pageSize: 1, skip: 1 })).hasMore).toBe(true);
  });

  it('answers the customer profile with exact sales after returns', async () => {
    expect(await queries.getCustomerProfile(1, 'Jane')).toEqual({
      integrationId: 'Jane',
      closedSessions: 2,
      totalSales: 49.08,
      sessionCount: 2,
      firstSessionIntegrationId: 'Order-Alpha',
      lastActivity: T2,
    });
    expect(await queries.getCustomerProfile(2, 'Jane')).toMatchObject({ sessionCount: 1, closedSessions: 0 });
    expect(await queries.getCustomerProfile(1, 'nobody')).toBeUndefined();
  });

  it('answers daily analytics with a zero row for every quiet day of the range', async () => {
    const days = await queries.dailyAnalytics(1, '2025-02-28', '2025-03-04');
    expect(days.map((d) => d.date)).toEqual([
      '2025-02-28',
      '2025-03-01',
      '2025-03-02',
      '2025-03-03',
      '2025-03-04',
    ]);
    expect(days[0]).toMatchObject({ sessionsCreated: 0, netRevenue: 0 });
    expect(days[1]).toMatchObject({
      sessionsCreated: 1,
      sessionsClosed: 1,
      grossRevenue: 60.07,
      netRevenue: 60.07,
    });
    expect(days[2]).toMatchObject({
      itemsReturned: 1,
      returnedValue: 19.99,
      grossRevenue: 9,
      netRevenue: -10.99,
    });
    expect(days[3]).toMatchObject({ sessionsCancelled: 1, reversedRevenue: 0 });
  });

  it('adds SKU rows up over the range', async () => {
    expect(await queries.skuAnalytics(1, '2025-03-01', '2025-03-02')).toEqual([
      { sku: 'GIFT', quantitySold: 1, quantityReturned: 0, revenue: 0.1 },
      { sku: 'HAT', quantitySold: 1, quantityReturned: 0, revenue: 9 },
      { sku: 'SHIRT', quantitySold: 3, quantityReturned: 1, revenue: 39.98 },
    ]);
    expect(await queries.skuAnalytics(1, '2025-03-02', '2025-03-02')).toContainEqual({
      sku: 'SHIRT',
      quantitySold: 0,
      quantityReturned: 1,
      revenue: -19.99,
    });
  });

  it('changes no row when every event is delivered again after the checkpoints are lost', async () => {
    const before = await dumpReadModels(rm.db);
    await rm.db.deleteFrom('projection_checkpoints').execute();
    const replaying = await ReadModelWriter.open(rm.db);
    expect(replaying.resumePosition()).toBeUndefined();
    await replaying.apply(h.events, h.events[h.events.length - 1].position);
    expect(await dumpReadModels(rm.db)).toEqual(before);
    expect(await queries.processedPosition()).toBe(h.events[h.events.length - 1].position);
  });

  it('resumes after the checkpoint it committed with the rows', async () => {
    const reopened = await ReadModelWriter.open(rm.db);
    expect(reopened.resumePosition()).toBe(h.events[h.events.length - 1].position);
  });
});

describe.each(testDatabases())('ties in the session list on $name', (database: TestDatabase) => {
  let rm: ReadModelDatabase;
  let queries: ReadModelQueries;
  const ids = (q: Partial<Parameters<ReadModelQueries['listSessions']>[0]>) =>
    queries
      .listSessions({ applicationId: 1, pageSize: 1000, skip: 0, ...q })
      .then((r) => r.data.map((s) => s.id));

  beforeAll(async () => {
    rm = await database.open();
    queries = new ReadModelQueries(rm.db);
    // Same creation time, same latest event time, same total; written in neither id nor name order.
    const tie = (integrationId: string, id: number) =>
      new SessionHistory(1, integrationId, id).created(T1, { cartItems: [item('TIE', 1, '5')] });
    const events = inLogOrder(tie('tie-a', 503), tie('tie-c', 501), tie('tie-b', 502));
    await (await ReadModelWriter.open(rm.db)).apply(events, events[events.length - 1].position);
  });
  afterAll(async () => {
    await rm?.close();
    await database.drop();
  });

  it.each(['created', 'updated', 'total'] as const)(
    'orders sessions tied on %s by id, ascending or descending, and pages through the tie',
    async (field) => {
      for (const descending of [false, true]) {
        expect({ descending, ids: await ids({ sort: { field, descending } }) }).toEqual({
          descending,
          ids: [501, 502, 503],
        });
        const pages = [0, 1, 2].map((skip) => ids({ sort: { field, descending }, pageSize: 1, skip }));
        expect((await Promise.all(pages)).flat()).toEqual([501, 502, 503]);
      }
    },
  );
});

describe.each(testDatabases())('a failing batch on $name', (database: TestDatabase) => {
  let rm: ReadModelDatabase;
  beforeAll(async () => {
    rm = await database.open();
  });
  afterAll(async () => {
    await rm?.close();
    await database.drop();
  });

  it('leaves neither rows nor checkpoint behind when a projection fails mid-batch', async () => {
    const { events } = histories();
    const failing = {
      name: 'daily_analytics' as const,
      apply: () => Promise.reject(new Error('disk full')),
      erase: () => Promise.resolve(),
    };
    const writer = await ReadModelWriter.open(rm.db, [sessionsWriter, failing]);
    await expect(writer.apply(events, events[events.length - 1].position)).rejects.toThrow('disk full');
    expect(await rm.db.selectFrom('sessions').selectAll().execute()).toEqual([]);
    expect(await rm.db.selectFrom('projection_checkpoints').selectAll().execute()).toEqual([]);
    expect(writer.resumePosition()).toBeUndefined();
  });
});

describe.each(testDatabases())('partial filters on Greek text on $name', (database: TestDatabase) => {
  let rm: ReadModelDatabase;
  let queries: ReadModelQueries;
  const list = (q: Partial<Parameters<ReadModelQueries['listSessions']>[0]>) =>
    queries
      .listSessions({ applicationId: 1, pageSize: 1000, skip: 0, ...q })
      .then((r) => r.data.map((s) => s.integrationId).sort());

  beforeAll(async () => {
    rm = await database.open();
    queries = new ReadModelQueries(rm.db);
    // toLowerCase makes the last Σ of "ΟΔΟΣ" a final ς, and the Σ inside "ΟΔΟΣΑ" a σ.
    const street = new SessionHistory(1, 'street', 301).created(T1, {
      profileId: 'ΟΔΟΣ',
      couponCodes: ['ΚΩΔΙΚΟΣ'],
    });
    const streets = new SessionHistory(1, 'streets', 302).created(T1, {
      profileId: 'ΟΔΟΣΑ',
      couponCodes: ['ΚΩΔΙΚΟΣΑ'],
    });
    const events = inLogOrder(street, streets);
    await (await ReadModelWriter.open(rm.db)).apply(events, events[events.length - 1].position);
  });
  afterAll(async () => {
    await rm?.close();
    await database.drop();
  });

  it('finds a word inside a longer one whatever the form of its sigma, in any case', async () => {
    for (const profile of ['ΟΔΟΣ', 'οδος', 'οδοσ', 'Οδος'])
      expect({ profile, found: await list({ profile, partialMatch: true }) }).toEqual({
        profile,
        found: ['street', 'streets'],
      });
    expect(await list({ profile: 'ΟΔΟΣΑ', partialMatch: true })).toEqual(['streets']);
    expect(await list({ coupon: 'ΚΩΔΙΚΟΣ', partialMatch: true })).toEqual(['street', 'streets']);
    // Exact filters stay exact.
    expect(await list({ profile: 'ΟΔΟΣ' })).toEqual(['street']);
  });

  it('finds the capital dotted İ by a plain i, and by itself', async () => {
    // toLowerCase makes İ an i with a combining dot above (U+0307).
    const city = new SessionHistory(1, 'city', 303).created(T1, {
      profileId: 'İSTANBUL',
      couponCodes: ['İKİ'],
    });
    const events = inLogOrder(city);
    await (await ReadModelWriter.open(rm.db)).apply(events, events[events.length - 1].position);
    for (const profile of ['istanbul', 'ISTANBUL', 'İstanbul', 'stanb'])
      expect({ profile, found: await list({ profile, partialMatch: true }) }).toEqual({
        profile,
        found: ['city'],
      });
    expect(await list({ coupon: 'iki', partialMatch: true })).toEqual(['city']);
    expect(await list({ profile: 'İSTANBUL' })).toEqual(['city']);
  });
});
