/**
 * The projector of `npm start` in its worker thread (projectorThreadService, as background-services.ts
 * starts it) beside the API in this process: events written through the API are projected (a management
 * query given the command's X-Event-Position sees them), the worker's metrics show on the API's /metrics,
 * a worker that dies is restarted, and stop() commits the batch in hand and ends the thread.
 */
import type { INestApplication } from '@nestjs/common';
import { EsdbClientAdapter } from '@session-engine/event-store';
import { closedPort, startHangingRelay } from '@session-engine/testing';
import { TEST_DATABASE_URL } from '@session-engine/read-models/testing/test-databases';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import pino from 'pino';
import { startEmbeddedEventStore, type EmbeddedEventStore } from '../apps/eventstore-embedded/src';
import { projectorThreadService } from '../apps/projector/src/projector-thread';
import { createSessionApi } from '../apps/session-api/src/app.factory';
import { backgroundServices } from '../apps/session-api/src/background-services';
import { ApiKeys } from '../apps/session-api/src/config/api-keys.provider';
import { parseConfig, type AppConfig } from '../apps/session-api/src/config/config';
import { MetricsService } from '../apps/session-api/src/operations/metrics.service';

jest.setTimeout(60_000);

const INTEGRATION_KEY = 'int-key-app1-0001';
const MANAGEMENT_KEY = 'mgmt-key-all-0001';

describe('projector in a worker thread of the API process', () => {
  let dataDir: string;
  let config: AppConfig;
  let store: EmbeddedEventStore;
  let adapter: EsdbClientAdapter;
  let app: INestApplication;
  let metrics: MetricsService;
  let baseUrl: string;
  const logger = pino({ level: 'silent' });
  let sessions = 0;

  const put = async (): Promise<{ id: string; position: bigint }> => {
    const id = `Thread-${++sessions}`;
    const response = await fetch(`${baseUrl}/v2/customer_sessions/${id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `ApiKey-v1 ${INTEGRATION_KEY}` },
      body: JSON.stringify({ customerSession: { cartItems: [{ sku: 'A', quantity: 2, price: 1.5 }] } }),
    });
    expect(response.status).toBe(200);
    return { id, position: BigInt(response.headers.get('x-event-position')!) };
  };
  const manage = async (path: string) => {
    const response = await fetch(`${baseUrl}${path}`, {
      headers: { authorization: `ManagementKey-v1 ${MANAGEMENT_KEY}` },
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return { status: response.status, body: (await response.json()) as any };
  };
  /** The projector_* values on the API's /metrics. */
  const scrape = async (): Promise<Record<string, number>> => {
    const text = await (await fetch(`${baseUrl}/metrics`)).text();
    const values: Record<string, number> = {};
    for (const match of text.matchAll(/^(projector_\w+) (\S+)$/gm)) values[match[1]!] = Number(match[2]);
    return values;
  };
  const eventually = async (check: () => Promise<boolean>, what: string) => {
    const deadline = Date.now() + 10_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'projector-thread-e2e-'));
    config = parseConfig({
      PORT: '0',
      DATA_DIR: dataDir,
      INTEGRATION_API_KEYS: `${INTEGRATION_KEY}=1`,
      MANAGEMENT_API_KEYS: `${MANAGEMENT_KEY}=*`,
      LOG_LEVEL: 'silent',
    });
    store = await startEmbeddedEventStore({ port: 0, dataDir: join(dataDir, 'eventstore'), silent: true });
    adapter = EsdbClientAdapter.connect(store.connectionString);
    metrics = new MetricsService();
    app = await createSessionApi({
      config,
      keys: new ApiKeys(config.integrationKeys!, config.managementKeys!),
      store: adapter,
      logger,
      metrics,
    });
    await app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await app?.close();
    await adapter?.close();
    await store?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('is what npm start runs in process, and projects what the API writes; its metrics show on /metrics', async () => {
    const services = backgroundServices({
      config,
      connectionString: store.connectionString,
      logger,
      registry: metrics.registry,
    });
    expect(services.map((service) => service.name)).toEqual(['projector']);
    const [projector] = services;
    await projector!.start();
    try {
      const { id, position } = await put();
      const reply = await manage(`/v1/applications/1/sessions?minPosition=${position}`);
      expect(reply.status).toBe(200);
      expect(reply.body.data).toEqual([expect.objectContaining({ integrationId: id, total: 3 })]);

      const values = await scrape();
      expect(values.projector_position).toBeGreaterThanOrEqual(Number(position));
      expect(values.projector_leader).toBe(1);
      expect(values.projector_events_total).toBeGreaterThanOrEqual(1);
      expect(values.projector_batches_total).toBeGreaterThanOrEqual(1);
      expect(values.projector_worker_restarts_total).toBe(0);
      for (const name of ['projector_lag_events', 'projector_lag_seconds', 'projector_caught_up'])
        expect(values).toHaveProperty(name);
      expect((await fetch(`${baseUrl}/health/ready`)).status).toBe(200);
    } finally {
      await projector!.stop();
    }
  });

  it('fails the start, loudly, when the projector cannot start in its worker', async () => {
    const projector = projectorThreadService({
      config: { ...config, dataDir: '/dev/null/not-a-directory' },
      connectionString: store.connectionString,
      logger,
    });
    await expect(projector.start()).rejects.toThrow(/projector start failed/);
    expect(projector.isRunning()).toBe(false);
  });

  it('starts while PostgreSQL cannot be reached, and projects once it can, as the API keeps serving', async () => {
    // Given read models in a PostgreSQL whose address answers nothing yet (a relay not listening)
    const port = await closedPort();
    const schema = `rm_thread_late_${randomBytes(4).toString('hex')}`;
    const projector = projectorThreadService({
      config: {
        ...config,
        databaseUrl: `postgres://postgres@127.0.0.1:${port}/test`,
        readModelSchema: schema,
      },
      connectionString: store.connectionString,
      logger,
    });
    let relay: Awaited<ReturnType<typeof startHangingRelay>> | undefined;
    try {
      // When the projector starts, it does not fail the start: it is not running, and is started again
      await projector.start();
      expect(projector.isRunning()).toBe(false);
      expect((await projector.health()).status).toMatch(/^(not-running|starting)$/);
      const { position } = await put();
      // Then once PostgreSQL answers there, it starts and projects what was written meanwhile
      relay = await startHangingRelay(5432, '127.0.0.1', port);
      await eventually(async () => projector.isRunning(), 'the projector to start');
      await eventually(async () => {
        const health = await projector.health();
        return health.status === 'ok' && BigInt((health as { position: string }).position) >= position;
      }, 'the projector to project what was written');
    } finally {
      await projector.stop();
      await relay?.close();
      const pg = new Client({ connectionString: TEST_DATABASE_URL });
      await pg.connect();
      await pg.query(`drop schema if exists ${schema} cascade`);
      await pg.end();
    }
  });

  it('restarts a worker that died, and stop() commits the batch in hand and ends the thread', async () => {
    // Live batches wait a minute: whatever is projected before stop() is committed by stop() itself. The
    // dead worker's SQLite lease (same process) is taken over at once, not after it goes stale (15 s).
    const projector = projectorThreadService({
      config,
      connectionString: store.connectionString,
      logger,
      registry: metrics.registry,
      projector: { batchDelayMs: 60_000, lockHeartbeatMs: 500 },
    });
    await projector.start();
    try {
      const first = projector.worker()!;
      await eventually(
        async () => (await scrape()).projector_leader === 1,
        'the first worker to hold the lock',
      );
      await first.terminate();
      const died = Date.now();
      await eventually(
        async () => projector.isRunning() && projector.worker() !== first,
        'the worker to restart',
      );
      expect((await scrape()).projector_worker_restarts_total).toBe(1);
      await eventually(
        async () => (await scrape()).projector_leader === 1,
        'the new worker to hold the lock',
      );
      expect(Date.now() - died).toBeLessThan(15_000);

      const { id, position } = await put();
      await eventually(
        async () => (await scrape()).projector_lag_events >= 1,
        'the event to reach the worker',
      );
      expect((await manage('/v1/applications/1/sessions?pageSize=50')).body.data).not.toContainEqual(
        expect.objectContaining({ integrationId: id }),
      );

      const worker = projector.worker()!;
      const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
      await projector.stop();
      expect(projector.isRunning()).toBe(false);
      expect(await exited).toBe(0);
      // Committed before the thread ended: the API's own read-model handle sees it at once.
      const reply = await manage(`/v1/applications/1/sessions?minPosition=${position}&pageSize=50`);
      expect(reply.status).toBe(200);
      expect(reply.body.data).toContainEqual(expect.objectContaining({ integrationId: id }));
    } finally {
      // A worker thread still running after a failure would keep jest from exiting (stop() again is a no-op).
      await projector.stop();
    }
  });
});
