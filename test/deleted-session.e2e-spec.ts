/**
 * Streams an operator deleted on the event store — the engine has no delete command — as the HTTP API answers
 * for them (docs/command-api.md, "Deleted session streams"):
 * - a tombstoned session (deleted for good): GET and every command that needs the session are 404
 *   SESSION_NOT_FOUND saying it was deleted, a PUT (create-or-update) is 409 SESSION_DELETED, dry runs as
 *   their commands — whether the API decides on its cached state (the append meets the tombstone) or reads;
 * - a soft-deleted session reads as one that never existed, also where the API had it cached, and a PUT
 *   creates it anew (EventStoreDB revives the stream), also when another process did and the API still holds
 *   the old state;
 * - a tombstoned profile stream: a session of that profile is not its first, and nothing fails;
 * - a tombstoned idempotency record stream: the command works as for a key without a record.
 * The operator's deletes go through the adapter's `tombstoneStream` / `deleteStream` on the same store.
 */
import {
  IdempotencyStore,
  SessionCommandHandler,
  sessionIdFor,
  sessionStreamName,
  StreamTombstonedError,
} from '@session-engine/event-store';
import pino from 'pino';
import { Registry } from 'prom-client';
import { startProjector } from '../apps/projector/src/projector';
import { ApiHarness, client, MANAGEMENT_KEY, sessionUrl, type Reply } from './support/harness';

jest.setTimeout(60_000);

let harness: ApiHarness;
let call: ReturnType<typeof client>;
const run = `${Date.now()}`;
const sid = (name: string) => `${name}-${run}`;
const stream = (id: string) => sessionStreamName(1, id);
const PUT_ENDPOINT = 'PUT /v2/customer_sessions/:customerSessionId';
const CART = [{ sku: 'a', quantity: 2, price: 5 }];

beforeAll(async () => {
  harness = await ApiHarness.start();
  call = client(harness);
});

afterAll(async () => {
  await harness.dispose();
});

const put = (
  id: string,
  customerSession: Record<string, unknown>,
  options: { query?: string; headers?: Record<string, string> } = {},
) =>
  call('PUT', `${sessionUrl(id)}${options.query ?? ''}`, {
    body: { customerSession },
    headers: options.headers,
  });
const get = (id: string) => call('GET', sessionUrl(id));
const addItems = (id: string, headers?: Record<string, string>) =>
  call('POST', sessionUrl(id, '/cart_items'), { body: { cartItems: [{ sku: 'b', quantity: 1 }] }, headers });
const verb = (id: string, action: 'close' | 'cancel' | 'reopen', headers?: Record<string, string>) =>
  call(action === 'reopen' ? 'PUT' : 'POST', sessionUrl(id, `/${action}`), { headers });
const returnItems = (id: string, query = '') =>
  call('POST', `${sessionUrl(id, '/returns')}${query}`, {
    body: { return: { returnedCartItems: [{ position: 0, quantity: 1 }] } },
  });

function expectOk(reply: Reply): Reply['body'] {
  if (reply.status !== 200)
    throw new Error(`expected 200, got ${reply.status}: ${JSON.stringify(reply.body)}`);
  return reply.body;
}

const answer = (reply: Reply) => ({
  status: reply.status,
  code: reply.body?.errors?.[0]?.title,
  position: reply.headers.get('x-event-position'),
});

/** 404 SESSION_NOT_FOUND whose details say that the session was deleted for good. */
function expectDeletedNotFound(reply: Reply): void {
  expect(answer(reply)).toEqual({ status: 404, code: 'SESSION_NOT_FOUND', position: null });
  expect(reply.body.errors[0].details).toMatch(
    /was deleted for good .*: it can no longer be read or changed/,
  );
}

/** 409 SESSION_DELETED: the id cannot be used again. */
function expectDeletedConflict(reply: Reply): void {
  expect(answer(reply)).toEqual({ status: 409, code: 'SESSION_DELETED', position: null });
  expect(reply.body.errors[0].details).toMatch(/was deleted for good .*: its id cannot be used again/);
}

async function expectTombstoned(streamName: string): Promise<void> {
  await expect(harness.store.readStream(streamName)).rejects.toBeInstanceOf(StreamTombstonedError);
}

/** Creates session `id` through the API (which then holds it in its cache), returns its body. */
async function create(id: string, patch: Record<string, unknown> = {}): Promise<Reply['body']> {
  return expectOk(await put(id, { cartItems: CART, ...patch }));
}

/** Another API process: its own cache and mutex, the same store. */
const otherProcess = () => new SessionCommandHandler(harness.store);
const metadata = { commandId: 'c', correlationId: 'r', actor: 'key-other' };
const createElsewhere = (id: string, patch: Record<string, unknown>) =>
  otherProcess().handle(
    {
      type: 'UpdateSession',
      applicationId: 1,
      integrationId: id,
      commandId: `other-${id}`,
      sessionId: sessionIdFor(stream(id)),
      patch,
    },
    { metadata },
  );

describe('a tombstoned session', () => {
  it('refuses a command decided on the cached state: the append meets the tombstone, 404 (not 500)', async () => {
    const id = sid('tomb-cached-add');
    await create(id);
    await harness.store.tombstoneStream(stream(id));

    expectDeletedNotFound(await addItems(id));
    await expectTombstoned(stream(id));
  });

  it('refuses a PUT decided on the cached state with 409 SESSION_DELETED', async () => {
    const id = sid('tomb-cached-put');
    await create(id);
    await harness.store.tombstoneStream(stream(id));

    expectDeletedConflict(await put(id, { cartItems: [{ sku: 'z', quantity: 1 }] }));
    await expectTombstoned(stream(id));
  });

  it('answers GET and every command 404, a PUT and its dry run 409, keyed or conditional alike', async () => {
    const id = sid('tomb-all');
    await create(id);
    expectOk(await verb(id, 'close'));
    await harness.store.tombstoneStream(stream(id));

    expectDeletedNotFound(await get(id));
    expectDeletedNotFound(await addItems(id));
    expectDeletedNotFound(await verb(id, 'close'));
    expectDeletedNotFound(await verb(id, 'cancel'));
    expectDeletedNotFound(await verb(id, 'reopen'));
    expectDeletedNotFound(await returnItems(id));
    expectDeletedNotFound(await returnItems(id, '?dry=true'));
    expectDeletedNotFound(await verb(id, 'cancel', { 'Idempotency-Key': `k-${id}` }));
    expectDeletedNotFound(await verb(id, 'reopen', { 'If-Match': '"1"' }));
    expectDeletedConflict(await put(id, { cartItems: CART }));
    expectDeletedConflict(await put(id, { cartItems: CART }, { query: '?dry=true' }));
    expectDeletedConflict(await put(id, { cartItems: CART }, { headers: { 'If-None-Match': '*' } }));
    // If-Match forms resolved by reading the session first: `*` and lists.
    expectDeletedConflict(await put(id, { cartItems: CART }, { headers: { 'If-Match': '*' } }));
    expectDeletedConflict(await put(id, { cartItems: CART }, { headers: { 'If-Match': '"0", "1"' } }));
    expectDeletedNotFound(await verb(id, 'cancel', { 'If-Match': '*' }));
    expectDeletedNotFound(await verb(id, 'cancel', { 'If-Match': '"0", "1"' }));
    expectDeletedConflict(await put(id, { profileId: 'p' }, { headers: { 'Idempotency-Key': `k-${id}` } }));
    // Asked again, the same answers (nothing cached, nothing half-done).
    expectDeletedNotFound(await get(id));
    expectDeletedConflict(await put(id, { cartItems: CART }));
    await expectTombstoned(stream(id));
  });

  it('answers a keyed retry as the session read does: no record keeps a copy of the erased session', async () => {
    // A keyed command that appended has no record: its key lived in the session's own events.
    const id = sid('tomb-replayed');
    const key = { 'Idempotency-Key': `k-${id}` };
    await create(id);
    expectOk(await addItems(id, key));
    // A keyed no-op has a record, which names the revision it answered with, never the session itself.
    const noOp = sid('tomb-no-op');
    const noOpKey = { 'Idempotency-Key': `k-${noOp}` };
    await create(noOp);
    const unchanged = await call('POST', sessionUrl(noOp, '/cart_items'), {
      body: { cartItems: [] },
      headers: noOpKey,
    });
    expectOk(unchanged);
    const [record] = await harness.store.readStream(
      IdempotencyStore.streamName({
        applicationId: 1,
        endpoint: 'POST /v2/customer_sessions/:customerSessionId/cart_items',
        integrationId: noOp,
        key: noOpKey['Idempotency-Key'],
      }),
    );
    expect(record!.data).not.toHaveProperty('body');
    expect(JSON.stringify(record!.data)).not.toContain('"sku"');
    await harness.store.tombstoneStream(stream(id));
    await harness.store.tombstoneStream(stream(noOp));

    expectDeletedNotFound(await addItems(id, key));
    expectDeletedNotFound(
      await call('POST', sessionUrl(noOp, '/cart_items'), { body: { cartItems: [] }, headers: noOpKey }),
    );
    expectDeletedConflict(await put(id, { cartItems: CART }, { headers: key }));
  });
});

describe('a tombstoned profile stream (the profile erased)', () => {
  it('makes a later session of the profile not its first, writing nothing, dry runs alike', async () => {
    const profileId = `erased-${run}`;
    const first = await create(sid('profile-first'), { profileId });
    expect(first.customerSession.firstSession).toBe(true);
    await harness.store.tombstoneStream(`profile-1-${profileId}`);

    const id = sid('profile-later');
    const dry = expectOk(await put(id, { profileId, cartItems: CART }, { query: '?dry=true' }));
    expect(dry.customerSession.firstSession).toBe(false);
    const created = expectOk(await put(id, { profileId, cartItems: CART }));
    expect(created.customerSession).toMatchObject({ profileId, firstSession: false, updateCount: 1 });
    expect(expectOk(await get(id)).customerSession.firstSession).toBe(false);

    // A profile set on an existing anonymous session claims it too (ProfileChanged): not the first either.
    const anonymous = sid('profile-set-later');
    await create(anonymous);
    const changed = expectOk(await put(anonymous, { profileId }));
    expect(changed.customerSession).toMatchObject({ profileId, firstSession: false, updateCount: 2 });
    await expectTombstoned(`profile-1-${profileId}`);
  });
});

describe('a tombstoned idempotency record stream', () => {
  const keyed = (key: string) => ({ headers: { 'Idempotency-Key': key } });

  it('replays a command that appended from the token in the session stream; a different body is 422', async () => {
    const id = sid('record-appended');
    const key = `k-${id}`;
    await create(id);
    const first = await put(id, { cartItems: [{ sku: 'c', quantity: 3 }] }, keyed(key));
    expectOk(first);
    const [, event] = await harness.store.readStream(stream(id));
    const token = event!.metadata.idempotencyToken as string;
    expect(
      IdempotencyStore.streamName({ applicationId: 1, endpoint: PUT_ENDPOINT, integrationId: id, key }),
    ).toBe(`idempotency-1-${token}`);
    await harness.store.tombstoneStream(`idempotency-1-${token}`);

    const retried = await put(id, { cartItems: [{ sku: 'c', quantity: 3 }] }, keyed(key));
    expect({
      status: retried.status,
      body: retried.body,
      etag: retried.headers.get('etag'),
      position: retried.headers.get('x-event-position'),
    }).toEqual({
      status: 200,
      body: first.body,
      etag: first.headers.get('etag'),
      position: first.headers.get('x-event-position'),
    });
    expect(answer(await put(id, { cartItems: [{ sku: 'd', quantity: 1 }] }, keyed(key)))).toMatchObject({
      status: 422,
      code: 'IDEMPOTENCY_KEY_REUSED',
    });
    expect(await harness.streamLength(stream(id))).toBe(2);
  });

  it('answers a no-op whose record stream was tombstoned 200, as a key without a record', async () => {
    const id = sid('record-noop');
    const key = `k-${id}`;
    const created = await create(id);
    const first = await put(id, { cartItems: CART }, keyed(key));
    expect(expectOk(first)).toEqual(created);
    await harness.store.tombstoneStream(
      IdempotencyStore.streamName({ applicationId: 1, endpoint: PUT_ENDPOINT, integrationId: id, key }),
    );

    const retried = await put(id, { cartItems: CART }, keyed(key));
    expect({
      status: retried.status,
      body: retried.body,
      position: retried.headers.get('x-event-position'),
    }).toEqual({ status: 200, body: first.body, position: null });
    expect(await harness.streamLength(stream(id))).toBe(1);
  });

  it('applies a command once whose record stream was tombstoned before its first use', async () => {
    const id = sid('record-before');
    const key = `k-${id}`;
    await create(id);
    await harness.store.tombstoneStream(
      IdempotencyStore.streamName({ applicationId: 1, endpoint: PUT_ENDPOINT, integrationId: id, key }),
    );

    const first = await put(id, { couponCodes: ['ONCE'] }, keyed(key));
    expect(expectOk(first).customerSession.couponCodes).toEqual(['ONCE']);
    const retried = await put(id, { couponCodes: ['ONCE'] }, keyed(key));
    expect({ status: retried.status, body: retried.body, etag: retried.headers.get('etag') }).toEqual({
      status: 200,
      body: first.body,
      etag: first.headers.get('etag'),
    });
    expect(await harness.streamLength(stream(id))).toBe(2);
  });
});

describe('a soft-deleted session', () => {
  it('reads as not found although the API had it cached, and a PUT creates it anew', async () => {
    const id = sid('soft');
    const old = await create(id, { profileId: `soft-${run}`, couponCodes: ['OLD'] });
    expectOk(await addItems(id));
    await harness.store.deleteStream(stream(id));

    const missing = await get(id);
    expect(answer(missing)).toEqual({ status: 404, code: 'SESSION_NOT_FOUND', position: null });
    expect(missing.body.errors[0].details).not.toMatch(/deleted/);
    expect(answer(await verb(id, 'close'))).toEqual({
      status: 404,
      code: 'SESSION_NOT_FOUND',
      position: null,
    });

    const recreated = await put(id, { cartItems: [{ sku: 'new', quantity: 1, price: 2 }] });
    const session = expectOk(recreated).customerSession;
    expect(session).toMatchObject({
      id: old.customerSession.id,
      integrationId: id,
      profileId: '',
      couponCodes: [],
      updateCount: 1,
      total: 2,
      state: 'open',
    });
    expect(session.cartItems.map((line: { sku: string }) => line.sku)).toEqual(['new']);
    // EventStoreDB revives the stream: its revisions go on, only the new events are read.
    expect(recreated.headers.get('etag')).toBe('"2"');
    expect((await harness.store.readStream(stream(id))).map((event) => event.type)).toEqual([
      'SessionCreated',
    ]);
    expect(expectOk(await get(id))).toEqual({ customerSession: session, effects: [] });
  });

  it('is projected as the session created anew: the read models follow it, the projector does not stop at it', async () => {
    const projector = await startProjector({
      connectionString: harness.connectionString,
      dataDir: harness.dataDir,
      logger: pino({ level: 'silent' }),
      registry: new Registry(),
    });
    try {
      await expectProjectedAnew();
    } finally {
      await projector.stop();
    }
  });

  async function expectProjectedAnew(): Promise<void> {
    const id = sid('soft-projected');
    const profile = `soft-projected-${run}`;
    await create(id, { profileId: profile });
    expectOk(await verb(id, 'close'));
    await harness.store.deleteStream(stream(id));
    const recreated = await put(id, {
      profileId: profile,
      cartItems: [{ sku: 'new', quantity: 1, price: 2 }],
    });
    const position = expectOk(recreated) && recreated.headers.get('x-event-position');
    const manage = (path: string) =>
      call('GET', path, { key: null, headers: { authorization: `ManagementKey-v1 ${MANAGEMENT_KEY}` } });
    // Within minPosition's 5 s: the projector committed past the new SessionCreated (it used to fail on it for good).
    const listed = await manage(
      `/v1/applications/1/sessions?integrationId=${encodeURIComponent(id)}&minPosition=${position}`,
    );
    expect(listed.status).toBe(200);
    expect(listed.body.data).toEqual([
      expect.objectContaining({ integrationId: id, state: 'open', total: 2, updateCount: 1 }),
    ]);
    // The profile counts the session as it is now: open, nothing sold (the deleted close counted 10).
    const counted = await manage(
      `/v1/applications/1/customer_profiles/${encodeURIComponent(profile)}?minPosition=${position}`,
    );
    expect(counted.body).toMatchObject({ sessionCount: 1, closedSessions: 0, totalSales: 0 });
  }

  it('shows the session another process created anew, not the state the API still held', async () => {
    const id = sid('soft-elsewhere');
    await create(id, { couponCodes: ['OLD'] });
    await harness.store.deleteStream(stream(id));
    await createElsewhere(id, { couponCodes: ['NEW'] });

    const read = expectOk(await get(id)).customerSession;
    expect(read).toMatchObject({ couponCodes: ['NEW'], updateCount: 1, cartItems: [] });
    const updated = expectOk(await put(id, { couponCodes: ['NEWER'] })).customerSession;
    expect(updated).toMatchObject({ couponCodes: ['NEWER'], updateCount: 2 });
  });
});

describe('after a restart (nothing cached)', () => {
  const ids = { tombstoned: sid('cold-tomb'), soft: sid('cold-soft') };

  beforeAll(async () => {
    await create(ids.tombstoned);
    await harness.store.tombstoneStream(stream(ids.tombstoned));
    await create(ids.soft, { couponCodes: ['OLD'] });
    await harness.store.deleteStream(stream(ids.soft));
    await harness.restart();
    call = client(harness);
  });

  it('answers a tombstoned session 404 on a read and 409 on a PUT, whose create meets the tombstone', async () => {
    expectDeletedConflict(await put(ids.tombstoned, { cartItems: CART }));
    expectDeletedNotFound(await get(ids.tombstoned));
    expectDeletedNotFound(await addItems(ids.tombstoned));
    expectDeletedConflict(await put(ids.tombstoned, { cartItems: CART }, { query: '?dry=true' }));
  });

  it('creates a soft-deleted session anew with a PUT, as a session that never existed', async () => {
    expect(answer(await addItems(ids.soft))).toMatchObject({ status: 404, code: 'SESSION_NOT_FOUND' });
    const created = expectOk(await put(ids.soft, { cartItems: CART })).customerSession;
    expect(created).toMatchObject({ couponCodes: [], updateCount: 1 });
    expect(expectOk(await get(ids.soft)).customerSession).toEqual(created);
  });
});
