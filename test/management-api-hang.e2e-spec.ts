/**
 * Management queries while the read-model PostgreSQL hangs — its process stopped, or the network dropping its
 * packets: connections stay open (or are accepted) and nothing answers. A relay between the API and the server
 * plays the hang (`startHangingRelay`). Every request is answered 503 SERVICE_UNAVAILABLE within the API's
 * read-model bound (small here), however many wait at once, and the API answers again as soon as the server does.
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
import type { AppDependencies } from '../apps/session-api/src/app.module';
import { createSessionApi } from '../apps/session-api/src/app.factory';
import { ApiKeys } from '../apps/session-api/src/config/api-keys.provider';
import { parseConfig } from '../apps/session-api/src/config/config';
import type { ManagementDependencies } from '../apps/session-api/src/management/management.module';

jest.setTimeout(60_000);

const MANAGEMENT_KEY = 'mgmt-key-hang-0001';
/** Far beyond the bound: a request still unanswered then has hung. */
const GENEROUS_MS = 20_000;

describe('management API while the read-model PostgreSQL hangs', () => {
  const schema = `rm_hang_${randomBytes(5).toString('hex')}`;
  const server = new URL(TEST_DATABASE_URL);
  let dataDir: string;
  let store: EmbeddedEventStore;
  let adapter: EsdbClientAdapter;
  let relay: HangingRelay;
  let app: INestApplication;
  let baseUrl: string;

  const get = async (path: string) => {
    const response = await fetch(`${baseUrl}${path}`, {
      headers: { authorization: `ManagementKey-v1 ${MANAGEMENT_KEY}` },
      signal: AbortSignal.timeout(GENEROUS_MS),
    });
    const text = await response.text();
    return { status: response.status, text, body: JSON.parse(text) as Record<string, unknown> };
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'management-hang-e2e-'));
    const pg = new Client({ connectionString: TEST_DATABASE_URL });
    await pg.connect();
    await pg.query(`create schema ${schema}`);
    await pg.end();
    relay = await startHangingRelay(Number(server.port || 5432), server.hostname);
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
    });
    store = await startEmbeddedEventStore({ port: 0, dataDir: join(dataDir, 'eventstore'), silent: true });
    adapter = EsdbClientAdapter.connect(store.connectionString);
    const deps: AppDependencies & Pick<ManagementDependencies, 'readModelTimeoutMs'> = {
      config,
      keys: new ApiKeys(config.integrationKeys!, config.managementKeys!),
      store: adapter,
      logger: pino({ level: 'silent' }),
      readModelTimeoutMs: 1_000,
    };
    app = await createSessionApi(deps);
    await app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    relay?.resume();
    await app?.close();
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
    const replies = await Promise.all(paths.map(get));
    for (const reply of replies) {
      expect(reply.status).toBe(503);
      expect(reply.body).toEqual({
        message: 'The read-model database is not reachable; retry later',
        errors: [
          {
            title: 'SERVICE_UNAVAILABLE',
            details: 'The read-model database is not reachable; retry later',
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
});
