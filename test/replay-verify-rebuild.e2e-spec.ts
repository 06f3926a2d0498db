/**
 * verify and rebuild on both read-model databases, with the API and the projector running in this process:
 * verify is clean on a healthy system and names a row altered directly in the database (exit 1); rebuild
 * runs while commands and management queries keep coming — none of them fails — and afterwards verify
 * is clean again (the altered row is repaired by the rebuild).
 */
import { sql } from 'kysely';
import { openReadModelDatabase } from '@session-engine/read-models';
import { replayCli, replayProcess, type CliRun } from '../apps/replay-cli/src/testing/run-cli';
import { ReplaySystem } from '../apps/replay-cli/src/testing/replay-system';
import { ANALYTICS_SPEC_MARGIN_MS, utcDayWithMargin } from '@session-engine/testing/utc-day';

jest.setTimeout(60_000);

/** The UTC date the spec's events fall on (see utcDayWithMargin), set before any is written. */
let TODAY: string;
const url = (id: string, suffix = '') => `/v2/customer_sessions/${encodeURIComponent(id)}${suffix}`;

describe.each(['sqlite', 'postgres'] as const)('verify and rebuild on %s', (backend) => {
  let system: ReplaySystem;
  let replay: (args: string[]) => Promise<CliRun>;
  let last: string | null = null;

  async function session(id: string, profileId: string, price: number, close: boolean) {
    const created = await system.command('PUT', url(id), {
      customerSession: {
        profileId,
        couponCodes: [`C-${id}`],
        cartItems: [{ sku: `sku-${price % 3}`, quantity: 2, price }],
      },
    });
    last = created.position;
    if (close) last = (await system.command('POST', url(id, '/close'))).position;
  }

  async function alter(statement: string): Promise<void> {
    const database = await openReadModelDatabase({
      databaseUrl: system.databaseUrl,
      dataDir: system.dataDir,
      migrate: false,
    });
    try {
      await sql.raw(statement).execute(database.db);
    } finally {
      await database.close();
    }
  }

  beforeAll(async () => {
    TODAY = await utcDayWithMargin(ANALYTICS_SPEC_MARGIN_MS);
    system = await ReplaySystem.start({ backend, projector: true });
    replay = replayCli(system.env());
    for (let i = 0; i < 12; i++) await session(`s${i}`, `p${i % 4}`, 10 + i, i % 2 === 0);
    last = (
      await system.command('POST', url('s0', '/returns'), {
        return: { returnedCartItems: [{ position: 0, quantity: 1 }] },
      })
    ).position;
    last = (await system.command('POST', url('s2', '/cancel'))).position;
    last = (await system.command('PUT', url('s4', '/reopen'))).position;
    await system.settle(last);
  }, 60_000 + ANALYTICS_SPEC_MARGIN_MS);

  afterAll(async () => {
    await system?.stop();
  });

  it('reports 0 mismatches on a healthy system', async () => {
    const run = await replay(['verify', '--json']);
    expect(run.json()).toMatchObject({ ok: true, mismatches: [] });
    expect(run.json().events).toBeGreaterThanOrEqual(20);
    expect(run.code).toBe(0);
    const table = await replay(['verify', '--application', '1']);
    expect(table.stdout).toContain('0 mismatches');
  });

  it('names a row altered directly in the database, the field, expected and found, and exits 1', async () => {
    await alter(`update daily_analytics set gross_revenue = '999.99' where id = '1|${TODAY}'`);
    await alter(`update customer_profiles set closed_sessions = 42 where id = '1|p0'`);
    const run = await replay(['verify', '--json']);
    expect(run.code).toBe(1);
    const mismatches = run.json().mismatches;
    expect(mismatches).toContainEqual({
      table: 'daily_analytics',
      key: `1|${TODAY}`,
      field: 'grossRevenue',
      expected: expect.any(String),
      found: '999.99',
    });
    expect(mismatches).toContainEqual({
      table: 'customer_profiles',
      key: '1|p0',
      field: 'closed_sessions',
      expected: 2,
      found: 42,
    });
    const table = await replay(['verify']);
    expect(table.code).toBe(1);
    expect(table.stdout).toContain('daily_analytics');
    expect(table.stdout).toContain('999.99');
  });

  it('names the field inside a session row whose JSON was altered', async () => {
    await alter(
      backend === 'postgres'
        ? `update sessions set session_json = replace(session_json, '"state":"closed"', '"state":"open"') where stream_id = 'session-1-s6'`
        : `update sessions set session_json = replace(session_json, '"state":"closed"', '"state":"open"') where stream_id = 'session-1-s6'`,
    );
    const mismatches = (await replay(['verify', '--json'])).json().mismatches;
    expect(mismatches).toContainEqual({
      table: 'sessions',
      key: 'session-1-s6',
      field: 'session_json.state',
      expected: 'closed',
      found: 'open',
    });
  });

  it('rebuilds while commands and queries go on — none fails — and verify is clean afterwards', async () => {
    let running = true;
    const failures: string[] = [];
    let queries = 0;
    let commands = 0;
    const load = async (worker: number) => {
      for (let i = 0; running; i++) {
        const id = `load-${worker}-${i}`;
        try {
          const put = await system.send('PUT', url(id), `ApiKey-v1 replay-int-key-app1`, {
            customerSession: {
              profileId: `p${i % 3}`,
              cartItems: [{ sku: 'sku-load', quantity: 1, price: 5 }],
            },
          });
          if (put.status !== 200) failures.push(`PUT ${put.status}`);
          const close = await system.send('POST', url(id, '/close'), `ApiKey-v1 replay-int-key-app1`);
          if (close.status !== 200) failures.push(`close ${close.status}`);
          last = close.headers.get('x-event-position') ?? last;
          commands += 2;
          for (const path of [
            '/v1/applications/1/sessions?pageSize=50&sort=-total',
            '/v1/applications/1/customer_profiles/p0',
            `/v1/applications/1/analytics/daily?from=${TODAY}&to=${TODAY}`,
            `/v1/applications/1/analytics/skus?from=${TODAY}&to=${TODAY}`,
          ]) {
            const reply = await system.manage(path);
            queries++;
            if (reply.status !== 200) failures.push(`${path} ${reply.status} ${JSON.stringify(reply.body)}`);
          }
        } catch (error) {
          failures.push(String(error));
        }
      }
    };
    const workers = [load(1), load(2)];
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Its own process, as in production: it must not share this process's event loop with the projector.
    const run = await replayProcess(system.env())(['rebuild', '--json']);
    await new Promise((resolve) => setTimeout(resolve, 200));
    running = false;
    await Promise.all(workers);

    // Nothing but progress (a plain line every 5 s, stderr not being a terminal, should the run be slow).
    expect(run.stderr.replace(/^rebuild: \d+\/\d+ events \(\d+%\)\n/gm, '')).toBe('');
    expect(run.code).toBe(0);
    expect(run.json()).toMatchObject({
      projections: ['sessions', 'customer_profiles', 'daily_analytics', 'sku_analytics'],
    });
    expect(failures).toEqual([]);
    expect(queries).toBeGreaterThan(0);
    expect(commands).toBeGreaterThan(0);

    await system.settle(last);
    const verify = await replay(['verify', '--json']);
    expect(verify.json().mismatches).toEqual([]);
    expect(verify.code).toBe(0);
    // The projector went on from the swapped checkpoint: the load's sessions are all there, once.
    const profile = await system.manage('/v1/applications/1/customer_profiles/p0');
    expect(profile.status).toBe(200);
  });

  it('rebuilds one projection alone and keeps the others as they were', async () => {
    await alter(`update sku_analytics set quantity_sold = 7777`);
    expect((await replay(['verify'])).code).toBe(1);
    const run = await replayProcess(system.env())(['rebuild', '--projection', 'sku_analytics']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('sku_analytics');
    expect((await replay(['verify', '--json'])).json().mismatches).toEqual([]);
  });
});
