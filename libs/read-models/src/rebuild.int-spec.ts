import type { ReadModelDatabase } from './database';
import { projectorLock } from './projector-lock';
import { ReadModelRebuild, RebuildInProgressError } from './rebuild';
import { PROJECTION_NAMES } from './writers/projection-writer';
import { testDatabases, type TestDatabase } from './testing/test-databases';

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
