/**
 * verify against read models that are caught up, behind the log, or never projected — it reports the log's
 * head and each projection's checkpoint, exits 2 for read models that were never projected, and writes
 * nothing to the read-model database. Also: the verify and rebuild progress bars count events, as their
 * summaries do.
 */
import { openReadModelDatabase } from '@session-engine/read-models';
import { TEST_DATABASE_URL } from '@session-engine/read-models/testing/test-databases';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { ReplaySystem } from '../testing/replay-system';
import { replayCli, type CliRun } from '../testing/run-cli';

jest.setTimeout(60_000);

const url = (id: string, suffix = '') => `/v2/customer_sessions/${encodeURIComponent(id)}${suffix}`;

async function sessions(system: ReplaySystem, prefix: string, count: number): Promise<string | null> {
  let last: string | null = null;
  for (let i = 0; i < count; i++) {
    await system.command('PUT', url(`${prefix}-${i}`), {
      customerSession: { profileId: `p${i % 2}`, cartItems: [{ sku: 'tee', quantity: 1, price: 10 }] },
    });
    last = (await system.command('POST', url(`${prefix}-${i}`, '/close'))).position;
  }
  return last;
}

describe('verify with the projector running, then stopped', () => {
  let system: ReplaySystem;
  let replay: (args: string[]) => Promise<CliRun>;

  beforeAll(async () => {
    system = await ReplaySystem.start({ backend: 'sqlite', projector: true });
    replay = replayCli(system.env());
    await system.settle(await sessions(system, 'a', 5));
  });

  afterAll(async () => {
    await system?.stop();
  });

  it('reports the log head and each checkpoint: caught up, nothing behind', async () => {
    const run = await replay(['verify', '--json']);
    expect(run.code).toBe(0);
    const result = run.json();
    expect(result).toMatchObject({
      ok: true,
      events: 10,
      behind: { sessions: 0, customer_profiles: 0, daily_analytics: 0, sku_analytics: 0 },
    });
    expect(Object.values(result.checkpoints)).toEqual(Array(4).fill(result.logHead));
    const table = await replay(['verify']);
    expect(table.stdout).toContain(
      `0 mismatches: the read models are what the event log says, up to its last session event (position ${result.logHead})`,
    );
  });

  it('warns when the application verified has nothing in the log nor in the read models (a mistyped id?)', async () => {
    const unknown = await replay(['verify', '--application', '99']);
    expect(unknown.code).toBe(0);
    expect(unknown.stderr).toContain(
      'session-replay: warning: application 99 has no session event in the log and no row in the read models',
    );
    const known = await replay(['verify', '--application', '1']);
    expect(known.code).toBe(0);
    expect(known.stderr).not.toContain('warning');
  });

  it('the verify bar counts events, as its summary does, and ends full', async () => {
    const verify = await replayCli(system.env(), { tty: true })(['verify', '--json']);
    const events = verify.json().events;
    expect(events).toBe(10);
    expect(verify.stderr).toContain(`| ${events}/${events} events`);
    expect(verify.stderr.endsWith('\x1b[2K')).toBe(true);
  });

  it('the rebuild bar counts events, as its summary does, and ends full', async () => {
    // The projector stopped: the rebuild runs in this process. (Beside a running SQLite projector it runs in its
    // own, as in production: test/replay-verify-rebuild.e2e-spec.ts. Read models behind the log:
    // rebuild.int-spec.ts.)
    await system.projector!.stop();
    const rebuild = await replayCli(system.env(), { tty: true })(['rebuild', '--json']);
    expect(rebuild.code).toBe(0);
    const rebuilt = rebuild.json().events;
    expect(rebuilt).toBe(10);
    expect(rebuild.stderr).toContain(`| ${rebuilt}/${rebuilt} events`);
    expect(rebuild.stderr.endsWith('\x1b[2K')).toBe(true);
  });

  it('says plainly how far behind the log read models are (exit 0: consistent up to their checkpoint)', async () => {
    const before = (await replay(['verify', '--json'])).json(); // the projector is stopped
    await sessions(system, 'b', 3); // 6 events the read models have not seen

    const run = await replay(['verify', '--json']);
    expect(run.code).toBe(0);
    const result = run.json();
    expect(result).toMatchObject({
      ok: true,
      events: 10,
      checkpoints: before.checkpoints,
      behind: { sessions: 6, customer_profiles: 6, daily_analytics: 6, sku_analytics: 6 },
    });
    expect(BigInt(result.logHead)).toBeGreaterThan(BigInt(before.logHead));

    const table = await replay(['verify']);
    expect(table.code).toBe(0);
    expect(table.stdout).not.toContain('the read models are what the event log says');
    expect(table.stdout).toContain(
      `0 mismatches: the read models are consistent up to position ${before.logHead}; ` +
        `the log is at ${result.logHead} (6 event(s) not yet projected)`,
    );
    expect(table.stdout).toMatch(/sessions\s*│\s*\d+\s*│\s*6\s*│/);
  });
});

describe('verify of read models that were never projected', () => {
  let system: ReplaySystem;
  /** Read models of their own (the API of `system` holds its own read-models.sqlite open). */
  let dataDir: string;
  let replay: (args: string[]) => Promise<CliRun>;
  const file = () => join(dataDir, 'read-models.sqlite');

  beforeAll(async () => {
    system = await ReplaySystem.start({ backend: 'sqlite' });
    dataDir = mkdtempSync(join(tmpdir(), 'replay-verify-'));
    replay = replayCli({ ...system.env(), DATA_DIR: dataDir });
  });

  afterAll(async () => {
    await system?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('exits 0 for read models without checkpoints while the log holds no session event', async () => {
    const database = await openReadModelDatabase({ dataDir });
    await database.close();
    const run = await replay(['verify']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('The log holds no session events: nothing to verify.');
  });

  it('exits 2 for read models without checkpoints once the log holds session events', async () => {
    await sessions(system, 'c', 1);
    const run = await replay(['verify', '--json']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(
      'never been projected (no checkpoint for sessions, customer_profiles, daily_analytics, sku_analytics)',
    );
  });

  it('exits 2 for an empty read-models.sqlite and leaves the file as it was (no schema created)', async () => {
    rmSync(file());
    writeFileSync(file(), '');
    const run = await replay(['verify']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(
      `The read models at ${file()} have never been projected (no read-model tables)`,
    );
    expect(run.stderr).toContain('start the projector');
    expect(statSync(file()).size).toBe(0);
  });
});

describe('verify of an empty PostgreSQL schema', () => {
  let system: ReplaySystem;
  const schema = `rp_verify_${randomBytes(5).toString('hex')}`;
  const pg = new Client({ connectionString: TEST_DATABASE_URL });

  beforeAll(async () => {
    system = await ReplaySystem.start({ backend: 'sqlite' });
    await pg.connect();
    await pg.query(`create schema ${schema}`);
  });

  afterAll(async () => {
    await system?.stop();
    await pg.query(`drop schema if exists ${schema} cascade`);
    await pg.end();
  });

  it('exits 2 and creates no table in it', async () => {
    await sessions(system, 'd', 1);
    const env = { ...system.env(), DATABASE_URL: TEST_DATABASE_URL, READ_MODEL_SCHEMA: schema };
    const run = await replayCli(env)(['verify']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(
      `The read models at DATABASE_URL (schema ${schema}) have never been projected (no read-model tables)`,
    );
    const tables = await pg.query(
      'select table_name from information_schema.tables where table_schema = $1',
      [schema],
    );
    expect(tables.rows).toEqual([]);
  });
});
