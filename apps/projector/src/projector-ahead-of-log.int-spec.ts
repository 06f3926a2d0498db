/**
 * Read models ahead of the event log: the store was restored from a backup (or replaced) and its log now ends
 * before the read models' checkpoint. Before, the projector resumed after its checkpoint as if nothing had
 * happened: every event the restored log got up to that position was never projected, `minPosition` queries were
 * answered from read models missing them, and /health/ready said caught up. Now it projects nothing, says why
 * (`failure.kind` `ahead_of_log`, an error line naming both positions, the metric), and stays so even once new
 * writes take the log past the old checkpoint — until the read models are rebuilt (here: dropped and projected
 * again, the documented remedy).
 */
import { EsdbClientAdapter } from '@session-engine/event-store';
import { testDatabases, type TestDatabase } from '@session-engine/read-models/testing/test-databases';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { type RunningProjector, startProjector } from './projector';
import { scrape, sleep, until } from './testing/probes';
import { appendHistories, startEmbeddedEventStore } from './testing/store-fixtures';
import { dumpAt } from './testing/from-scratch';
import { workload } from './testing/workload';

jest.setTimeout(120_000);
const AHEAD = 'projector_batch_failures_total{kind="ahead_of_log"}';

type Line = Record<string, unknown> & { level: number; msg: string };

describe.each(testDatabases())(
  'read models ahead of a restored event log, on $name',
  (database: TestDatabase) => {
    const dirs: string[] = [];
    const stores: { close(): Promise<void> }[] = [];
    const clients: EsdbClientAdapter[] = [];
    let projector: RunningProjector | undefined;
    const lines: Line[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Line) });

    const store = async () => {
      const dir = mkdtempSync(join(tmpdir(), 'projector-ahead-es-'));
      dirs.push(dir);
      const started = await startEmbeddedEventStore({ port: 0, dataDir: dir, silent: true });
      stores.push(started);
      const client = EsdbClientAdapter.connect(started.connectionString);
      clients.push(client);
      return { connectionString: started.connectionString, client };
    };
    const project = async (connectionString: string, registry: Registry) => {
      projector = await startProjector({
        connectionString,
        ...database.options(),
        logger,
        registry,
        batchDelayMs: 10,
      });
      return projector;
    };
    const streams = async () =>
      (await dumpAt(database.options())).sessions!.map((row) => row.stream_id).sort();

    afterAll(async () => {
      await projector?.stop();
      for (const client of clients) await client.close();
      for (const started of stores) await started.close();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
      await database.drop();
    });

    it('projects nothing of the restored log, says why, and goes on once the read models are rebuilt', async () => {
      // The log before the backup was restored: 10 sessions, projected.
      const original = await store();
      const before = await project(original.connectionString, new Registry());
      const checkpoint = await appendHistories(original.client, workload(10));
      expect(await before.waitForPosition(checkpoint, 20_000)).toBe(true);
      await before.stop();

      // The restored log: an older copy holding 2 other sessions, ending before the checkpoint.
      const restored = await store();
      const restoredEnd = await appendHistories(restored.client, workload(2, 100));
      expect(restoredEnd).toBeLessThan(checkpoint);
      const registry = new Registry();
      const running = await project(restored.connectionString, registry);
      const failure = await until('the failure reported', () => running.status().failure ?? false);
      expect(failure).toMatchObject({ kind: 'ahead_of_log', position: checkpoint });
      expect(running.status()).toMatchObject({ caughtUp: false, position: checkpoint });
      expect(lines.filter((line) => line.level === 50)).toEqual([
        expect.objectContaining({
          msg: expect.stringContaining('read models are ahead of the event log'),
          checkpoint: checkpoint.toString(),
          logEnd: restoredEnd.toString(),
        }),
      ]);

      // New writes take the log past the old checkpoint: still nothing projected (resuming there would skip
      // the restored log's events before it).
      let end = restoredEnd;
      for (let offset = 200; end <= checkpoint; offset += 10)
        end = await appendHistories(restored.client, workload(10, offset));
      await sleep(6_000);
      expect(running.status().failure).toMatchObject({ kind: 'ahead_of_log' });
      expect(running.position()).toBe(checkpoint);
      expect((await scrape(registry))[AHEAD]).toBeGreaterThanOrEqual(2);
      const original10 = workload(10)
        .map((history) => history.streamId)
        .sort();
      expect(await streams()).toEqual(original10);
      expect(lines.filter((line) => line.level === 50)).toHaveLength(1);

      // The remedy: read models projected again from the restored log.
      await running.stop();
      await database.drop();
      const rebuilt = await project(restored.connectionString, new Registry());
      expect(await rebuilt.waitForPosition(end, 30_000)).toBe(true);
      expect(rebuilt.status().failure).toBeUndefined();
      expect(await streams()).not.toEqual(expect.arrayContaining(original10));
      expect(await streams()).toEqual(
        expect.arrayContaining(workload(2, 100).map((history) => history.streamId)),
      );
    });
  },
);
