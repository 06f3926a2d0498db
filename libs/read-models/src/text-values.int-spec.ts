import { type CustomerSessionV2 } from '@session-engine/session-domain';
import type { ReadModelDatabase } from './database';
import { dumpReadModels } from './read-model-dump';
import { ReadModelQueries, type SessionListQuery } from './read-model-queries';
import { ReadModelRecomputation, readStoredReadModels } from './read-model-recompute';
import { ReadModelWriter } from './read-model-writer';
import { ReadModelRebuild } from './rebuild';
import { inLogOrder, item, line, SessionHistory } from './testing/session-history';
import { testDatabases, type TestDatabase } from './testing/test-databases';
import type { ProjectedEvent } from './projected-event';

/**
 * Every text the domain accepts is stored and found again, on both databases: the longest values (1000
 * code points of 4-byte UTF-8 — 4000 bytes — in every indexed column, far beyond the 2704 bytes of a
 * PostgreSQL b-tree entry) and U+0000 (which PostgreSQL text cannot hold).
 */

const T1 = '2025-03-01T10:00:00.000Z';
const T2 = '2025-03-02T11:00:00.000Z';
const T3 = '2025-03-03T12:00:00.000Z';
const E = '😀';
/**
 * `n - 1` code points of 4-byte UTF-8 and a last one of its own: values that differ only at their very end.
 * A run of one character compresses to almost nothing (and PostgreSQL compresses large index entries), so
 * the prefix is 😀 followed by pseudo-random CJK Extension B characters (U+20000…U+2A6DF, 4 bytes each),
 * the same for every value.
 */
const PREFIX = (() => {
  let seed = 42;
  let text = E.repeat(3);
  for (let i = 3; i < 999; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    text += String.fromCodePoint(0x20000 + (seed % 0xa6e0));
  }
  return text;
})();
const long = (n: number, last: string) => `${[...PREFIX].slice(0, n - 1).join('')}${last}`;
/** The last `n` code points of a value. */
const end = (value: string, n: number) => [...value].slice(-n).join('');

const integrationA = long(1000, '🅰');
const integrationB = long(1000, '🅱'); // the same 999 first code points as A's
const profile = long(1000, '🅿');
const otherProfile = long(1000, '🆀');
const storeA = long(1000, '🏬');
const storeB = `Ä${long(999, '🏭')}`; // case-insensitive partial match on a long value
const skuA = long(1000, '🅰');
const skuB = long(1000, '🅱');
const couponA = long(100, '🅰');
const couponB = long(100, '🅱');
const referral = long(100, '🆁');
const backslashes = 'back\\slash\\101\\x41';
const longBackslashes = `${long(990, '\\')}${backslashes}`;

/** Sessions with the longest values; `other` is A's integration id in another application. */
function longHistories() {
  const a = new SessionHistory(1, integrationA, 301)
    .created(T1, {
      profileId: profile,
      couponCodes: [couponA, couponB],
      referralCode: referral,
      storeIntegrationId: storeA,
      cartItems: [item(skuA, 2, '10'), item(skuB, 1, '5')],
      attributes: { [long(100, 'k')]: long(1000, 'v') },
    })
    .closed(T1, profile, '25', [line(0, skuA, 2, '20'), line(1, skuB, 1, '5')])
    .returned(T2, profile, 'closed', [line(1, skuB, 1, '5')], '5');
  const b = new SessionHistory(1, integrationB, 302)
    .created(T2, {
      profileId: profile,
      firstSession: false,
      couponCodes: [couponA],
      storeIntegrationId: storeB,
      cartItems: [item(skuA, 3, '10')],
    })
    .closed(T3, profile, '30', [line(0, skuA, 3, '30')]);
  const c = new SessionHistory(1, long(1000, '🅲'), 303).created(T3, { profileId: otherProfile });
  // Backslashes (and what `decode(…, 'escape')` would read as octal) in short and long keys.
  const d = new SessionHistory(1, backslashes, 305)
    .created(T3, { profileId: longBackslashes, cartItems: [item(backslashes, 1, '1')] })
    .closed(T3, longBackslashes, '1', [line(0, backslashes, 1, '1')]);
  const other = new SessionHistory(2, integrationA, 304)
    .created(T1, { profileId: profile, cartItems: [item(skuA, 1, '10')] })
    .closed(T1, profile, '10', [line(0, skuA, 1, '10')]);
  return { a, b, c, d, other, events: inLogOrder(a, b, c, d, other) };
}

/** Applies `events` in several batches, so rows written by one batch are read back by the next. */
async function project(rm: ReadModelDatabase, events: ProjectedEvent[], batch = 2): Promise<void> {
  const writer = await ReadModelWriter.open(rm.db);
  for (let i = 0; i < events.length; i += batch) {
    const part = events.slice(i, i + batch);
    await writer.apply(part, part[part.length - 1].position);
  }
}

/** What `replay verify` reports for these events against the stored rows. */
async function verify(rm: ReadModelDatabase, events: ProjectedEvent[]) {
  const stored = await readStoredReadModels(rm.db, { dialect: rm.dialect });
  const recomputation = new ReadModelRecomputation(stored.checkpoints);
  recomputation.applyAll(events);
  return recomputation.compare(stored.rows);
}

/** `replay rebuild`: the copy built from the log and swapped in holds the same rows. */
async function rebuild(rm: ReadModelDatabase, database: TestDatabase, events: ProjectedEvent[]) {
  const copy = await ReadModelRebuild.prepare({ live: rm, databaseUrl: database.options().databaseUrl });
  try {
    const last = events[events.length - 1].position;
    await copy.apply(events, last, await copy.liveCheckpoints());
    await copy.swap([], last);
  } finally {
    await copy.close();
  }
}

describe.each(testDatabases())('the longest text values on $name', (database: TestDatabase) => {
  let rm: ReadModelDatabase;
  let queries: ReadModelQueries;
  const h = longHistories();
  const list = (q: Partial<SessionListQuery>, applicationId = 1) =>
    queries
      .listSessions({ applicationId, pageSize: 1000, skip: 0, ...q })
      .then((r) => r.data.map((s) => s.id));

  beforeAll(async () => {
    rm = await database.open();
    queries = new ReadModelQueries(rm.db);
    await project(rm, h.events);
  });
  afterAll(async () => {
    await rm?.close();
    await database.drop();
  });

  it('stores every session whole', async () => {
    const a = (await queries.getSession(1, 301)) as CustomerSessionV2;
    expect(a).toMatchObject({
      integrationId: integrationA,
      profileId: profile,
      storeIntegrationId: storeA,
      couponCodes: [couponA, couponB],
      referralCode: referral,
      state: 'partially_returned',
      attributes: { [long(100, 'k')]: long(1000, 'v') },
    });
    expect(a.cartItems.map((i) => i.sku)).toEqual([skuA, skuB]);
    expect(await queries.getSession(1, 302)).toMatchObject({ integrationId: integrationB, state: 'closed' });
    expect(await queries.getSession(2, 304)).toMatchObject({ integrationId: integrationA, state: 'closed' });
  });

  it('finds sessions by exact filters on every long field, and only those', async () => {
    expect(await list({ integrationId: integrationA })).toEqual([301]);
    expect(await list({ integrationId: integrationB })).toEqual([302]);
    expect(await list({ integrationId: integrationA }, 2)).toEqual([304]);
    expect(await list({ integrationId: long(1000, '🅳') })).toEqual([]);
    expect(await list({ profile })).toEqual([301, 302]);
    expect(await list({ profile: otherProfile })).toEqual([303]);
    expect(await list({ profile: long(1000, '🆂') })).toEqual([]);
    expect(await list({ storeIntegrationId: storeA })).toEqual([301]);
    expect(await list({ storeIntegrationId: storeB })).toEqual([302]);
    expect(await list({ coupon: couponA })).toEqual([301, 302]);
    expect(await list({ coupon: couponB })).toEqual([301]);
    expect(await list({ coupon: long(100, '🅲') })).toEqual([]);
    expect(await list({ referral })).toEqual([301]);
    expect(await list({ profile, coupon: couponB, referral, storeIntegrationId: storeA })).toEqual([301]);
  });

  it('finds them by partial filters, whole values included', async () => {
    expect(await list({ integrationId: end(integrationB, 3), partialMatch: true })).toEqual([302]);
    expect(await list({ integrationId: integrationA, partialMatch: true })).toEqual([301]);
    expect(await list({ integrationId: E.repeat(3), partialMatch: true })).toEqual([301, 302, 303]);
    expect(await list({ profile: end(profile, 2), partialMatch: true })).toEqual([301, 302]);
    expect(await list({ profile, partialMatch: true })).toEqual([301, 302]);
    expect(await list({ storeIntegrationId: `ä${E}${E}`, partialMatch: true })).toEqual([302]);
    expect(await list({ coupon: end(couponB, 3), partialMatch: true })).toEqual([301]);
    expect(await list({ referral: end(referral, 2), partialMatch: true })).toEqual([301]);
  });

  it('finds values with backslashes, short and long, exactly and partially', async () => {
    expect(await list({ integrationId: backslashes })).toEqual([305]);
    expect(await list({ integrationId: 'back\\slash\\101\\x4' })).toEqual([]);
    expect(await list({ profile: longBackslashes })).toEqual([305]);
    expect(await list({ profile: `${longBackslashes}\\` })).toEqual([]);
    expect(await list({ profile: '\\101\\', partialMatch: true })).toEqual([305]);
    expect(await queries.getCustomerProfile(1, longBackslashes)).toMatchObject({ sessionCount: 1 });
  });

  it('sorts and pages them', async () => {
    expect(await list({ sort: { field: 'total', descending: true } })).toEqual([302, 301, 305, 303]);
    const page = await queries.listSessions({ applicationId: 1, pageSize: 1, skip: 1, profile });
    expect(page).toMatchObject({ hasMore: false, data: [{ id: 302 }] });
  });

  it('answers the customer profile and the analytics of long profile ids and SKUs', async () => {
    expect(await queries.getCustomerProfile(1, profile)).toEqual({
      integrationId: profile,
      closedSessions: 2,
      totalSales: 50,
      sessionCount: 2,
      firstSessionIntegrationId: integrationA,
      lastActivity: T3,
    });
    expect(await queries.getCustomerProfile(1, otherProfile)).toMatchObject({ sessionCount: 1 });
    expect(await queries.getCustomerProfile(1, long(1000, '🆂'))).toBeUndefined();
    expect(await queries.getCustomerProfile(2, profile)).toMatchObject({ sessionCount: 1, totalSales: 10 });
    expect(await queries.skuAnalytics(1, '2025-03-01', '2025-03-03')).toEqual([
      { sku: backslashes, quantitySold: 1, quantityReturned: 0, revenue: 1 },
      { sku: skuA, quantitySold: 5, quantityReturned: 0, revenue: 50 },
      { sku: skuB, quantitySold: 1, quantityReturned: 1, revenue: 0 },
    ]);
    expect(await queries.skuAnalytics(2, '2025-03-01', '2025-03-01')).toEqual([
      { sku: skuA, quantitySold: 1, quantityReturned: 0, revenue: 10 },
    ]);
    const days = await queries.dailyAnalytics(1, '2025-03-01', '2025-03-03');
    expect(days.map((d) => d.netRevenue)).toEqual([25, -5, 31]);
  });

  it('changes no row when every event is delivered again, and verify finds no mismatch', async () => {
    const before = await dumpReadModels(rm.db);
    await rm.db.deleteFrom('projection_checkpoints').execute();
    await project(rm, h.events, 3);
    expect(await dumpReadModels(rm.db)).toEqual(before);
    expect(await verify(rm, h.events)).toEqual([]);
  });

  it('rebuilds them into the same rows', async () => {
    const before = await dumpReadModels(rm.db);
    await rebuild(rm, database, h.events);
    expect(await dumpReadModels(rm.db)).toEqual(before);
    expect(await list({ profile })).toEqual([301, 302]);
    expect(await verify(rm, h.events)).toEqual([]);
  });
});

/** On PostgreSQL U+0000 reads as U+FFFD (see `postgres-text.ts`); SQLite keeps it. */
describe.each(testDatabases())('U+0000 in text values on $name', (database: TestDatabase) => {
  let rm: ReadModelDatabase;
  let queries: ReadModelQueries;
  const nul = (text: string) => (database.name === 'postgres' ? text.replace(/\0/g, '\uFFFD') : text);
  const list = (q: Partial<SessionListQuery>) =>
    queries
      .listSessions({ applicationId: 1, pageSize: 1000, skip: 0, ...q })
      .then((r) => r.data.map((s) => s.id));

  const profileId = 'pro\0file';
  const sku = 'S\0KU';
  const a = new SessionHistory(1, 'nul\0session', 401)
    .created(T1, {
      profileId,
      couponCodes: ['C\0DE'],
      referralCode: 'R\0F',
      storeIntegrationId: 'st\0re',
      identifiers: ['id\0'],
      attributes: { 'a\0': 'v\0', nested: { list: ['x\0y', 'back\\slash\\u0000'] } },
      cartItems: [{ sku, quantity: 2, price: '10', name: 'n\0', attributes: { k: '\0' } }],
    })
    .closed(T1, profileId, '20', [line(0, sku, 2, '20')])
    .returned(T2, profileId, 'closed', [line(0, sku, 1, '10')], '10');
  // Another session of the same profile and SKU, in later batches: rows written before are found again.
  const b = new SessionHistory(1, 'second', 402)
    .created(T2, { profileId, firstSession: false, cartItems: [{ sku, quantity: 1, price: '10' }] })
    .closed(T3, profileId, '10', [line(0, sku, 1, '10')]);
  const events = inLogOrder(a, b);

  beforeAll(async () => {
    rm = await database.open();
    queries = new ReadModelQueries(rm.db);
    await project(rm, events, 1);
  });
  afterAll(async () => {
    await rm?.close();
    await database.drop();
  });

  it('projects the sessions, U+0000 in every kind of text', async () => {
    expect(await queries.getSession(1, 401)).toMatchObject({
      integrationId: nul('nul\0session'),
      profileId: nul(profileId),
      couponCodes: [nul('C\0DE')],
      referralCode: nul('R\0F'),
      storeIntegrationId: nul('st\0re'),
      identifiers: [nul('id\0')],
      attributes: { [nul('a\0')]: nul('v\0'), nested: { list: [nul('x\0y'), 'back\\slash\\u0000'] } },
      cartItems: [{ sku: nul(sku), name: nul('n\0'), attributes: { k: nul('\0') }, returnedQuantity: 1 }],
      state: 'partially_returned',
    });
  });

  it('finds them by the values as sent, exactly and partially', async () => {
    expect(await list({ profile: profileId })).toEqual([401, 402]);
    expect(await list({ integrationId: 'nul\0session' })).toEqual([401]);
    expect(await list({ coupon: 'C\0DE' })).toEqual([401]);
    expect(await list({ referral: 'R\0F' })).toEqual([401]);
    expect(await list({ storeIntegrationId: 'st\0re' })).toEqual([401]);
    expect(await list({ profile: 'o\0f', partialMatch: true })).toEqual([401, 402]);
  });

  it('adds the profile and the SKU up across batches', async () => {
    expect(await queries.getCustomerProfile(1, profileId)).toEqual({
      integrationId: nul(profileId),
      closedSessions: 2,
      totalSales: 20,
      sessionCount: 2,
      firstSessionIntegrationId: nul('nul\0session'),
      lastActivity: T3,
    });
    expect(await queries.skuAnalytics(1, '2025-03-01', '2025-03-03')).toEqual([
      { sku: nul(sku), quantitySold: 3, quantityReturned: 1, revenue: 20 },
    ]);
  });

  it('changes no row on redelivery; verify and rebuild agree with the stored rows', async () => {
    const before = await dumpReadModels(rm.db);
    await rm.db.deleteFrom('projection_checkpoints').execute();
    await project(rm, events, 4);
    expect(await dumpReadModels(rm.db)).toEqual(before);
    expect(await verify(rm, events)).toEqual([]);
    await rebuild(rm, database, events);
    expect(await dumpReadModels(rm.db)).toEqual(before);
    expect(await verify(rm, events)).toEqual([]);
  });
});
