/**
 * A profile first-session claim left by a crashed create (claim appended, session never appended), over HTTP
 * with the API, the embedded event store and the projector in this process: once the claim is older than
 * the wall-clock bound of a claim the API never watched (the grace window plus an hour), the next session of the profile is its first session — in the command's answer and in the
 * management API's customer profile — and the crashed session, sent again, is not.
 */
import type { INestApplication } from '@nestjs/common';
import {
  DEFAULT_PROFILE_CLAIM_GRACE_MS,
  EsdbClientAdapter,
  PROFILE_CLAIMED,
  profileClaimWallClockStaleMs,
  profileStreamName,
  type ReadStreamOptions,
} from '@session-engine/event-store';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { backdated } from '@session-engine/testing/backdate';
import { Registry } from 'prom-client';
import { startEmbeddedEventStore, type EmbeddedEventStore } from '../apps/eventstore-embedded/src';
import { startProjector, type RunningProjector } from '../apps/projector/src/projector';
import { createSessionApi } from '../apps/session-api/src/app.factory';
import { ApiKeys } from '../apps/session-api/src/config/api-keys.provider';
import { parseConfig } from '../apps/session-api/src/config/config';

jest.setTimeout(60_000);

const INTEGRATION_KEY = 'int-key-app1-claims';
const MANAGEMENT_KEY = 'mgmt-key-all-claims';

let dataDir: string;
let store: EmbeddedEventStore;
let adapter: EsdbClientAdapter;
let app: INestApplication;
let projector: RunningProjector;
let baseUrl: string;
/** Event ids whose server time, and writer's `at`, read as that many ms earlier: a claim written long ago. */
const backdatedBy = new Map<string, number>();

const send = async (method: string, path: string, auth: string, body?: unknown) => {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization: auth },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
};

const put = async (id: string, profileId: string) => {
  const reply = await send('PUT', `/v2/customer_sessions/${id}`, `ApiKey-v1 ${INTEGRATION_KEY}`, {
    customerSession: { profileId, cartItems: [{ sku: 'tee', quantity: 1, price: 10 }] },
  });
  if (reply.status !== 200) throw new Error(`PUT ${id}: ${reply.status} ${JSON.stringify(reply.body)}`);
  return {
    firstSession: reply.body.customerSession.firstSession,
    position: reply.headers.get('x-event-position')!,
  };
};

const profile = async (profileId: string, position: string) =>
  (
    await send(
      'GET',
      `/v1/applications/1/customer_profiles/${profileId}?minPosition=${position}`,
      `ManagementKey-v1 ${MANAGEMENT_KEY}`,
    )
  ).body;

beforeAll(async () => {
  // Every adapter (the API's, with its call deadline, and the projector's) reads backdated events as old.
  const readStream = EsdbClientAdapter.prototype.readStream;
  jest.spyOn(EsdbClientAdapter.prototype, 'readStream').mockImplementation(async function (
    this: EsdbClientAdapter,
    stream: string,
    options?: ReadStreamOptions,
  ) {
    return (await readStream.call(this, stream, options)).map((event) => {
      const ago = backdatedBy.get(event.id);
      return ago === undefined ? event : backdated(event, { created: ago, at: ago });
    });
  });
  dataDir = mkdtempSync(join(tmpdir(), 'claim-takeover-e2e-'));
  const config = parseConfig({
    PORT: '0',
    DATA_DIR: dataDir,
    INTEGRATION_API_KEYS: `${INTEGRATION_KEY}=1`,
    MANAGEMENT_API_KEYS: `${MANAGEMENT_KEY}=*`,
    LOG_LEVEL: 'silent',
  });
  store = await startEmbeddedEventStore({ port: 0, dataDir: join(dataDir, 'eventstore'), silent: true });
  adapter = EsdbClientAdapter.connect(store.connectionString);
  const logger = pino({ level: 'silent' });
  app = await createSessionApi({
    config,
    keys: new ApiKeys(config.integrationKeys!, config.managementKeys!),
    store: adapter,
    logger,
  });
  await app.listen(0, '127.0.0.1');
  baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  projector = await startProjector({
    connectionString: store.connectionString,
    dataDir,
    logger,
    registry: new Registry(),
  });
});

afterAll(async () => {
  await projector?.stop();
  await app?.close();
  await adapter?.close();
  await store?.close();
  jest.restoreAllMocks();
  rmSync(dataDir, { recursive: true, force: true });
});

it('makes the next session of the profile its first once a crashed claim is older than the wall-clock bound', async () => {
  // The crashed create of "cart-crashed": its claim, as the engine before claim versions wrote it, no session.
  await adapter.appendToStream(
    profileStreamName(1, 'alice'),
    [
      {
        type: PROFILE_CLAIMED,
        data: {
          applicationId: 1,
          profileId: 'alice',
          sessionIntegrationId: 'cart-crashed',
          sessionId: 1,
          at: new Date().toISOString(),
        },
        metadata: { commandId: 'crashed', correlationId: 'r', actor: 'key-test' },
      },
    ],
    'no_stream',
  );
  const [claim] = await adapter.readStream(profileStreamName(1, 'alice'));
  backdatedBy.set(claim!.id, profileClaimWallClockStaleMs(DEFAULT_PROFILE_CLAIM_GRACE_MS) + 60_000);

  const later = await put('cart-later', 'alice');
  expect(later.firstSession).toBe(true);
  expect(await profile('alice', later.position)).toMatchObject({
    integrationId: 'alice',
    sessionCount: 1,
    firstSessionIntegrationId: 'cart-later',
  });

  const crashed = await put('cart-crashed', 'alice');
  expect(crashed.firstSession).toBe(false);
  expect(await profile('alice', crashed.position)).toMatchObject({
    sessionCount: 2,
    firstSessionIntegrationId: 'cart-later',
  });
});
