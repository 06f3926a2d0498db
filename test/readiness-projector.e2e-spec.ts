/**
 * `GET /health/ready` of the API under `npm start`, where the projector runs in a worker thread of the API's
 * process: the body reports the projector's condition — here that it has stopped reading the event store,
 * since when and what for — while the API stays ready (200): it takes commands without the projector, only
 * the read models fall behind. The commits are held up by a lock on the checkpoints table (PostgreSQL: the
 * wait is asynchronous, so the worker keeps answering), and the projector's batch size comes from
 * PROJECTOR_BATCH_SIZE as the API reads it.
 */
import type { INestApplication } from '@nestjs/common';
import { EsdbClientAdapter } from '@session-engine/event-store';
import { postgresTestDatabase, TEST_DATABASE_URL } from '@session-engine/read-models/testing/test-databases';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import pino from 'pino';
import { startEmbeddedEventStore, type EmbeddedEventStore } from '../apps/eventstore-embedded/src';
import { sleep } from '../apps/projector/src/testing/probes';
import { appendHistories } from '../apps/projector/src/testing/store-fixtures';
import { workload } from '../apps/projector/src/testing/workload';
import { createSessionApi } from '../apps/session-api/src/app.factory';
import {
  backgroundServices,
  inProcessProjector,
  type BackgroundService,
} from '../apps/session-api/src/background-services';
import { ApiKeys } from '../apps/session-api/src/config/api-keys.provider';
import { parseConfig } from '../apps/session-api/src/config/config';
import { MetricsService } from '../apps/session-api/src/operations/metrics.service';

jest.setTimeout(120_000);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Body = Record<string, any>;

describe('GET /health/ready reports the in-process projector (npm start, postgres)', () => {
  const database = postgresTestDatabase();
  const schema = database.options().schema!;
  let dataDir: string;
  let store: EmbeddedEventStore;
  let client: EsdbClientAdapter;
  let app: INestApplication | undefined;
  let projector: BackgroundService | undefined;
  let baseUrl: string;

  const ready = async (): Promise<{ status: number; body: Body }> => {
    const response = await fetch(`${baseUrl}/health/ready`);
    return { status: response.status, body: (await response.json()) as Body };
  };
  const readyWhen = async (what: string, check: (body: Body) => boolean) => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const reply = await ready();
      if (check(reply.body)) return reply;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(reply)}`);
      await sleep(25);
    }
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ready-projector-e2e-'));
    await (await database.open()).close(); // the schema and its tables
    store = await startEmbeddedEventStore({ port: 0, dataDir: join(dataDir, 'eventstore'), silent: true });
    client = EsdbClientAdapter.connect(store.connectionString);
    const config = parseConfig({
      PORT: '0',
      DATA_DIR: dataDir,
      DATABASE_URL: `${TEST_DATABASE_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`,
      INTEGRATION_API_KEYS: 'int-key-ready-0001=1',
      MANAGEMENT_API_KEYS: 'mgmt-key-ready-0001=*',
      LOG_LEVEL: 'silent',
      PROJECTOR_BATCH_SIZE: '20',
      PROJECTOR_BATCH_DELAY_MS: '10',
    });
    // As main.ts wires them: the services are made before the app, and started once it listens.
    const metrics = new MetricsService();
    const services = backgroundServices({
      config,
      connectionString: store.connectionString,
      logger: pino({ level: 'silent' }),
      registry: metrics.registry,
    });
    app = await createSessionApi({
      config,
      keys: new ApiKeys(config.integrationKeys!, config.managementKeys!),
      store: client,
      logger: pino({ level: 'silent' }),
      metrics,
      projector: inProcessProjector(services),
    });
    await app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    projector = services[0];
    await projector!.start();
  });

  afterAll(async () => {
    await app?.close();
    await projector?.stop();
    await client?.close();
    await store?.close();
    rmSync(dataDir, { recursive: true, force: true });
    await database.drop();
  });

  it('says that the projector stopped reading, since when and why, and stays ready', async () => {
    const first = await appendHistories(client, workload(3, 0));
    const caughtUp = await readyWhen(
      'the projector caught up',
      (body) => body.projector?.caughtUp === true && BigInt(body.projector.position) >= first,
    );
    expect(caughtUp).toMatchObject({
      status: 200,
      body: {
        status: 'ok',
        eventStore: 'up',
        readModels: 'up',
        projector: { status: 'ok', leader: true, readingPaused: false, lagEvents: 0, reportAgeSeconds: 0 },
      },
    });
    expect(caughtUp.body.projector).not.toHaveProperty('readingPausedSince');
    expect(caughtUp.body.projector).not.toHaveProperty('readingPausedFor');

    // Another writer holds the checkpoints table: every batch commit waits, and once the projector holds
    // the waiting batch and the next one (2 × PROJECTOR_BATCH_SIZE) it stops reading.
    const holder = new Client({ connectionString: TEST_DATABASE_URL });
    await holder.connect();
    let last: bigint;
    try {
      await holder.query('begin');
      await holder.query(`lock table ${schema}.projection_checkpoints in exclusive mode`);
      const lockedAt = Date.now();
      last = await appendHistories(client, workload(40, 3));
      const paused = await readyWhen('reading paused', (body) => body.projector?.readingPaused === true);
      expect(paused).toMatchObject({
        status: 200,
        body: {
          status: 'ok',
          eventStore: 'up',
          readModels: 'up',
          projector: {
            status: 'ok',
            leader: true,
            readingPaused: true,
            readingPausedFor: 'commit',
            readingPausedSince: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
          },
        },
      });
      const since = Date.parse(paused.body.projector.readingPausedSince);
      expect(since).toBeGreaterThanOrEqual(lockedAt - 1_000);
      expect(since).toBeLessThanOrEqual(Date.now());
      // It read about two batches ahead, no more: not what waits in the store.
      expect(BigInt(paused.body.projector.head)).toBeLessThan(last);

      // What it sends is what /openapi.json documents.
      const document = (await (await fetch(`${baseUrl}/openapi.json`)).json()) as Body;
      const documented = document.paths['/health/ready'].get.responses['200'].content['application/json']
        .schema as Body;
      expect(Object.keys(documented.properties)).toContain('projector');
      for (const name of Object.keys(paused.body)) expect(documented.properties).toHaveProperty(name);
      for (const name of Object.keys(paused.body.projector))
        expect(documented.properties.projector.properties).toHaveProperty(name);
    } finally {
      await holder.query('rollback');
      await holder.end();
    }

    const recovered = await readyWhen(
      'caught up again',
      (body) => body.projector?.caughtUp === true && BigInt(body.projector.position) >= last,
    );
    expect(recovered.status).toBe(200);
    expect(recovered.body.projector).toMatchObject({ readingPaused: false, lagEvents: 0 });
    expect(recovered.body.projector).not.toHaveProperty('readingPausedSince');
  });
});
