/**
 * A projector catching up a backlog says so in its log: how far its commits got and at what rate, every
 * `catchUpLogIntervalMs` (30 s by default), and once when it reaches the live end. Before, a 64-second catch-up
 * of 630,000 events logged "projector subscribed" and nothing more.
 */
import { EsdbClientAdapter } from '@session-engine/event-store';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { type RunningProjector, startProjector } from './projector';
import { appendHistories, startEmbeddedEventStore } from './testing/store-fixtures';
import { workload } from './testing/workload';

jest.setTimeout(60_000);

type Line = Record<string, unknown> & { msg: string };

describe('the projector catching up a backlog', () => {
  let storeDir: string;
  let readModelDir: string;
  let store: { connectionString: string; close(): Promise<void> } | undefined;
  let client: EsdbClientAdapter;
  let projector: RunningProjector | undefined;
  const lines: Line[] = [];
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => void lines.push(JSON.parse(line) as Line) },
  );
  const said = (msg: string) => lines.filter((line) => line.msg === msg);

  beforeAll(async () => {
    storeDir = mkdtempSync(join(tmpdir(), 'projector-catch-up-es-'));
    readModelDir = mkdtempSync(join(tmpdir(), 'projector-catch-up-rm-'));
    store = await startEmbeddedEventStore({ port: 0, dataDir: storeDir, silent: true });
    client = EsdbClientAdapter.connect(store.connectionString);
  });

  afterAll(async () => {
    await projector?.stop();
    await client?.close();
    await store?.close();
    rmSync(storeDir, { recursive: true, force: true });
    rmSync(readModelDir, { recursive: true, force: true });
  });

  it('given a backlog, logs its progress while catching up, then once that it caught up; nothing of it once live', async () => {
    const backlog = await appendHistories(client, workload(60));

    projector = await startProjector({
      connectionString: store!.connectionString,
      dataDir: readModelDir,
      logger,
      registry: new Registry(),
      batchSize: 25,
      batchDelayMs: 10,
      catchUpLogIntervalMs: 0,
    });
    expect(await projector.waitForPosition(backlog, 20_000)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 200));

    const progress = said('projector catching up');
    expect(progress.length).toBeGreaterThan(1);
    const positions = progress.map((line) => BigInt(line.position as string));
    expect(positions).toEqual([...positions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(progress[0]).toMatchObject({
      eventsRead: expect.any(Number),
      eventsPerSecond: expect.any(Number),
      projectedUpTo: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
    const caughtUp = said('projector caught up with the event log');
    expect(caughtUp).toHaveLength(1);
    let inLog = 0;
    for await (const event of client.readAll()) if (event.streamName.startsWith('session-')) inLog++;
    expect(caughtUp[0]).toMatchObject({ events: inLog, readPosition: backlog.toString() });

    const before = lines.length;
    const live = await appendHistories(client, workload(5, 60));
    expect(await projector.waitForPosition(live, 20_000)).toBe(true);
    const after = lines.slice(before).map((line) => line.msg);
    expect(after).not.toContain('projector catching up');
    expect(after).not.toContain('projector caught up with the event log');
  });
});
