/**
 * A PostgreSQL read-model connection cut while verify or rebuild uses it (`pg_terminate_backend` on its active or
 * idle-in-transaction backend: an administrator, a restart, a failover): the CLI says so in one line — the
 * connection lost, what became of a rebuild's copy, that running it again is safe — and exits 2. It used to
 * crash on pg's `'error'` event of the checked-out connection (`Unhandled 'error' event … Connection terminated
 * unexpectedly`, a stack trace, exit 1: "the audit found something"). Each CLI runs as its own process, as
 * operators run it: the crash was the process's.
 *
 * The backend to end is found precisely: a query waiting on a lock this test holds (`pg_blocking_pids`), or a
 * backend of this CLI alone (a DATABASE_URL naming its own `application_name`), so that suites running beside
 * this one never lose theirs.
 */
import { TEST_DATABASE_URL } from '@session-engine/read-models/testing/test-databases';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { writeGeneratedSessions } from '../testing/generated-sessions';
import { ReplaySystem } from '../testing/replay-system';
import { replayCli, spawnReplay } from '../testing/run-cli';

jest.setTimeout(90_000);

const url = (id: string) => `/v2/customer_sessions/${encodeURIComponent(id)}`;

/** Polls `check` every 10 ms until it returns a value; fails after `ms`. */
async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('a read-model connection cut while the CLI uses it (PostgreSQL)', () => {
  let system: ReplaySystem;
  let admin: Client;

  beforeAll(async () => {
    system = await ReplaySystem.start({ backend: 'postgres', projector: true });
    // Enough events that a rebuild folds them in several batches and rounds (a round of 1 000 or more is
    // followed by another).
    await writeGeneratedSessions(system.adapter, 1500);
    const last = (await system.command('PUT', url('last'), { customerSession: {} })).position;
    if (!(await system.projector!.waitForPosition(BigInt(last!), 60_000)))
      throw new Error('the projector did not catch up');
    await system.projector!.stop();
    admin = new Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
  });

  afterAll(async () => {
    await admin?.end();
    await system?.stop();
  });

  /** Runs `work` while a connection of this test holds `lock table <live>.<table> in access exclusive mode`. */
  async function holding<T>(table: string, work: (holderPid: number) => Promise<T>): Promise<T> {
    const holder = new Client({ connectionString: TEST_DATABASE_URL });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query(`lock table ${system.schema}.${table} in access exclusive mode`);
      const { rows } = await holder.query<{ pid: number }>('select pg_backend_pid() as pid');
      return await work(rows[0].pid);
    } finally {
      await holder.query('rollback').catch(() => undefined);
      await holder.end();
    }
  }

  /** Ends the backend whose query waits on the holder's lock; its application_name. */
  async function terminateBlockedBy(holderPid: number): Promise<string> {
    const { pid, name } = await until('a query waiting on the lock', async () => {
      const { rows } = await admin.query<{ pid: number; name: string }>(
        `select pid, application_name as name from pg_stat_activity where $1 = any(pg_blocking_pids(pid))`,
        [holderPid],
      );
      return rows[0];
    });
    await admin.query('select pg_terminate_backend($1)', [pid]);
    return name;
  }

  /** What is left of a rebuild's copy: its schemas. */
  const copy = async () => {
    const { rows } = await admin.query<{ name: string }>(
      'select nspname as name from pg_namespace where nspname in ($1, $2)',
      [`${system.schema}_rebuild`, `${system.schema}_retired`],
    );
    return rows.map((row) => row.name);
  };

  /** The one line the CLI ends with: no stack trace, nothing else. */
  const oneLine = (stderr: string) => {
    expect(stderr).not.toContain("Unhandled 'error' event");
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(stderr.split('\n').filter(Boolean)).toHaveLength(1);
  };

  it('verify: its read of the stored rows cut → one line, exit 2', async () => {
    const verify = spawnReplay(system.env(), ['--no-progress', 'verify']);
    try {
      const name = await holding('sku_analytics', (holderPid) => terminateBlockedBy(holderPid));
      expect(name).toBe('session-engine-replay');
      const ended = await verify.done;
      oneLine(ended.stderr);
      expect(ended.stderr).toMatch(
        /^session-replay: the connection to the read-model database \(DATABASE_URL, PostgreSQL at [^)]+\) was lost: .+\. Nothing was written to it; run the command again once the database answers\.\n$/,
      );
      expect(ended).toMatchObject({ code: 2, signal: null, stdout: '' });
    } finally {
      await verify.kill();
    }
    // Nothing is wrong with the read models: verify runs again.
    expect((await replayCli(system.env())(['verify', '--json'])).json()).toMatchObject({ ok: true });
  });

  it("rebuild: its swap's connection cut while it waits for the live tables → one line, copy dropped, exit 2", async () => {
    const rebuild = spawnReplay(system.env(), ['--no-progress', 'rebuild']);
    try {
      // Nothing but the swap's LOCK TABLE touches the live sku_analytics: the copy is built, then waits there.
      const name = await holding('sku_analytics', (holderPid) => terminateBlockedBy(holderPid));
      expect(name).toBe('session-engine-replay-rebuild');
      const ended = await rebuild.done;
      oneLine(ended.stderr);
      expect(ended.stderr).toMatch(
        /^session-replay: the connection to the read-model database \(DATABASE_URL, PostgreSQL at [^)]+\) was lost: .+\. It was swapping its copy in: the swap either committed .* or changed nothing — `replay verify` tells, once the database answers\. Its copy was dropped and its lock released\. Run the rebuild again once the database answers \(that is safe\)\.\n$/,
      );
      expect(ended).toMatchObject({ code: 2, signal: null, stdout: '' });
    } finally {
      await rebuild.kill();
    }
    expect(await copy()).toEqual([]);
    expect((await replayCli(system.env())(['verify', '--json'])).json()).toMatchObject({ ok: true });
  });

  it('rebuild: a connection cut while it builds its copy → one line, copy dropped, exit 2', async () => {
    // A name of this CLI's own (DATABASE_URL's application_name wins over the CLI's): its backends, and no
    // other suite's, are ended.
    const own = `replay-cut-${randomBytes(4).toString('hex')}`;
    const env = { ...system.env(), DATABASE_URL: `${system.databaseUrl}&application_name=${own}` };
    const rebuild = spawnReplay(env, ['--no-progress', 'rebuild']);
    let ended: string[] = [];
    try {
      // Its copy is being filled: end the connection a batch is written on (a query running, or its
      // transaction open between two queries), not the idle ones (the pool replaces those unnoticed), nor the
      // lock's (whose probe is `select 1`).
      await until('rows in the rebuild copy', async () => {
        const rows = await admin
          .query<{ n: string }>(`select count(*) as n from ${system.schema}_rebuild.sessions`)
          .then(
            (result) => Number(result.rows[0].n),
            () => 0, // not created yet
          );
        return rows > 0 ? rows : undefined;
      });
      ended = await until('a backend writing the copy', async () => {
        const { rows } = await admin.query<{ pid: number }>(
          `select pg_terminate_backend(pid) as ended, pid from pg_stat_activity
           where application_name = $1 and state in ('active', 'idle in transaction')
             and query not in ('select 1', '')`,
          [own],
        );
        return rows.length > 0 ? rows.map((row) => String(row.pid)) : undefined;
      });
      const done = await rebuild.done;
      oneLine(done.stderr);
      expect(done.stderr).toMatch(
        /^session-replay: the connection to the read-model database \(DATABASE_URL, PostgreSQL at [^)]+\) was lost: .+\. It stopped before its swap: the live read models are as they were\. Its copy was dropped and its lock released\. Run the rebuild again once the database answers \(that is safe\)\.\n$/,
      );
      expect(done).toMatchObject({ code: 2, signal: null, stdout: '' });
    } finally {
      await rebuild.kill();
    }
    expect(ended.length).toBeGreaterThan(0);
    expect(await copy()).toEqual([]);
    const again = await spawnReplay(system.env(), ['--no-progress', 'rebuild']).done;
    expect(again.code).toBe(0);
  });
});
