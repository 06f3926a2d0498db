/**
 * What `projector_lag_events` counts while a commit waits on another writer's lock (an operator's open
 * transaction, a `rebuild` swap). The projector reads the log at most about two batches ahead of its commits
 * — the events of a blocked commit are kept, so reading on would only pile them up in memory — and an event
 * it has not read is counted by nothing it can have cheaply: EventStoreDB has no count of `$all` between two
 * positions, and its positions are byte offsets in a log shared with other streams. So while it still reads,
 * every waiting event is counted; once its read-ahead is full it stops reading, the count stops with it, and
 * `projector_reading_paused` says so (the backlog's age, `projector_lag_seconds`, keeps growing).
 */
import { EsdbClientAdapter } from '@session-engine/event-store';
import { postgresTestDatabase } from '@session-engine/read-models/testing/test-databases';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import pino from 'pino';
import { Registry } from 'prom-client';
import { type RunningProjector, startProjector } from './projector';
import { appendHistories, startEmbeddedEventStore } from './testing/store-fixtures';
import { scrape, until } from './testing/probes';
import { workload } from './testing/workload';

jest.setTimeout(120_000);
const BATCH_SIZE = 20;

describe('projector_lag_events while a commit waits on a lock (postgres)', () => {
  const database = postgresTestDatabase();
  let dir: string;
  let store: { connectionString: string; close(): Promise<void> };
  let client: EsdbClientAdapter;
  let projector: RunningProjector;
  const registry = new Registry();
  let appended = 0;
  const append = async (sessions: number, offset: number) => {
    const histories = workload(sessions, offset);
    appended += histories.reduce((n, h) => n + h.events.length, 0);
    return appendHistories(client, histories);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'projector-lag-es-'));
    store = await startEmbeddedEventStore({ port: 0, dataDir: dir, silent: true });
    client = EsdbClientAdapter.connect(store.connectionString);
    projector = await startProjector({
      connectionString: store.connectionString,
      ...database.options(),
      logger: pino({ level: 'silent' }),
      registry,
      batchSize: BATCH_SIZE,
      batchDelayMs: 10,
    });
  });

  afterAll(async () => {
    await projector?.stop();
    await client?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
    await database.drop();
  });

  it('counts every waiting event while it reads, then says it stopped reading once its read-ahead is full', async () => {
    const first = await append(3, 0);
    expect(await projector.waitForPosition(first, 30_000)).toBe(true);
    await until('caught up', async () => (await scrape(registry)).projector_caught_up === 1);
    const committed = appended;

    // Another writer holds the checkpoints table: every batch commit waits.
    const holder = new Client({ connectionString: database.options().databaseUrl });
    await holder.connect();
    await holder.query('begin');
    await holder.query(`lock table ${database.options().schema}.projection_checkpoints in exclusive mode`);
    let last: bigint;
    try {
      // Fewer events than a batch: all of them are read, and all of them are counted.
      await append(2, 3);
      const few = await until('the waiting events counted', async () => {
        const values = await scrape(registry);
        return values.projector_lag_events === appended - committed && values;
      });
      expect(few.projector_reading_paused).toBe(0);
      expect(few.projector_events_total).toBe(committed);

      // Far more than the read-ahead: it stops reading, and the count stops below what waits.
      last = await append(40, 5);
      const many = await until('reading paused', async () => {
        const values = await scrape(registry);
        return values.projector_reading_paused === 1 && values;
      });
      const waiting = appended - committed;
      expect(many.projector_lag_events).toBeGreaterThan(few.projector_lag_events!);
      expect(many.projector_lag_events).toBeLessThan(waiting);
      expect(many.projector_head_position).toBeLessThan(Number(last));
      expect(many.projector_events_total).toBe(committed);
      const help = await registry.getSingleMetricAsString('projector_lag_events');
      expect(help).toMatch(/reads at most about two batches ahead/);
      expect(help).toMatch(/projector_reading_paused/);
    } finally {
      await holder.query('rollback');
      await holder.end();
    }

    expect(await projector.waitForPosition(last, 60_000)).toBe(true);
    const recovered = await until('caught up again', async () => {
      const values = await scrape(registry);
      return values.projector_caught_up === 1 && values;
    });
    expect(recovered).toMatchObject({
      projector_lag_events: 0,
      projector_reading_paused: 0,
      projector_events_total: appended,
    });
  });
});
