import { Client } from 'pg';
import type { ReadModelDatabase } from './database';
import { projectorLock } from './projector-lock';
import { ReadModelRebuild, RebuildInProgressError, RebuildLockTimeoutError } from './rebuild';
import { PROJECTION_NAMES } from './writers/projection-writer';
import {
  postgresTestDatabase,
  TEST_DATABASE_URL,
  testDatabases,
  type TestDatabase,
} from './testing/test-databases';

describe.each(testDatabases().map((database) => [database.name, database] as const))(
  'one rebuild at a time (%s)',
  (_name, database: TestDatabase) => {
    // Two handles on one database stand for two replay processes.
    let first: ReadModelDatabase;
    let second: ReadModelDatabase;

    beforeAll(async () => {
      first = await database.open();
      second = await database.open();
    });

    afterAll(async () => {
      await first.close();
      await second.close();
      await database.drop();
    });

    // Whatever a failed test left holding a lock is released, so the next test starts clean.
    const cleanup: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const release of cleanup.splice(0)) await release().catch(() => undefined);
    });

    const prepare = (live: ReadModelDatabase) =>
      ReadModelRebuild.prepare({ live, databaseUrl: database.options().databaseUrl });

    it('refuses a second rebuild while one runs, naming the holder, and allows the next once it closed', async () => {
      const running = await prepare(first);
      cleanup.push(() => running.close());
      const refused = await prepare(second).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(RebuildInProgressError);
      expect((refused as RebuildInProgressError).holder).toMatch(/pid \d+/);
      expect((refused as Error).message).toMatch(/^Another rebuild of these read models is running \(/);

      // The refused one dropped nothing: the running rebuild's copy is still there to swap in.
      const swapped = await running.swap([], undefined);
      expect([...swapped.checkpoints.keys()].sort()).toEqual([...PROJECTION_NAMES].sort());
      await running.close();

      const next = await prepare(second);
      await next.close();
    });

    it('runs alongside the projector: the rebuild lock is not the projector lock', async () => {
      const projector = await projectorLock(first, {
        databaseUrl: database.options().databaseUrl,
      }).tryAcquire();
      expect(projector).toBeDefined();
      cleanup.push(() => projector!.release());
      const rebuild = await prepare(second);
      await rebuild.close();
      await projector!.release();
    });
  },
);

describe('a rebuild waiting for a lock on PostgreSQL says who holds it instead of waiting forever', () => {
  const database = postgresTestDatabase();
  const schema = database.options().schema!;
  let live: ReadModelDatabase;
  /** Another session on the database, as an operator's psql or a reporting job would be. */
  let holder: Client;

  beforeAll(async () => {
    live = await database.open();
    holder = new Client({ connectionString: TEST_DATABASE_URL, application_name: 'nightly-report' });
    await holder.connect();
  });

  afterAll(async () => {
    await holder.query('rollback').catch(() => undefined);
    await holder.end();
    await live.close();
    const pg = new Client({ connectionString: TEST_DATABASE_URL });
    await pg.connect();
    for (const suffix of ['_rebuild', '_retired'])
      await pg.query(`drop schema if exists ${schema}${suffix} cascade`);
    await pg.end();
    await database.drop();
  });

  const prepare = () =>
    ReadModelRebuild.prepare({ live, databaseUrl: database.options().databaseUrl, lockTimeoutMs: 300 });

  it("names the session holding a lock on an interrupted rebuild's copy, and runs once it is gone", async () => {
    // What a rebuild killed half-way leaves behind, looked at in an open transaction.
    await holder.query(`create schema ${schema}_rebuild`);
    await holder.query(`create table ${schema}_rebuild.sessions (stream_id text)`);
    await holder.query('begin');
    await holder.query(`select * from ${schema}_rebuild.sessions`);

    const refused = await prepare().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(RebuildLockTimeoutError);
    expect((refused as Error).message).toMatch(
      new RegExp(
        `^Waited 300 ms for the locks on schema ${schema}_rebuild, ${schema}_retired .*; held by backend pid \\d+ \\(nightly-report, `,
      ),
    );
    expect((refused as Error).message).toContain(`select * from ${schema}_rebuild.sessions`);

    await holder.query('rollback');
    // The refused rebuild released the rebuild lock: the next one runs, and drops the leftover.
    const rebuild = await prepare();
    await rebuild.close();
  });

  it('names the session holding a lock on the live tables when the swap times out, and swaps once it is gone', async () => {
    const rebuild = await prepare();
    try {
      await holder.query('begin');
      await holder.query(`select count(*) from ${schema}.sessions`);
      const refused = await rebuild.swap([], undefined).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(RebuildLockTimeoutError);
      expect((refused as RebuildLockTimeoutError).holders).toEqual([
        expect.stringMatching(/^backend pid \d+ \(nightly-report, .*idle in transaction.*select count/),
      ]);
      expect((refused as Error).message).toContain(
        `for the locks on the live tables sessions, session_coupons`,
      );

      await holder.query('rollback');
      const swapped = await rebuild.swap([], undefined);
      expect([...swapped.checkpoints.keys()].sort()).toEqual([...PROJECTION_NAMES].sort());
    } finally {
      await holder.query('rollback').catch(() => undefined);
      await rebuild.close();
    }
  });
});
