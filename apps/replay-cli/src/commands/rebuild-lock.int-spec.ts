/**
 * `replay rebuild` on PostgreSQL while its lock is taken from under it. The `rebuild` lock is an advisory
 * lock on a connection of its own, and the server frees it when that connection ends: an administrator ends
 * it, or the server gives up on a peer it has not heard from (about 25 s when the network drops packets). A
 * rebuild that went on as if it still held the lock could then run beside a second one, which drops and
 * refills the copy it is writing. So a rebuild whose lock connection ends, or whose probe of it goes
 * unanswered (a database that hangs: `startHangingRelay` plays it), stops before its swap and says so, rather
 * than waiting on a database that may never answer, and the live read models are as they were.
 */
import { openReadModelDatabase, type ReadModelDatabase } from '@session-engine/read-models';
import { startHangingRelay, type HangingRelay } from '@session-engine/testing';
import { sql } from 'kysely';
import { writeGeneratedSessions } from '../testing/generated-sessions';
import { ReplaySystem } from '../testing/replay-system';
import { replayCli, spawnReplay } from '../testing/run-cli';

jest.setTimeout(180_000);

/** Far beyond every bound here (the lock's probe: 10 s): a run still going then would never end. */
const GENEROUS_MS = 90_000;

/** `work`'s result, or a failure naming what did not happen within `ms` (its timer cleared either way). */
async function inTime<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`waited ${ms} ms for ${what}`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` every 20 ms until it holds; fails after GENEROUS_MS. */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + GENEROUS_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${GENEROUS_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('a PostgreSQL rebuild that loses its lock while it runs', () => {
  let system: ReplaySystem;
  let database: ReadModelDatabase;
  let relay: HangingRelay;
  let checkpointsBefore: unknown;

  const rows = async <T>(query: string) => (await sql.raw<T>(query).execute(database.db)).rows;
  const checkpoints = () =>
    rows<{ projection: string; position: string }>(
      'select projection, position from projection_checkpoints order by projection',
    );
  /** The copy is there and being filled: the rebuild is folding the log. */
  const filling = async () =>
    (
      await rows<{ copy: string | null }>(
        `select to_regclass('${system.schema}_rebuild.sessions')::text as copy`,
      )
    )[0]?.copy != null &&
    Number(
      (await rows<{ n: string }>(`select count(*) as n from ${system.schema}_rebuild.sessions`))[0]?.n ?? 0,
    ) > 0;
  const lockConnections = () =>
    rows<{ pid: number }>(
      `select pid from pg_stat_activity where application_name = 'session-engine-rebuild-lock'`,
    );
  /** Tables a swap would have moved out of the live schema. */
  const retiredTables = async () =>
    Number(
      (
        await rows<{ n: string }>(
          `select count(*) as n from information_schema.tables where table_schema = '${system.schema}_retired'`,
        )
      )[0]!.n,
    );

  beforeAll(async () => {
    system = await ReplaySystem.start({ backend: 'postgres', projector: true });
    // Enough events that the rebuild is still folding them when its lock goes.
    await writeGeneratedSessions(system.adapter, 4000);
    const last = (await system.command('PUT', '/v2/customer_sessions/last', { customerSession: {} }))
      .position;
    if (!(await system.projector!.waitForPosition(BigInt(last!), 120_000)))
      throw new Error('the projector did not catch up');
    await system.projector!.stop();
    database = await openReadModelDatabase({
      databaseUrl: system.databaseUrl,
      dataDir: system.dataDir,
      migrate: false,
    });
    checkpointsBefore = await checkpoints();
    const server = new URL(system.databaseUrl!);
    relay = await startHangingRelay(Number(server.port || 5432), server.hostname);
  });

  afterEach(() => relay?.resume());

  afterAll(async () => {
    await relay?.close();
    await database?.close();
    await system?.stop();
  });

  /** What the CLI is given: the same read models, reached through the relay. */
  const throughRelay = () => {
    const url = new URL(system.databaseUrl!);
    url.hostname = '127.0.0.1';
    url.port = String(relay.port);
    return { ...system.env(), DATABASE_URL: url.toString() };
  };

  /** The live read models are those the projector left, and a rebuild that keeps its lock completes. */
  const liveUntouchedAndRebuildable = async () => {
    expect(await retiredTables()).toBe(0);
    expect(await checkpoints()).toEqual(checkpointsBefore);
    await until('the lost lock to be freed', async () => (await lockConnections()).length === 0);
    const replay = replayCli(system.env());
    const verify = await replay(['verify', '--json']);
    expect(verify.json()).toMatchObject({ ok: true, mismatches: [] });
    const again = await replay(['--no-progress', 'rebuild', '--json']);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
  };

  it('stops before its swap when the server ends its lock connection, and says so', async () => {
    const rebuild = spawnReplay(system.env(), ['rebuild']);
    try {
      await until('the rebuild copy being filled', filling);
      const [lock] = await lockConnections();
      expect(lock).toBeDefined();
      // An administrator (or the server's keep-alive, after a network cut) ends it: the lock is free.
      await rows(`select pg_terminate_backend(${lock!.pid})`);
      const ended = await inTime(GENEROUS_MS, 'the rebuild to exit', rebuild.done);
      expect(ended).toMatchObject({ code: 2, signal: null, stdout: '' });
      expect(ended.stderr).toContain(
        'session-replay: The rebuild lost its lock on the read-model database: ',
      );
      expect(ended.stderr).toContain('It stopped before its swap: the live read models are as they were.');
      expect(ended.stderr).not.toMatch(/\n\s+at /);
    } finally {
      await rebuild.kill();
    }
    await liveUntouchedAndRebuildable();
  });

  it('gives its lock up and ends when the database stops answering, instead of waiting on it', async () => {
    const rebuild = spawnReplay(throughRelay(), ['rebuild']);
    try {
      await until('the rebuild copy being filled', filling);
      relay.hang();
      const ended = await inTime(GENEROUS_MS, 'the rebuild to exit', rebuild.done);
      expect(ended).toMatchObject({ code: 2, signal: null, stdout: '' });
      expect(ended.stderr).toContain(
        'session-replay: The rebuild lost its lock on the read-model database: The rebuild lock connection did ' +
          'not answer a probe within 10000 ms. It stopped before its swap: the live read models are as they were.',
      );
    } finally {
      relay.resume();
      await rebuild.kill();
    }
    await liveUntouchedAndRebuildable();
  });
});
