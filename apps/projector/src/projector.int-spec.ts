import { EsdbClientAdapter } from '@session-engine/event-store';
import { dumpReadModels, openReadModelDatabase, ReadModelQueries } from '@session-engine/read-models';
import { SessionHistory } from '@session-engine/read-models/testing/session-history';
import { testDatabases, type TestDatabase } from '@session-engine/read-models/testing/test-databases';
import {
  runsOnExternalEventStore,
  startTestEventStore,
  uniqueRunId,
} from '@session-engine/testing/event-store';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { type RunningProjector, startProjector } from './projector';
import { appendHistories, startEmbeddedEventStore } from './testing/store-fixtures';

jest.setTimeout(60_000);
const logger = pino({ level: 'silent' });
const DAY = '2025-04-01';
// Restarting the event store is only possible when this suite owns it.
const itOwnStore = runsOnExternalEventStore() ? it.skip : it;

function sessions(app: number, from: number, count: number): SessionHistory[] {
  return Array.from({ length: count }, (_, i) => {
    const n = from + i;
    // Session ids are unique across applications in the read models: derive them from the application id.
    return new SessionHistory(app, `s-${n}`, app * 1_000 + n)
      .created(`${DAY}T08:00:00.000Z`, {
        profileId: `p-${n % 3}`,
        cartItems: [{ sku: 'SKU', quantity: 2, price: '1.10' }],
      })
      .closed(`${DAY}T09:00:00.000Z`, `p-${n % 3}`, '2.2', [
        { position: 0, sku: 'SKU', quantity: 2, value: '2.2' },
      ]);
  });
}

describe.each(testDatabases())('projector on $name', (database: TestDatabase) => {
  // Its own application id per suite on a shared external server (EVENTSTORE_CONNECTION_STRING): the counts
  // below then see only the sessions this suite wrote.
  const APP = runsOnExternalEventStore() ? uniqueRunId() : 7;
  let storeDir: string;
  let store: { connectionString: string; close(): Promise<void> };
  let client: EsdbClientAdapter;
  let projector: RunningProjector | undefined;
  const registry = new Registry();
  const start = () =>
    startProjector({
      connectionString: store.connectionString,
      ...database.options(),
      logger,
      registry,
      batchDelayMs: 10,
    });
  const daily = async () => {
    const rm = await openReadModelDatabase(database.options());
    try {
      return (await new ReadModelQueries(rm.db).dailyAnalytics(APP, DAY, DAY))[0];
    } finally {
      await rm.close();
    }
  };

  beforeAll(async () => {
    storeDir = mkdtempSync(join(tmpdir(), 'projector-es-'));
    store = await startTestEventStore({ dataDir: storeDir });
    client = EsdbClientAdapter.connect(store.connectionString);
  });
  afterAll(async () => {
    await projector?.stop();
    await client.close();
    await store.close();
    rmSync(storeDir, { recursive: true, force: true });
    await database.drop();
  });

  it('projects what was written before it started and what is written while it runs', async () => {
    await appendHistories(client, sessions(APP, 0, 30));
    projector = await start();
    const live = await appendHistories(client, sessions(APP, 30, 5));
    expect(await projector.waitForPosition(live, 10_000)).toBe(true);
    expect(await daily()).toMatchObject({ sessionsCreated: 35, sessionsClosed: 35, grossRevenue: 77 });
    expect(await registry.getSingleMetricAsString('projector_lag_events')).toContain(
      'projector_lag_events 0',
    );
  });

  it('resumes after its checkpoint on restart, counting nothing twice and missing nothing', async () => {
    await projector!.stop();
    const written = await appendHistories(client, sessions(APP, 35, 5));
    projector = await start();
    expect(await projector.waitForPosition(written, 10_000)).toBe(true);
    expect(await daily()).toMatchObject({ sessionsCreated: 40, sessionsClosed: 40, grossRevenue: 88 });
  });

  itOwnStore(
    'reconnects when the event store goes away and comes back, and projects what was written since',
    async () => {
      const port = Number(new URL(store.connectionString.replace(/^esdb:/, 'http:')).port);
      await client.close();
      await store.close();
      await new Promise((resolve) => setTimeout(resolve, 500));
      store = await startEmbeddedEventStore({ port, dataDir: storeDir, silent: true });
      client = EsdbClientAdapter.connect(store.connectionString);
      const written = await appendHistories(client, sessions(APP, 40, 5));
      expect(await projector!.waitForPosition(written, 20_000)).toBe(true);
      expect(await daily()).toMatchObject({ sessionsCreated: 45, sessionsClosed: 45, grossRevenue: 99 });
      expect(await registry.getSingleMetricAsString('projector_reconnects_total')).toMatch(
        /projector_reconnects_total [1-9]/,
      );
    },
  );

  it('gives up waiting for a position it never reaches', async () => {
    expect(await projector!.waitForPosition(projector!.position() + 1_000_000n, 200)).toBe(false);
  });

  it('holds the same rows as a projection of the whole log from scratch', async () => {
    const fresh = database.name === 'postgres' ? undefined : mkdtempSync(join(tmpdir(), 'projector-fresh-'));
    const live = await openReadModelDatabase(database.options());
    const scratchOptions = fresh
      ? { dataDir: fresh }
      : { ...database.options(), schema: `${database.options().schema}_scratch` };
    const scratch = await startProjector({
      connectionString: store.connectionString,
      ...scratchOptions,
      logger,
      registry: new Registry(),
    });
    try {
      expect(await scratch.waitForPosition(projector!.position(), 10_000)).toBe(true);
      const scratchDb = await openReadModelDatabase(scratchOptions);
      try {
        expect(await dumpReadModels(scratchDb.db)).toEqual(await dumpReadModels(live.db));
      } finally {
        await scratchDb.close();
      }
    } finally {
      await scratch.stop();
      await live.close();
      if (fresh) rmSync(fresh, { recursive: true, force: true });
    }
  });
});
