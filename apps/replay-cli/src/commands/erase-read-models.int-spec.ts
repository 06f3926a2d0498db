/**
 * An erasure, end to end, on the embedded event store with the projector running (SQLite and PostgreSQL read
 * models): `erase --yes` tombstones a customer's session streams, and the projector, reaching their
 * `$streamDeleted` events, removes the sessions' rows, coupons and profile sessions and the customer's profile,
 * leaving another customer's untouched. `verify` then reports 0 mismatches (the log still holds the erased events
 * and their tombstones); after a scavenge, which removes the events and keeps the tombstones, it reports only the
 * analytics days and SKUs that counted the erased sessions, and `rebuild` recomputes them.
 */
import { openReadModelDatabase, type ReadModelDatabase } from '@session-engine/read-models';
import { TEST_DATABASE_URL } from '@session-engine/read-models/testing/test-databases';
import { ReplaySystem } from '../testing/replay-system';
import { replayCli, type CliRun } from '../testing/run-cli';

jest.setTimeout(120_000);

const url = (id: string, suffix = '') => `/v2/customer_sessions/${encodeURIComponent(id)}${suffix}`;

describe.each(['sqlite', 'postgres'] as const)('an erased customer in the read models (%s)', (backend) => {
  let system: ReplaySystem;
  let replay: (args: string[]) => Promise<CliRun>;
  let rm: ReadModelDatabase;

  const session = async (id: string, profileId: string, sku: string, close: boolean) => {
    let { position } = await system.command('PUT', url(id), {
      customerSession: {
        profileId,
        couponCodes: [`${profileId.toUpperCase()}-10`],
        identifiers: [`${profileId}@example.com`],
        cartItems: [{ sku, quantity: 2, price: 5 }],
      },
    });
    if (close) ({ position } = await system.command('POST', url(id, '/close')));
    return position;
  };

  /** The rows of application 1 that name a profile, by table. */
  async function rowsOf(profileId: string) {
    const where = (table: 'sessions' | 'profile_sessions' | 'customer_profiles') =>
      rm.db.selectFrom(table).selectAll().where('profile_id', '=', profileId).execute();
    const sessions = await where('sessions');
    const coupons = await rm.db
      .selectFrom('session_coupons')
      .selectAll()
      .where('code', '=', `${profileId.toUpperCase()}-10`)
      .execute();
    return {
      sessions: sessions.map((r) => r.integration_id).sort(),
      coupons: coupons.map((r) => r.stream_id).sort(),
      profileSessions: (await where('profile_sessions')).map((r) => r.integration_id).sort(),
      profiles: (await where('customer_profiles')).map((r) => r.session_count),
    };
  }

  /** The position of the log's last session tombstone (what the projector must reach). */
  async function lastTombstone(): Promise<bigint> {
    let last = 0n;
    for await (const stored of system.adapter.readAll({ prefixes: ['session-'], tombstones: true }))
      if (stored.type === '$streamDeleted' && stored.position! > last) last = stored.position!;
    return last;
  }

  beforeAll(async () => {
    system = await ReplaySystem.start({ backend, projector: true });
    replay = replayCli(system.env());
    rm = await openReadModelDatabase(
      backend === 'postgres'
        ? { databaseUrl: TEST_DATABASE_URL, schema: system.schema, dataDir: system.dataDir, migrate: false }
        : { dataDir: system.dataDir, migrate: false },
    );
    await session('alice-1', 'alice', 'shirt', true);
    await session('bob-1', 'bob', 'shirt', true);
    await session('alice-2', 'alice', 'hat', false);
    await system.settle(await session('bob-2', 'bob', 'sock', true));
  });

  afterAll(async () => {
    await rm?.close();
    await system?.stop();
  });

  it("erase --yes: the projector removes the customer's session rows, coupons, profile sessions and profile, and only those", async () => {
    expect(await rowsOf('alice')).toEqual({
      sessions: ['alice-1', 'alice-2'],
      coupons: ['session-1-alice-1', 'session-1-alice-2'],
      profileSessions: ['alice-1', 'alice-2'],
      profiles: [2],
    });
    const bob = await rowsOf('bob');
    const daily = await system.manage('/v1/applications/1/analytics/daily?from=2020-01-01&to=2100-01-01');

    const erase = await replay(['erase', '--profile', 'alice', '-a', '1', '--yes', '--no-progress']);
    expect(erase.code).toBe(0);
    await system.settle(await lastTombstone());

    expect(await rowsOf('alice')).toEqual({ sessions: [], coupons: [], profileSessions: [], profiles: [] });
    expect(await rowsOf('bob')).toEqual(bob);
    const listed = await system.manage('/v1/applications/1/sessions?profile=alice');
    expect(listed.status).toBe(200);
    expect(listed.body.data).toEqual([]);
    expect((await system.manage('/v1/applications/1/customer_profiles/alice')).status).toBe(404);
    expect((await system.manage('/v1/applications/1/customer_profiles/bob')).status).toBe(200);
    // Sums per day, no customer data: as they were until a rebuild after the scavenge.
    expect(await system.manage('/v1/applications/1/analytics/daily?from=2020-01-01&to=2100-01-01')).toEqual(
      expect.objectContaining({ body: daily.body }),
    );
  });

  it('verify reports 0 mismatches: the log still holds the erased events, then their tombstones', async () => {
    const run = await replay(['verify', '--json']);
    expect({ code: run.code, mismatches: run.json().mismatches }).toEqual({ code: 0, mismatches: [] });
  });

  it('after a scavenge verify names only the analytics rows that counted the erased sessions; rebuild recomputes them', async () => {
    const scavenged = await system.store.scavenge!();
    expect(scavenged.deleted).toBeGreaterThan(0);
    // The erased events are gone from $all; their tombstones stay.
    const left: string[] = [];
    for await (const stored of system.adapter.readAll({ prefixes: ['session-1-alice'], tombstones: true }))
      left.push(`${stored.streamName}:${stored.type}`);
    expect(left).toEqual(['session-1-alice-1:$streamDeleted', 'session-1-alice-2:$streamDeleted']);

    const run = await replay(['verify', '--json']);
    expect(run.code).toBe(1);
    const mismatches = run.json().mismatches as { table: string; key: string }[];
    expect([...new Set(mismatches.map((m) => m.table))].sort()).toEqual(['daily_analytics', 'sku_analytics']);
    // The day of the sessions, and the SKU alice bought (bob bought it too; his sock is not among them, nor the
    // hat of alice's open session, which no SKU row counts).
    const keys = [...new Set(mismatches.map((m) => m.key.replace(/\|\d{4}-\d{2}-\d{2}/, '')))].sort();
    expect(keys).toEqual(['1', '1|shirt']);

    const rebuild = await replay(['rebuild', '--json']);
    expect(rebuild.code).toBe(0);
    const again = await replay(['verify', '--json']);
    expect({ code: again.code, mismatches: again.json().mismatches }).toEqual({ code: 0, mismatches: [] });
    expect(await rowsOf('alice')).toEqual({ sessions: [], coupons: [], profileSessions: [], profiles: [] });
    expect((await rowsOf('bob')).sessions).toEqual(['bob-1', 'bob-2']);
  });
});
