/**
 * `GET /health/ready` (SPEC §4): ready only when the event store and the read-model store both answer.
 * The API runs in this process against the embedded event store, with read models in SQLite, in PostgreSQL,
 * and in a PostgreSQL that cannot be reached (a URL to a closed port).
 */
import type { INestApplication } from '@nestjs/common';
import { EsdbClientAdapter } from '@session-engine/event-store';
import { closedPort, startHangingRelay } from '@session-engine/testing';
import type { ReadModelDatabase, ReadModelTables } from '@session-engine/read-models';
import { TEST_DATABASE_URL } from '@session-engine/read-models/testing/test-databases';
import { Kysely, PostgresDialect } from 'kysely';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Pool } from 'pg';
import pino from 'pino';
import { startEmbeddedEventStore, type EmbeddedEventStore } from '../apps/eventstore-embedded/src';
import type { AppDependencies } from '../apps/session-api/src/app.module';
import { createSessionApi } from '../apps/session-api/src/app.factory';
import { ApiKeys } from '../apps/session-api/src/config/api-keys.provider';
import { parseConfig } from '../apps/session-api/src/config/config';
import type { ManagementDependencies } from '../apps/session-api/src/management/management.module';

jest.setTimeout(60_000);

describe('GET /health/ready', () => {
  let dataDir: string;
  let store: EmbeddedEventStore;
  let adapter: EsdbClientAdapter;
  const apps: INestApplication[] = [];
  const schema = `rm_ready_${randomBytes(5).toString('hex')}`;

  const start = async (
    env: Record<string, string | undefined>,
    readModels?: ReadModelDatabase,
    eventStore: EsdbClientAdapter = adapter,
  ) => {
    const config = parseConfig({
      PORT: '0',
      DATA_DIR: dataDir,
      INTEGRATION_API_KEYS: 'int-key-ready-0001=1',
      MANAGEMENT_API_KEYS: 'mgmt-key-ready-0001=*',
      LOG_LEVEL: 'silent',
      ...env,
    });
    // The management module takes an already open read-model database from its dependencies.
    const deps: AppDependencies & Pick<ManagementDependencies, 'readModels'> = {
      config,
      keys: new ApiKeys(config.integrationKeys!, config.managementKeys!),
      store: eventStore,
      logger: pino({ level: 'silent' }),
      readModels,
    };
    const app = await createSessionApi(deps);
    apps.push(app);
    await app.listen(0, '127.0.0.1');
    const url = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/health/ready`;
    const ready = async () => {
      const response = await fetch(url);
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    return Object.assign(ready, { base: url.replace('/health/ready', '') });
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'ready-e2e-'));
    store = await startEmbeddedEventStore({ port: 0, dataDir: join(dataDir, 'eventstore'), silent: true });
    adapter = EsdbClientAdapter.connect(store.connectionString);
    const pg = new Client({ connectionString: TEST_DATABASE_URL });
    await pg.connect();
    await pg.query(`create schema ${schema}`);
    await pg.end();
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await adapter.close();
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
    const pg = new Client({ connectionString: TEST_DATABASE_URL });
    await pg.connect();
    await pg.query(`drop schema if exists ${schema} cascade`);
    await pg.end();
  });

  it('answers 200 with both stores up when the read models are in SQLite', async () => {
    const ready = await start({});
    expect(await ready()).toEqual({
      status: 200,
      body: { status: 'ok', eventStore: 'up', readModels: 'up' },
    });
  });

  it('answers 200 with both stores up when the read models are in PostgreSQL', async () => {
    const ready = await start({
      DATABASE_URL: `${TEST_DATABASE_URL}?options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    });
    expect(await ready()).toEqual({
      status: 200,
      body: { status: 'ok', eventStore: 'up', readModels: 'up' },
    });
  });

  it('answers 200 over a link to PostgreSQL slower than its ping waits, once a ping answered within the query timeout', async () => {
    // Given the read models in PostgreSQL behind a relay, a query timeout of 3 s, and one fast check
    const relay = await startHangingRelay(5432);
    try {
      const ready = await start({
        DATABASE_URL: `postgres://postgres@127.0.0.1:${relay.port}/test?options=${encodeURIComponent(`-c search_path=${schema}`)}`,
        READ_MODEL_QUERY_TIMEOUT_MS: '3000',
      });
      expect((await ready()).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 3_200)); // that answer is now older than 3 s
      // When the link holds every chunk 1.15 s each way: a ping is answered after ≥ 2.3 s, within the 3 s
      relay.slow(1_150);
      // Then the first check, which waits 2 s, finds no answer to go by
      const first = await ready();
      expect(first.status).toBe(503);
      expect(first.body).toMatchObject({
        errors: [{ details: expect.stringContaining('the read-model database is not reachable') }],
      });
      // And once its ping has been answered, the next check is ready, though its own ping is as slow
      await new Promise((resolve) => setTimeout(resolve, 800));
      expect(await ready()).toEqual({
        status: 200,
        body: { status: 'ok', eventStore: 'up', readModels: 'up' },
      });
    } finally {
      relay.slow(0);
      await relay.close();
    }
  });

  it('starts while PostgreSQL cannot be reached, serves commands, and serves the read models once it answers', async () => {
    // Given PostgreSQL's address, behind a relay that is not listening yet
    const port = await closedPort();
    const ownSchema = `${schema}_late`;
    const management = { authorization: 'ManagementKey-v1 mgmt-key-ready-0001' };
    let relay: Awaited<ReturnType<typeof startHangingRelay>> | undefined;
    try {
      // When the API starts
      const ready = await start({
        DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/test`,
        READ_MODEL_SCHEMA: ownSchema,
      });
      // Then it serves commands, and is not ready: its read models cannot be reached, and their API says so
      const created = await fetch(`${ready.base}/v2/customer_sessions/pg-late-1`, {
        method: 'PUT',
        headers: { authorization: 'ApiKey-v1 int-key-ready-0001', 'content-type': 'application/json' },
        body: JSON.stringify({ customerSession: {} }),
      });
      expect(created.status).toBe(200);
      const notReady = await ready();
      expect(notReady.status).toBe(503);
      expect(JSON.stringify(notReady.body)).toContain('the read-model database is not reachable');
      const listed = await fetch(`${ready.base}/v1/applications/1/sessions`, { headers: management });
      expect(listed.status).toBe(503);
      expect(await listed.json()).toMatchObject({ errors: [{ title: 'SERVICE_UNAVAILABLE' }] });
      // And once PostgreSQL answers there, it creates its schema and tables, is ready, and serves them
      relay = await startHangingRelay(5432, '127.0.0.1', port);
      expect(await ready()).toEqual({
        status: 200,
        body: { status: 'ok', eventStore: 'up', readModels: 'up' },
      });
      const later = await fetch(`${ready.base}/v1/applications/1/sessions`, { headers: management });
      expect(later.status).toBe(200);
      expect(await later.json()).toMatchObject({ data: [] });
    } finally {
      await relay?.close();
      const pg = new Client({ connectionString: TEST_DATABASE_URL });
      await pg.connect();
      await pg.query(`drop schema if exists ${ownSchema} cascade`);
      await pg.end();
    }
  });

  it('answers 503 SERVICE_UNAVAILABLE when the read-model database cannot be reached', async () => {
    const url = `postgres://postgres@127.0.0.1:${await closedPort()}/test`;
    const pool = new Pool({ connectionString: url, connectionTimeoutMillis: 1_000 });
    const db = new Kysely<ReadModelTables>({ dialect: new PostgresDialect({ pool }) });
    try {
      const ready = await start(
        { DATABASE_URL: url },
        { db, dialect: 'postgres', close: () => db.destroy() },
      );
      const reply = await ready();
      expect(reply.status).toBe(503);
      expect(reply.body).toMatchObject({
        StatusCode: 503,
        errors: [{ title: 'SERVICE_UNAVAILABLE', details: expect.stringContaining('read-model database') }],
      });
      expect(JSON.stringify(reply.body)).not.toContain('event store');
    } finally {
      await db.destroy();
    }
  });

  it('answers 200 over a link slower than its probe waits, while commands are answered within their deadline', async () => {
    // Given the API behind a link that holds every chunk 1.3 s each way: a probe's answer takes ≥ 2.6 s
    const relay = await startHangingRelay(store.port);
    const slowStore = EsdbClientAdapter.connect(`esdb://127.0.0.1:${relay.port}?tls=false`);
    try {
      const ready = await start({}, undefined, slowStore);
      expect((await ready()).status).toBe(200);
      relay.slow(1_300);
      // When a checkout creates a session: answered within its 10 s call deadline
      const created = await fetch(`${ready.base}/v2/customer_sessions/slow-link-1`, {
        method: 'PUT',
        headers: { authorization: 'ApiKey-v1 int-key-ready-0001', 'content-type': 'application/json' },
        body: JSON.stringify({ customerSession: { cartItems: [{ sku: 'A', quantity: 1, price: 2 }] } }),
      });
      expect(created.status).toBe(200);
      // Then the replica is ready: its store answers the requests it serves, though not its 2 s probe
      expect(await ready()).toEqual({
        status: 200,
        body: { status: 'ok', eventStore: 'up', readModels: 'up' },
      });
    } finally {
      relay.slow(0);
      await slowStore.close();
      await relay.close();
    }
  });

  it('takes an answer for the store as long as EVENTSTORE_CALL_TIMEOUT_MS says a request waits, then 503', async () => {
    // Given the API with a 4 s call deadline, its store behind a relay, and one command answered
    const relay = await startHangingRelay(store.port);
    const hungStore = EsdbClientAdapter.connect(`esdb://127.0.0.1:${relay.port}?tls=false`);
    try {
      const ready = await start({ EVENTSTORE_CALL_TIMEOUT_MS: '4000' }, undefined, hungStore);
      const created = await fetch(`${ready.base}/v2/customer_sessions/hung-link-1`, {
        method: 'PUT',
        headers: { authorization: 'ApiKey-v1 int-key-ready-0001', 'content-type': 'application/json' },
        body: JSON.stringify({ customerSession: {} }),
      });
      expect(created.status).toBe(200);
      const answeredAt = Date.now();
      // When the store hangs
      relay.hang();
      // Then a check within 4 s of that answer is ready, though its probe is not answered
      expect((await ready()).status).toBe(200);
      expect(Date.now() - answeredAt).toBeLessThan(4_000);
      // And one after it is not, saying how long an answer counts
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, answeredAt + 4_100 - Date.now())));
      const late = await ready();
      expect(late.status).toBe(503);
      expect(late.body).toMatchObject({
        errors: [
          {
            details:
              'Not ready: the event store is not reachable, or answered neither this check within 2 s nor any call in the last 4 s',
          },
        ],
      });
    } finally {
      relay.resume();
      await hungStore.close();
      await relay.close();
    }
  });

  it('answers 503 SERVICE_UNAVAILABLE when the event store cannot be reached', async () => {
    const ready = await start({});
    await store.close();
    const reply = await ready();
    expect(reply.status).toBe(503);
    expect(reply.body).toMatchObject({
      errors: [
        {
          title: 'SERVICE_UNAVAILABLE',
          details:
            'Not ready: the event store is not reachable, or answered neither this check within 2 s nor any call in the last 10 s',
        },
      ],
    });
  });
});

describe('commands and reads while the event store cannot be reached', () => {
  let dataDir: string;
  let adapter: EsdbClientAdapter;
  let app: INestApplication | undefined;

  afterAll(async () => {
    await app?.close();
    await adapter?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answer 503 SERVICE_UNAVAILABLE, never a 500 — a create included', async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'store-down-e2e-'));
    adapter = EsdbClientAdapter.connect(`esdb://127.0.0.1:${await closedPort()}?tls=false`);
    const config = parseConfig({
      PORT: '0',
      DATA_DIR: dataDir,
      INTEGRATION_API_KEYS: 'int-key-down-0001=1',
      MANAGEMENT_API_KEYS: 'mgmt-key-down-0001=*',
      LOG_LEVEL: 'silent',
    });
    app = await createSessionApi({
      config,
      keys: new ApiKeys(config.integrationKeys!, config.managementKeys!),
      store: adapter,
      logger: pino({ level: 'silent' }),
    });
    await app.listen(0, '127.0.0.1');
    const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/v2/customer_sessions`;
    const headers = { authorization: 'ApiKey-v1 int-key-down-0001', 'content-type': 'application/json' };
    const cases: [string, string, unknown?][] = [
      ['PUT', '/new-1', { customerSession: { cartItems: [{ sku: 'a', quantity: 1 }] } }],
      ['PUT', '/new-2?dry=true', { customerSession: {} }],
      ['POST', '/new-3/cart_items', { cartItems: [{ sku: 'a', quantity: 1 }] }],
      ['POST', '/new-4/close'],
      ['GET', '/new-5'],
    ];
    for (const [method, path, body] of cases) {
      const response = await fetch(`${base}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const reply = (await response.json()) as { errors: { title: string }[] };
      expect({ method, path, status: response.status, code: reply.errors[0]?.title }).toEqual({
        method,
        path,
        status: 503,
        code: 'SERVICE_UNAVAILABLE',
      });
    }
  });
});
