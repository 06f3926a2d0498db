/**
 * Management queries while the read-model PostgreSQL hangs — its process stopped, or the network dropping its
 * packets: connections stay open (or are accepted) and nothing answers. A relay between the API and the server
 * plays the hang (`startHangingRelay`). Every request is answered 503 SERVICE_UNAVAILABLE within the API's
 * read-model bound (READ_MODEL_QUERY_TIMEOUT_MS, small here), however many wait at once, and the API answers again
 * as soon as the server does. A query slower than the default 5 s is answered when the operator allows it longer.
 */
import type { INestApplication } from '@nestjs/common';
import { EsdbClientAdapter } from '@session-engine/event-store';
import { TEST_DATABASE_URL } from '@session-engine/read-models/testing/test-databases';
import { startHangingRelay, type HangingRelay } from '@session-engine/testing';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import pino from 'pino';
import { startEmbeddedEventStore, type EmbeddedEventStore } from '../apps/eventstore-embedded/src';
import { createSessionApi } from '../apps/session-api/src/app.factory';
import { ApiKeys } from '../apps/session-api/src/config/api-keys.provider';
import { parseConfig } from '../apps/session-api/src/config/config';

jest.setTimeout(60_000);

const MANAGEMENT_KEY = 'mgmt-key-hang-0001';
/** Far beyond the bound: a request still unanswered then has hung. */
const GENEROUS_MS = 20_000;
/** READ_MODEL_QUERY_TIMEOUT_MS of the API the hang tests use. */
const BOUND_MS = 1_000;
/** How long the server is slow in the last test: past the default bound (5 s), within the configured one. */
const SLOW_MS = 6_500;

describe('management API while the read-model PostgreSQL hangs', () => {
  const schema = `rm_hang_${randomBytes(5).toString('hex')}`;
  const server = new URL(TEST_DATABASE_URL);
  let dataDir: string;
  let store: EmbeddedEventStore;
  let adapter: EsdbClientAdapter;
  let relay: HangingRelay;
  const apps: INestApplication[] = [];
  let baseUrl: string;
  /** An API whose READ_MODEL_QUERY_TIMEOUT_MS is 10 s: a query slower than 5 s is still answered. */
  let patientUrl: string;

  const get = async (path: string, url = baseUrl) => {
    const started = Date.now();
    const response = await fetch(`${url}${path}`, {
      headers: { authorization: `ManagementKey-v1 ${MANAGEMENT_KEY}` },
      signal: AbortSignal.timeout(GENEROUS_MS),
    });
    const text = await response.text();
    return {
      status: response.status,
      text,
      body: JSON.parse(text) as Record<string, unknown>,
      ms: Date.now() - started,
    };
  };

  /** An API on the read models behind the relay, its read-model bound set as an operator sets it. */
  const startApi = async (queryTimeoutMs: string): Promise<string> => {
    const databaseUrl = new URL(TEST_DATABASE_URL);
    databaseUrl.hostname = '127.0.0.1';
    databaseUrl.port = String(relay.port);
    databaseUrl.searchParams.set('options', `-c search_path=${schema}`);
    const config = parseConfig({
      PORT: '0',
      DATA_DIR: dataDir,
      DATABASE_URL: databaseUrl.toString(),
      INTEGRATION_API_KEYS: 'int-key-hang-0001=1',
      MANAGEMENT_API_KEYS: `${MANAGEMENT_KEY}=*`,
      LOG_LEVEL: 'silent',
      READ_MODEL_QUERY_TIMEOUT_MS: queryTimeoutMs,
    });
    const app = await createSessionApi({
      config,
      keys: new ApiKeys(config.integrationKeys!, config.managementKeys!),
      store: adapter,
      logger: pino({ level: 'silent' }),
    });
    apps.push(app);
    await app.listen(0, '127.0.0.1');
    return `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'management-hang-e2e-'));
    const pg = new Client({ connectionString: TEST_DATABASE_URL });
    await pg.connect();
    await pg.query(`create schema ${schema}`);
    await pg.end();
    relay = await startHangingRelay(Number(server.port || 5432), server.hostname);
    store = await startEmbeddedEventStore({ port: 0, dataDir: join(dataDir, 'eventstore'), silent: true });
    adapter = EsdbClientAdapter.connect(store.connectionString);
    baseUrl = await startApi(String(BOUND_MS));
    patientUrl = await startApi('10000');
  });

  afterEach(() => relay?.resume());

  afterAll(async () => {
    relay?.resume();
    for (const app of apps) await app.close();
    await relay?.close();
    await adapter?.close();
    await store?.close();
    rmSync(dataDir, { recursive: true, force: true });
    const pg = new Client({ connectionString: TEST_DATABASE_URL });
    await pg.connect();
    await pg.query(`drop schema if exists ${schema} cascade`);
    await pg.end();
  });

  it('answers 503 SERVICE_UNAVAILABLE instead of waiting, then 200 once the server answers again', async () => {
    expect((await get('/v1/applications/1/sessions')).status).toBe(200);

    relay.hang();
    // More requests at once than the pool has connections: those that wait for a connection are bounded too.
    const paths = [
      '/v1/applications/1/sessions',
      '/v1/applications/1/sessions?minPosition=1',
      '/v1/applications/1/customer_profiles/alice',
      '/v1/applications/1/analytics/daily?from=2026-01-01&to=2026-01-31',
      '/v1/applications/1/analytics/skus?from=2026-01-01&to=2026-01-31',
      '/v1/applications/1/sessions?profile=alice',
      '/v1/applications/1/sessions/7',
    ];
    const replies = await Promise.all(paths.map((path) => get(path)));
    for (const reply of replies) {
      expect(reply.status).toBe(503);
      // After about READ_MODEL_QUERY_TIMEOUT_MS (1 s), well before the default 5 s.
      expect(reply.ms).toBeLessThan(4_000);
      expect(reply.body).toEqual({
        message: 'The read-model database is not reachable; retry later',
        errors: [
          {
            title: 'SERVICE_UNAVAILABLE',
            details: 'The read-model database is not reachable; retry later',
            source: {},
          },
        ],
        StatusCode: 503,
      });
      expect(reply.text).not.toMatch(/stack|\n\s+at /);
    }
    const ready = await get('/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({
      errors: [{ title: 'SERVICE_UNAVAILABLE', details: expect.stringContaining('read-model database') }],
    });

    relay.resume();
    expect((await get('/v1/applications/1/sessions')).status).toBe(200);
    expect((await get('/health/ready')).status).toBe(200);
  });

  it('answers a query slower than the default 5 s when READ_MODEL_QUERY_TIMEOUT_MS allows it', async () => {
    expect((await get('/v1/applications/1/sessions', patientUrl)).status).toBe(200);

    relay.hang();
    const slow = get('/v1/applications/1/sessions?partialMatch=true&profile=ali', patientUrl);
    await new Promise((resolve) => setTimeout(resolve, SLOW_MS));
    relay.resume();
    const reply = await slow;
    expect({ status: reply.status, body: reply.body }).toEqual({
      status: 200,
      body: { hasMore: false, data: [] },
    });
    expect(reply.ms).toBeGreaterThanOrEqual(SLOW_MS - 100);
  });
});
