import { CompiledQuery, type KyselyPlugin, Migrator, sql } from 'kysely';
import {
  openReadModelDatabase,
  type ReadModelDatabase,
  type ReadModelDb,
  type ReadModelTables,
} from './database';
import { readModelMigrations } from './migrations';
import { sortKey } from './money';
import { dumpReadModels } from './read-model-dump';
import { ReadModelQueries } from './read-model-queries';
import { ReadModelRecomputation, readStoredReadModels } from './read-model-recompute';
import { ReadModelWriter } from './read-model-writer';
import { postgresRowStore } from './row-store';
import { inLogOrder, SessionHistory, line } from './testing/session-history';
import { postgresTestDatabase, testDatabases, type TestDatabase } from './testing/test-databases';

const T1 = '2025-03-01T10:00:00.000Z';
const T2 = '2025-03-02T11:00:00.000Z';
/** 1000 code points of 4-byte UTF-8 that do not compress: 4000 bytes. */
const LONG = Array.from({ length: 1000 }, (_, i) =>
  String.fromCodePoint(0x20000 + ((i * 7919) % 0xa6e0)),
).join('');

/** Sessions the previous version projected, and what happens to them (and to a new one) after the upgrade. */
function histories() {
  const a = new SessionHistory(1, 'Order-A', 501)
    .created(T1, {
      profileId: 'Jane',
      couponCodes: ['SPRING'],
      cartItems: [{ sku: 'HAT', quantity: 2, price: '5' }],
    })
    .closed(T1, 'Jane', '10', [line(0, 'HAT', 2, '10')]);
  const b = new SessionHistory(1, 'Order-B', 502).created(T1, { profileId: 'Jane', firstSession: false });
  const before = inLogOrder(a, b);
  a.returned(T2, 'Jane', 'closed', [line(0, 'HAT', 1, '5')], '5');
  const long = new SessionHistory(1, LONG, 503)
    .created(T2, {
      profileId: LONG,
      couponCodes: [LONG.slice(0, 200)],
      cartItems: [{ sku: LONG, quantity: 1, price: '1' }],
    })
    .closed(T2, LONG, '1', [line(0, LONG, 1, '1')]);
  const after = inLogOrder(a, b, long).filter((e) => !before.includes(e));
  return { before, after };
}

const TABLES: (keyof ReadModelTables)[] = [
  'projection_checkpoints',
  'projection_streams',
  'sessions',
  'session_coupons',
  'profile_sessions',
  'customer_profiles',
  'daily_analytics',
  'sku_analytics',
];

async function migrationNames(db: ReadModelDb): Promise<string[]> {
  const rows = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db);
  return rows.rows.map((r) => r.name);
}

/** `database` opened and migrated up to (not including) the migration named `first…`. */
async function databaseBefore(database: TestDatabase, first: string): Promise<ReadModelDatabase> {
  const old = await openReadModelDatabase({ ...database.options(), migrate: false });
  const previous = Object.fromEntries(
    Object.entries(readModelMigrations(old.dialect)).filter(([name]) => name < first),
  );
  const { error } = await new Migrator({
    db: old.db,
    provider: { getMigrations: async () => previous },
    ...(database.options().schema ? { migrationTableSchema: database.options().schema } : {}),
  }).migrateToLatest();
  expect(error).toBeUndefined();
  return old;
}

describe.each(testDatabases())(
  'upgrading read models of the previous schema on $name',
  (database: TestDatabase) => {
    // The rows the previous version wrote: the same tables and columns, projected here into a current database.
    const reference = database.name === 'postgres' ? postgresTestDatabase() : undefined;
    const referenceOptions = () =>
      reference ? reference.options() : { ...database.options(), sqliteFile: 'reference.sqlite' };
    let ref: ReadModelDatabase;
    let upgraded: ReadModelDatabase;
    const h = histories();

    beforeAll(async () => {
      ref = await openReadModelDatabase(referenceOptions());
      const writer = await ReadModelWriter.open(ref.db);
      await writer.apply(h.before, h.before[h.before.length - 1].position);
    });
    afterAll(async () => {
      await ref?.close();
      await upgraded?.close();
      await reference?.drop();
      await database.drop();
    });

    it('keeps every row, answers the same, and takes the longest values afterwards', async () => {
      // A database at `0002_projector_lock`, holding the rows.
      const old = await databaseBefore(database, '0003');
      const rows = await dumpReadModels(ref.db);
      for (const table of TABLES) {
        const all =
          table === 'projection_checkpoints'
            ? await ref.db.selectFrom(table).selectAll().execute()
            : (rows[table] as never[]);
        if (all.length > 0) await old.db.insertInto(table).values(all).execute();
      }
      expect(await migrationNames(old.db)).toEqual(['0001_read_models', '0002_projector_lock']);
      if (old.dialect === 'postgres') {
        // What the previous schema could not hold.
        await expect(
          old.db
            .insertInto('profile_sessions')
            .values({ ...(rows.profile_sessions[0] as ReadModelTables['profile_sessions']), stream_id: LONG })
            .execute(),
        ).rejects.toThrow(/index row size/);
      }
      await old.close();

      upgraded = await database.open();
      expect(await migrationNames(upgraded.db)).toEqual([
        '0001_read_models',
        '0002_projector_lock',
        '0003_text_keys',
        '0004_exact_total_keys',
        '0005_profile_sessions_by_profile',
      ]);
      expect(await dumpReadModels(upgraded.db)).toEqual(rows);
      const queries = new ReadModelQueries(upgraded.db);
      const list = (q: object) =>
        queries
          .listSessions({ applicationId: 1, pageSize: 10, skip: 0, ...q })
          .then((r) => r.data.map((s) => s.id));
      expect(await list({ profile: 'Jane' })).toEqual([501, 502]);
      expect(await list({ coupon: 'SPRING' })).toEqual([501]);
      expect(await list({ integrationId: 'Order-B' })).toEqual([502]);
      expect(await queries.getCustomerProfile(1, 'Jane')).toMatchObject({ sessionCount: 2, totalSales: 10 });

      // The projector goes on where it was, now with values the previous schema refused.
      const last = h.after[h.after.length - 1].position;
      await (await ReadModelWriter.open(upgraded.db)).apply(h.after, last);
      await (await ReadModelWriter.open(ref.db)).apply(h.after, last);
      expect(await dumpReadModels(upgraded.db)).toEqual(await dumpReadModels(ref.db));
      expect(await list({ profile: LONG })).toEqual([503]);
      expect(await queries.getCustomerProfile(1, 'Jane')).toMatchObject({ sessionCount: 2, totalSales: 5 });
      const stored = await readStoredReadModels(upgraded.db, { dialect: upgraded.dialect });
      const recomputation = new ReadModelRecomputation(stored.checkpoints);
      recomputation.applyAll([...h.before, ...h.after]);
      expect(recomputation.compare(stored.rows)).toEqual([]);
    });
  },
);

describe.each(testDatabases())(
  'sort keys of totals past 12 decimal places on $name',
  (database: TestDatabase) => {
    let rm: ReadModelDatabase | undefined;
    afterAll(async () => {
      await rm?.close();
      await database.drop();
    });

    it('are rewritten by the upgrade, so such totals sort by value instead of tying', async () => {
      const old = await databaseBefore(database, '0004');
      // As the previous version wrote them: every key cut at 12 places, so all three tie at zero.
      const cut = `P${'0'.repeat(36)}`;
      const rows: [number, string, string][] = [
        [1, '2e-13', cut],
        [2, '1e-13', cut],
        [3, '0', cut],
        [4, '0.5', sortKey('0.5')],
        // Above 1e24 (a cart at the limits): its key had 25 digits where others have 24, so it sorted among them.
        [5, '1010000000000000000000000', `P1010000000000000000000000${'0'.repeat(12)}`],
        [6, '999999999999999999999999', sortKey('999999999999999999999999')],
      ];
      for (const [id, total, key] of rows) {
        await sql`insert into sessions (stream_id, id, application_id, integration_id, integration_id_lc, profile_id,
          profile_id_lc, referral_code, referral_code_lc, state, created, updated, total, total_key, revision,
          state_json, session_json)
        values (${`s${id}`}, ${id}, 1, ${`i${id}`}, ${`i${id}`}, '', '', '', '', 'open', ${T1}, ${T1}, ${total},
          ${key}, 0, '{}', ${JSON.stringify({ id })})`.execute(old.db);
      }
      await old.close();

      rm = await database.open();
      const keys = await rm.db.selectFrom('sessions').select(['id', 'total_key']).orderBy('id').execute();
      expect(keys.map(({ id, total_key }) => ({ id: Number(id), total_key }))).toEqual(
        rows.map(([id, total]) => ({ id, total_key: sortKey(total) })),
      );
      const queries = new ReadModelQueries(rm.db);
      const sorted = await queries.listSessions({
        applicationId: 1,
        pageSize: 10,
        skip: 0,
        sort: { field: 'total', descending: false },
      });
      expect(sorted.data.map((session) => session.id)).toEqual([3, 2, 1, 4, 6, 5]);
    });
  },
);

describe('PostgreSQL text-key indexes', () => {
  const database = postgresTestDatabase();
  let rm: ReadModelDatabase;
  afterAll(async () => {
    await rm?.close();
    await database.drop();
  });

  /** The plan of every query `run` makes, as text. */
  async function plans(run: (db: ReadModelDb) => Promise<unknown>): Promise<string[]> {
    const captured: CompiledQuery[] = [];
    const plugin: KyselyPlugin = {
      transformQuery: (args) => {
        captured.push(rm.db.getExecutor().compileQuery(args.node, args.queryId));
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    await run(rm.db.withPlugin(plugin));
    const result: string[] = [];
    for (const query of captured) {
      const plan = await rm.db.executeQuery<{ 'QUERY PLAN': string }>(
        CompiledQuery.raw(`explain ${query.sql}`, [...query.parameters]),
      );
      result.push(plan.rows.map((r) => r['QUERY PLAN']).join('\n'));
    }
    return result;
  }

  it('answer the exact filters and the writers lookups', async () => {
    rm = await database.open();
    // Enough rows for the planner to prefer a selective index to a scan of the application's rows.
    await sql`insert into sessions (stream_id, id, application_id, integration_id, integration_id_lc, profile_id,
        profile_id_lc, referral_code, referral_code_lc, state, created, updated, total, total_key, revision,
        state_json, session_json)
      select 's' || i, i, 1, 'i' || i, 'i' || i, 'p' || i, 'p' || i, '', '', 'open', '2025-03-01', '2025-03-01',
        1, '1', 0, '{}', '{}' from generate_series(1, 20000) as i`.execute(rm.db);
    for (const insert of [
      sql`insert into session_coupons select 's' || i, 1, 'c' || i, 'c' || i from generate_series(1, 20000) as i`,
      sql`insert into profile_sessions select 's' || i, 1, 'i' || i, 'p' || i, 'open', 0, 1, '2025-03-01', 0
        from generate_series(1, 20000) as i`,
      sql`insert into customer_profiles select '1|p' || i, 1, 'p' || i, 1, 0, 0, 'i' || i, '2025-03-01'
        from generate_series(1, 20000) as i`,
      sql`insert into sku_analytics select '1|2025-03-01|' || i, 1, i, '2025-03-01', 1, 0, 1
        from generate_series(1, 20000) as i`,
      sql`insert into projection_streams select 'sku_analytics', 's' || i, 0 from generate_series(1, 20000) as i`,
    ]) {
      await insert.execute(rm.db);
    }
    // This schema's tables only: a bare ANALYZE visits every table of the database and waits behind any other
    // suite's lock (hung-database.int-spec holds one on purpose, and counts who waits on it).
    await sql`analyze sessions, session_coupons, profile_sessions, customer_profiles, sku_analytics,
      projection_streams`.execute(rm.db);

    const queries = (db: ReadModelDb) => new ReadModelQueries(db);
    const list = (q: object) => (db: ReadModelDb) =>
      queries(db).listSessions({ applicationId: 1, pageSize: 10, skip: 0, ...q });
    expect(await plans(list({ profile: 'p1' }))).toEqual([
      expect.stringContaining('sessions_app_profile_key_idx'),
    ]);
    expect(await plans(list({ integrationId: 'i1' }))).toEqual([
      expect.stringContaining('sessions_app_integration_key_idx'),
    ]);
    expect(await plans(list({ coupon: 'c1' }))).toEqual([
      expect.stringContaining('session_coupons_app_code_key_idx'),
    ]);
    expect(await plans((db) => queries(db).getCustomerProfile(1, 'p1'))).toEqual([
      expect.stringContaining('customer_profiles_app_profile_key_uq'),
    ]);
    const lookups = await plans(async (db) => {
      const store = postgresRowStore(db);
      await store.selectIn('sessions', 'stream_id', ['s1', 's2']);
      await store.selectIn('profile_sessions', 'stream_id', ['s1']);
      await store.selectIn('customer_profiles', 'id', ['1|p1']);
      await store.selectIn('sku_analytics', 'id', ['1|2025-03-01|HAT']);
      await store.selectIn('projection_streams', 'stream_id', ['s1'], {
        column: 'projection',
        value: 'sku_analytics',
      });
      await store.deleteIn('session_coupons', 'stream_id', ['s1']);
      // An erasure's look for a profile's other sessions.
      await store.selectIn('profile_sessions', 'profile_id', ['p1', 'p2']);
    });
    expect(lookups).toEqual([
      expect.stringContaining('sessions_stream_key_uq'),
      expect.stringContaining('profile_sessions_stream_key_uq'),
      expect.stringContaining('customer_profiles_id_key_uq'),
      expect.stringContaining('sku_analytics_id_key_uq'),
      expect.stringContaining('projection_streams_stream_key_uq'),
      expect.stringContaining('session_coupons_stream_key_idx'),
      expect.stringContaining('profile_sessions_profile_hash_idx'),
    ]);
  });
});
