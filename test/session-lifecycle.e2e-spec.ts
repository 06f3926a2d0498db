import { IdempotencyStore } from '@session-engine/event-store';
import {
  ApiHarness,
  client,
  KEY_APP1,
  KEY_APP2,
  sessionNotFoundReply,
  sessionUrl,
  type Reply,
} from './support/harness';

jest.setTimeout(60_000);

let harness: ApiHarness;
let call: ReturnType<typeof client>;
const run = `${Date.now()}`;
const sid = (name: string) => `${name}-${run}`;
const stream = (id: string, app = 1) => `session-${app}-${id}`;
const pause = () => new Promise((resolve) => setTimeout(resolve, 3));

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
const get = (id: string, key?: string) => call('GET', sessionUrl(id), { key });
const verb = (id: string, action: 'close' | 'cancel' | 'reopen', headers?: Record<string, string>) =>
  call(action === 'reopen' ? 'PUT' : 'POST', sessionUrl(id, `/${action}`), { headers });
const addItems = (id: string, cartItems: unknown[], headers?: Record<string, string>) =>
  call('POST', sessionUrl(id, '/cart_items'), { body: { cartItems }, headers });
const returnItems = (id: string, returnedCartItems: unknown[], query = '') =>
  call('POST', `${sessionUrl(id, '/returns')}${query}`, { body: { return: { returnedCartItems } } });

function expectOk(reply: Reply): Reply['body'] {
  if (reply.status !== 200)
    throw new Error(`expected 200, got ${reply.status}: ${JSON.stringify(reply.body)}`);
  return reply.body;
}

/** Asserts a refused command: status and code, and the stream untouched (same ETag, same length). */
async function expectRefused(id: string, reply: Reply, status: number, code: string): Promise<void> {
  const before = await get(id);
  const length = await harness.streamLength(stream(id));
  expect({ status: reply.status, code: reply.body?.errors?.[0]?.title }).toEqual({ status, code });
  expect(reply.headers.get('x-event-position')).toBeNull();
  const after = await get(id);
  expect(after.headers.get('etag')).toBe(before.headers.get('etag'));
  expect(await harness.streamLength(stream(id))).toBe(length);
}

describe('a customer session over HTTP', () => {
  it('goes through its whole life cycle with exact totals, positions, returns and counters', async () => {
    // An anonymous session: always a first session.
    const anonymous = await put(sid('anon'), {
      cartItems: [{ sku: 'tee', quantity: 3, price: 19.99 }],
      additionalCosts: { shipping: { price: 0.1 } },
    });
    const anon = expectOk(anonymous).customerSession;
    expect(anon).toMatchObject({
      integrationId: sid('anon'),
      applicationId: 1,
      profileId: '',
      state: 'open',
      firstSession: true,
      updateCount: 1,
      cartItemTotal: 59.97,
      additionalCostTotal: 0.1,
      total: 60.07,
    });
    expect(Number.isSafeInteger(anon.id) && anon.id > 0).toBe(true);
    expect(anon.created).toBe(anon.updated);
    expect(anon.cartItems[0]).toMatchObject({ position: 0, returnedQuantity: 0, remainingQuantity: 3 });
    expect(anonymous.headers.get('etag')).toBe('"0"');
    expect(anonymous.headers.get('x-event-position')).toMatch(/^\d+$/);
    expect(anonymous.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(Number(anonymous.headers.get('content-length'))).toBe(
      Buffer.byteLength(JSON.stringify(anonymous.body)),
    );

    // A profiled session claims its profile first; a second one of the same profile is not first.
    const profileId = sid('alice');
    const id = sid('profiled');
    const created = expectOk(
      await put(id, {
        profileId,
        cartItems: [{ sku: 'a', quantity: 2, price: 10 }],
        attributes: { channel: 'web' },
      }),
    ).customerSession;
    expect(created).toMatchObject({
      profileId,
      firstSession: true,
      updateCount: 1,
      total: 20,
      state: 'open',
    });
    const second = expectOk(await put(sid('profiled-2'), { profileId })).customerSession;
    expect(second.firstSession).toBe(false);

    await pause();
    const updated = await put(id, {
      couponCodes: ['SUMMER10'],
      cartItems: [
        { sku: 'a', quantity: 2, price: 10, additionalCosts: { gift: { price: 1.5 } } },
        { sku: 'b', quantity: 1, price: 5.25 },
      ],
    });
    const afterUpdate = expectOk(updated).customerSession;
    expect(afterUpdate).toMatchObject({
      couponCodes: ['SUMMER10'],
      updateCount: 2,
      cartItemTotal: 25.25,
      cartItemAdditionalCostTotal: 3,
      total: 28.25,
      created: created.created,
      firstSession: true,
    });
    expect(afterUpdate.updated > created.updated).toBe(true);
    expect(afterUpdate.cartItems.map((line: { position: number }) => line.position)).toEqual([0, 1]);
    expect(updated.headers.get('etag')).not.toBe('"0"');

    const added = expectOk(await addItems(id, [{ sku: 'c', quantity: 4, price: 0.1 }])).customerSession;
    expect(
      added.cartItems.map((line: { sku: string; position: number }) => [line.sku, line.position]),
    ).toEqual([
      ['a', 0],
      ['b', 1],
      ['c', 2],
    ]);
    expect(added).toMatchObject({ updateCount: 3, cartItemTotal: 25.65, total: 28.65 });

    const closed = expectOk(await verb(id, 'close')).customerSession;
    expect(closed).toMatchObject({ state: 'closed', updateCount: 4, total: 28.65 });

    const firstReturn = expectOk(await returnItems(id, [{ position: 0, quantity: 1 }]));
    expect(firstReturn.customerSession).toMatchObject({
      state: 'partially_returned',
      updateCount: 5,
      total: 28.65,
    });
    expect(firstReturn.customerSession.cartItems[0]).toMatchObject({
      returnedQuantity: 1,
      remainingQuantity: 1,
    });
    expect(firstReturn.return).toMatchObject({
      applicationId: 1,
      sessionId: firstReturn.customerSession.id,
      sessionIntegrationId: id,
      profileIntegrationId: firstReturn.customerSession.profileId,
      returnedCartItems: [{ position: 0, sku: 'a', quantity: 1 }],
    });
    expect(firstReturn.previousReturns).toEqual([]);
    expect(firstReturn).toMatchObject({ effects: [], createdCoupons: [], createdReferrals: [] });

    const secondReturn = expectOk(await returnItems(id, [{ sku: 'c' }]));
    expect(secondReturn.return.returnedCartItems).toEqual([{ position: 2, sku: 'c', quantity: 4 }]);
    expect(secondReturn.previousReturns).toEqual([firstReturn.return]);
    expect(secondReturn.customerSession.cartItems[2]).toMatchObject({
      returnedQuantity: 4,
      remainingQuantity: 0,
    });
    expect(secondReturn.customerSession.updateCount).toBe(6);

    // The earlier returns, oldest first, without the current one.
    const thirdReturn = expectOk(await returnItems(id, [{ position: 1 }]));
    expect(thirdReturn.return.returnedCartItems).toEqual([{ position: 1, sku: 'b', quantity: 1 }]);
    expect(thirdReturn.previousReturns).toEqual([firstReturn.return, secondReturn.return]);

    const cancelled = expectOk(await verb(id, 'cancel')).customerSession;
    expect(cancelled).toMatchObject({ state: 'cancelled', updateCount: 8 });

    const read = await get(id);
    expect(read.body).toEqual({ customerSession: cancelled, effects: [] });
    expect(read.headers.get('etag')).toBe(`"${(await harness.streamLength(stream(id))) - 1}"`);

    // Another session: closed, reopened, closed again.
    const other = sid('reopen');
    expectOk(await put(other, { cartItems: [{ sku: 'x', quantity: 1, price: 3 }], state: 'closed' }));
    const reopened = expectOk(await verb(other, 'reopen')).customerSession;
    expect(reopened).toMatchObject({ state: 'open', updateCount: 2 });
    expect(expectOk(await verb(other, 'close')).customerSession).toMatchObject({
      state: 'closed',
      updateCount: 3,
    });
  });

  it('refuses every illegal transition with 409 and appends nothing', async () => {
    const cancelled = sid('refused-cancelled');
    expectOk(await put(cancelled, { cartItems: [{ sku: 'a', quantity: 1, price: 1 }] }));
    expectOk(await verb(cancelled, 'cancel'));
    await expectRefused(cancelled, await verb(cancelled, 'close'), 409, 'ILLEGAL_STATE_TRANSITION');
    await expectRefused(cancelled, await verb(cancelled, 'cancel'), 409, 'ILLEGAL_STATE_TRANSITION');
    await expectRefused(cancelled, await verb(cancelled, 'reopen'), 409, 'ILLEGAL_STATE_TRANSITION');
    await expectRefused(
      cancelled,
      await addItems(cancelled, [{ sku: 'b', quantity: 1 }]),
      409,
      'SESSION_NOT_MODIFIABLE',
    );
    await expectRefused(cancelled, await put(cancelled, { state: 'open' }), 409, 'ILLEGAL_STATE_TRANSITION');

    const open = sid('refused-open');
    expectOk(await put(open, { cartItems: [{ sku: 'a', quantity: 2, price: 1 }] }));
    await expectRefused(open, await verb(open, 'reopen'), 409, 'ILLEGAL_STATE_TRANSITION');
    await expectRefused(open, await returnItems(open, [{ position: 0 }]), 409, 'ILLEGAL_STATE_TRANSITION');

    const closed = sid('refused-closed');
    expectOk(await put(closed, { cartItems: [{ sku: 'a', quantity: 2, price: 1 }], state: 'closed' }));
    await expectRefused(closed, await verb(closed, 'close'), 409, 'ILLEGAL_STATE_TRANSITION');
    await expectRefused(closed, await put(closed, { couponCodes: ['LATE'] }), 409, 'SESSION_NOT_MODIFIABLE');
    await expectRefused(
      closed,
      await returnItems(closed, [{ position: 0, quantity: 3 }]),
      409,
      'RETURN_QUANTITY_EXCEEDED',
    );
    await expectRefused(closed, await returnItems(closed, [{ position: 5 }]), 400, 'CART_ITEM_NOT_FOUND');
    expectOk(await returnItems(closed, [{ position: 0, quantity: 1 }]));
    await expectRefused(closed, await verb(closed, 'reopen'), 409, 'ILLEGAL_STATE_TRANSITION');

    const missing = sid('refused-missing');
    for (const reply of [
      await verb(missing, 'close'),
      await addItems(missing, [{ sku: 'a', quantity: 1 }]),
    ]) {
      expect({ status: reply.status, code: reply.body.errors[0].title }).toEqual({
        status: 404,
        code: 'SESSION_NOT_FOUND',
      });
    }
    expect(await harness.streamLength(stream(missing))).toBe(0);
  });

  it('answers a missing session alike on GET and every command: one wording, the id quoted, no body pointer', async () => {
    const missing = sid('missing "one"\nwith spaces');
    const expected = sessionNotFoundReply(missing);
    const replies: Record<string, Reply> = {
      get: await get(missing),
      close: await verb(missing, 'close'),
      cancel: await verb(missing, 'cancel'),
      reopen: await verb(missing, 'reopen'),
      cart_items: await addItems(missing, [{ sku: 'a', quantity: 1 }]),
      returns: await returnItems(missing, [{ position: 0, quantity: 1 }]),
      'returns?dry=true': await returnItems(missing, [{ position: 0 }], '?dry=true'),
    };
    for (const [name, reply] of Object.entries(replies)) {
      expect({ name, status: reply.status, body: reply.body }).toEqual({ name, ...expected });
    }
    expect(await harness.streamLength(stream(missing))).toBe(0);
  });

  it('keeps attribute keys named __proto__, constructor and prototype as the client sent them', async () => {
    const id = sid('keys');
    const attributes = JSON.parse(
      '{"__proto__":{"x":1},"constructor":{"y":2},"prototype":3,"plain":{"z":[1]}}',
    );
    const created = expectOk(
      await put(id, { attributes, cartItems: [{ sku: 'a', quantity: 1, attributes }] }),
    );
    const sent = JSON.stringify(attributes);
    expect(JSON.stringify(created.customerSession.attributes)).toBe(sent);
    const read = expectOk(await get(id));
    expect(JSON.stringify(read.customerSession.attributes)).toBe(sent);
    expect(JSON.stringify(read.customerSession.cartItems[0].attributes)).toBe(sent);
  });

  it('accepts an update that changes nothing without appending', async () => {
    const id = sid('noop');
    const body = { profileId: '', couponCodes: ['A'], cartItems: [{ sku: 'a', quantity: 1, price: 2 }] };
    const first = await put(id, body);
    const again = await put(id, body);
    expect(again.status).toBe(200);
    expect(again.body.customerSession).toEqual(first.body.customerSession);
    expect(again.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(again.headers.get('x-event-position')).toBeNull();
    expect(await harness.streamLength(stream(id))).toBe(1);
  });

  it('sends the revision and commit position of the last event a command appended, and GET the same ETag', async () => {
    const id = sid('headers');
    const lastEvent = async () => {
      const events = await harness.store.readStream(stream(id));
      const last = events[events.length - 1]!;
      return { count: events.length, etag: `"${last.revision}"`, position: String(last.position) };
    };
    const headers = (reply: Reply) => ({
      etag: reply.headers.get('etag'),
      position: reply.headers.get('x-event-position'),
    });
    // Created closed: SessionCreated and SessionClosed in one append.
    const created = await put(id, { cartItems: [{ sku: 'a', quantity: 1, price: 2 }], state: 'closed' });
    const afterCreate = await lastEvent();
    expect(afterCreate.count).toBe(2);
    expect(headers(created)).toEqual({ etag: afterCreate.etag, position: afterCreate.position });
    expect((await get(id)).headers.get('etag')).toBe(afterCreate.etag);

    // Reopened, then three field groups changed by one PUT: three events in one append.
    expectOk(await verb(id, 'reopen'));
    const changed = await put(id, { couponCodes: ['C'], referralCode: 'R', attributes: { a: 1 } });
    const afterChange = await lastEvent();
    expect(afterChange.count).toBe(6);
    expect(headers(changed)).toEqual({ etag: afterChange.etag, position: afterChange.position });
    expect((await get(id)).headers.get('etag')).toBe(afterChange.etag);
  });

  it('records events with stable types, JSON-native data and metadata naming the command and the key id, never the key', async () => {
    const id = sid('metadata');
    const created = await put(
      id,
      {
        cartItems: [{ sku: 'tee', quantity: 3, price: 19.99 }],
        additionalCosts: { shipping: { price: 0.1 } },
        state: 'closed',
      },
      { headers: { 'x-request-id': `req-${run}`, 'Idempotency-Key': `meta-${run}` } },
    );
    expect(created.status).toBe(200);
    expectOk(await verb(id, 'cancel'));

    const events = await harness.store.readStream(stream(id));
    expect(events.map((event) => event.type)).toEqual([
      'SessionCreated',
      'SessionClosed',
      'SessionCancelled',
    ]);
    const [first, closed, cancel] = events.map((event) => event.metadata);
    const keyId = /^key-[0-9a-f]{16}$/;
    for (const metadata of [first, closed])
      expect(metadata).toMatchObject({
        schemaVersion: 1,
        commandId: first!.commandId,
        correlationId: `req-${run}`,
        idempotencyKey: `meta-${run}`,
        actor: expect.stringMatching(keyId),
      });
    expect(cancel).toMatchObject({ schemaVersion: 1, actor: first!.actor });
    expect(cancel!.commandId).not.toBe(first!.commandId);
    expect(typeof first!.commandId).toBe('string');
    // Money as exact decimal strings, times as ISO-8601 strings.
    expect(events[1]!.data).toMatchObject({ total: '60.07', at: created.body.customerSession.updated });
    expect(events[2]!.data).toMatchObject({ previousState: 'closed', reversedRevenue: '60.07' });
    const stored = JSON.stringify(events.map((event) => [event.data, event.metadata]));
    expect(stored).not.toContain(KEY_APP1);
  });

  it('stores nothing for dry runs and echoes evaluableCampaignIds', async () => {
    const id = sid('dry');
    const profileId = sid('dry-profile');
    const dry = await put(
      id,
      { profileId, evaluableCampaignIds: [7, 8], cartItems: [{ sku: 'a', quantity: 1, price: 2 }] },
      { query: '?dry=true' },
    );
    expect(dry.status).toBe(200);
    expect(dry.body.customerSession).toMatchObject({
      evaluableCampaignIds: [7, 8],
      firstSession: true,
      total: 2,
    });
    expect(dry.headers.get('x-event-position')).toBeNull();
    expect((await get(id)).status).toBe(404);
    expect(await harness.streamLength(stream(id))).toBe(0);
    expect(await harness.streamLength(`profile-1-${profileId}`)).toBe(0);

    // Stored, not dry: accepted, neither echoed nor stored.
    const stored = expectOk(
      await put(id, {
        evaluableCampaignIds: [9],
        cartItems: [{ sku: 'a', quantity: 2, price: 2 }],
        state: 'closed',
      }),
    );
    expect(stored.customerSession).not.toHaveProperty('evaluableCampaignIds');
    expect((await get(id)).body.customerSession).not.toHaveProperty('evaluableCampaignIds');
    const length = await harness.streamLength(stream(id));
    const dryReturn = await returnItems(id, [{ position: 0, quantity: 1 }], '?dry=true');
    expect(dryReturn.status).toBe(200);
    expect(dryReturn.body.return.returnedCartItems).toEqual([{ position: 0, sku: 'a', quantity: 1 }]);
    expect(await harness.streamLength(stream(id))).toBe(length);
    expect((await get(id)).body.customerSession.state).toBe('closed');
  });

  it('makes a command conditional on If-Match: a stale revision is 412 and appends nothing', async () => {
    const id = sid('if-match');
    const created = await put(id, { cartItems: [{ sku: 'a', quantity: 1 }] });
    const etag = created.headers.get('etag')!;
    const added = await addItems(id, [{ sku: 'b', quantity: 1 }], { 'If-Match': etag });
    expect(added.status).toBe(200);
    await expectRefused(
      id,
      await addItems(id, [{ sku: 'c', quantity: 1 }], { 'If-Match': etag }),
      412,
      'PRECONDITION_FAILED',
    );
    await expectRefused(id, await verb(id, 'close', { 'If-Match': '"garbage"' }), 412, 'PRECONDITION_FAILED');
    expect((await verb(id, 'close', { 'If-Match': added.headers.get('etag')! })).status).toBe(200);
  });

  it('answers bad input 400 whatever If-Match says: the input is checked before the precondition', async () => {
    const id = sid('if-match-bad-input');
    const created = await put(id, { cartItems: [{ sku: 'a', quantity: 1 }] });
    const stale = { 'If-Match': created.headers.get('etag')! };
    expectOk(await addItems(id, [{ sku: 'b', quantity: 1 }]));
    // Limits of the request alone that the domain checks, not the request's validation (a sum, a price's digits).
    const over = [
      { sku: 'c', quantity: 6000 },
      { sku: 'd', quantity: 6000 },
    ];
    await expectRefused(id, await addItems(id, over, stale), 400, 'LIMIT_EXCEEDED');
    await expectRefused(id, await put(id, { cartItems: over }, { headers: stale }), 400, 'LIMIT_EXCEEDED');
    await expectRefused(id, await addItems(id, over, { 'If-Match': '"1", W/"0"' }), 400, 'LIMIT_EXCEEDED');
    // A header that names no revision at all is refused with the other header checks, before the body's.
    await expectRefused(id, await addItems(id, over, { 'If-Match': 'W/"1"' }), 412, 'PRECONDITION_FAILED');
    const create = { 'If-None-Match': '*' };
    await expectRefused(id, await put(id, { cartItems: over }, { headers: create }), 400, 'LIMIT_EXCEEDED');
    const dear = [{ sku: 'e', quantity: 1, price: 1e15 + 2 }];
    await expectRefused(id, await addItems(id, dear, stale), 400, 'INVALID_FIELD');
    // Good input with the same stale If-Match: 412.
    await expectRefused(
      id,
      await addItems(id, [{ sku: 'c', quantity: 1 }], stale),
      412,
      'PRECONDITION_FAILED',
    );
    await expectRefused(id, await put(id, { cartItems: [] }, { headers: stale }), 412, 'PRECONDITION_FAILED');
  });

  it('replays an Idempotency-Key response, refuses a reused key with another body, also after a restart', async () => {
    const id = sid('idempotent');
    const key = { 'Idempotency-Key': `key-${run}` };
    const first = await put(id, { cartItems: [{ sku: 'a', quantity: 1, price: 1 }] }, { headers: key });
    expect(first.status).toBe(200);
    const replay = await put(id, { cartItems: [{ price: 1, quantity: 1, sku: 'a' }] }, { headers: key });
    expect(replay.body).toEqual(first.body);
    expect(replay.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(replay.headers.get('x-event-position')).toBe(first.headers.get('x-event-position'));

    const closeKey = { 'Idempotency-Key': `close-${run}` };
    const closed = await verb(id, 'close', closeKey);
    expect(closed.status).toBe(200);
    const closedAgain = await verb(id, 'close', closeKey);
    expect(closedAgain.status).toBe(200);
    expect(closedAgain.body).toEqual(closed.body);
    expect(closedAgain.headers.get('x-event-position')).toBe(closed.headers.get('x-event-position'));
    expect(await harness.streamLength(stream(id))).toBe(2);

    const reused = await put(id, { cartItems: [{ sku: 'b', quantity: 1 }] }, { headers: key });
    expect({ status: reused.status, code: reused.body.errors[0].title }).toEqual({
      status: 422,
      code: 'IDEMPOTENCY_KEY_REUSED',
    });

    await harness.restart();
    const afterRestart = await verb(id, 'close', closeKey);
    expect(afterRestart.status).toBe(200);
    expect(afterRestart.body).toEqual(closed.body);
    expect(afterRestart.headers.get('etag')).toBe(closed.headers.get('etag'));
    const reusedAfterRestart = await put(id, { couponCodes: ['X'] }, { headers: key });
    expect(reusedAfterRestart.status).toBe(422);
    expect(await harness.streamLength(stream(id))).toBe(2);
  });

  it('scopes an Idempotency-Key to its endpoint: the same key and body on close, then on cancel, applies both', async () => {
    const id = sid('key-per-endpoint');
    expectOk(await put(id, { cartItems: [{ sku: 'a', quantity: 1, price: 3 }] }));
    const key = { 'Idempotency-Key': `verbs-${run}` };
    const closed = expectOk(await verb(id, 'close', key));
    expect(closed.customerSession.state).toBe('closed');
    // Same key, same (empty) body, another endpoint: another command, not a replay of the close.
    const cancelled = await verb(id, 'cancel', key);
    expect({ status: cancelled.status, state: cancelled.body.customerSession?.state }).toEqual({
      status: 200,
      state: 'cancelled',
    });
    expect(await harness.streamLength(stream(id))).toBe(3);
    // Each replays its own first answer — from this process's cache, then from the store after a restart.
    for (const round of ['cached', 'restarted']) {
      if (round === 'restarted') await harness.restart();
      const closeAgain = await verb(id, 'close', key);
      const cancelAgain = await verb(id, 'cancel', key);
      expect({ round, close: closeAgain.body, cancel: cancelAgain.body }).toEqual({
        round,
        close: closed,
        cancel: cancelled.body,
      });
    }
    expect(await harness.streamLength(stream(id))).toBe(3);
  });

  it('scopes an Idempotency-Key to its session and application: the same key and body elsewhere is another command', async () => {
    const id = sid('key-per-session');
    const other = sid('key-per-session-other');
    const body = { couponCodes: ['SCOPE'] };
    const key = { 'Idempotency-Key': `scope-${run}` };
    expectOk(await put(id, body));
    // A keyed no-op: its answer is remembered under the key.
    const noop = expectOk(await put(id, body, { headers: key })).customerSession;
    expect(noop).toMatchObject({ integrationId: id, updateCount: 1 });

    // Same key, same body, another session of the application: a create of that session, not the first answer.
    const created = await put(other, body, { headers: key });
    expect(created.status).toBe(200);
    expect(created.body.customerSession).toMatchObject({ integrationId: other, applicationId: 1 });
    expect(created.body.customerSession.id).not.toBe(noop.id);
    expect(await harness.streamLength(stream(other))).toBe(1);

    // Same key, same body, the same session id in another application: that application's own session.
    const theirs = await call('PUT', sessionUrl(id), {
      key: KEY_APP2,
      body: { customerSession: body },
      headers: key,
    });
    expect(theirs.status).toBe(200);
    expect(theirs.body.customerSession).toMatchObject({ integrationId: id, applicationId: 2 });
    expect(await harness.streamLength(stream(id, 2))).toBe(1);
    expect(await harness.streamLength(stream(id))).toBe(1);
  });

  it('remembers no refusal under an Idempotency-Key: a retry is decided again, so one whose cause was fixed is applied, once', async () => {
    const id = sid('key-refused');
    expectOk(await put(id, { cartItems: [{ sku: 'a', quantity: 1, price: 3 }] }));
    expectOk(await verb(id, 'close'));
    const addKey = { 'Idempotency-Key': `refused-add-${run}` };
    const items = [{ sku: 'b', quantity: 2, price: 1 }];
    expect((await addItems(id, items, addKey)).status).toBe(409);
    expect(await harness.streamLength(stream(id))).toBe(2);
    expectOk(await verb(id, 'reopen'));
    // The same key and body once the session is open again: applied, and from then on replayed.
    const applied = expectOk(await addItems(id, items, addKey));
    expect(applied.customerSession.cartItems).toHaveLength(2);
    expect(expectOk(await addItems(id, items, addKey))).toEqual(applied);
    expect(await harness.streamLength(stream(id))).toBe(4);

    // A stale If-Match is 412; the same key without it is decided on the session as it is: closed.
    const closeKey = { 'Idempotency-Key': `refused-close-${run}` };
    expect((await verb(id, 'close', { ...closeKey, 'If-Match': '"0"' })).status).toBe(412);
    expect(expectOk(await verb(id, 'close', closeKey)).customerSession.state).toBe('closed');
    expect(await harness.streamLength(stream(id))).toBe(5);
  });

  describe('sessions near the size limits', () => {
    const longSku = (i: number) => `${String(i).padStart(4, '0')}${'x'.repeat(996)}`;
    const lines = (count: number) =>
      Array.from({ length: count }, (_, i) => ({ sku: longSku(i), quantity: 1, price: 1 }));

    it('refuses a cart whose close could not be recorded (400, nothing stored), and closes one that fits', async () => {
      const tooLarge = sid('too-large');
      const refused = await put(tooLarge, { cartItems: lines(1000) });
      expect(refused.status).toBe(400);
      expect(refused.body.errors[0]).toMatchObject({
        title: 'LIMIT_EXCEEDED',
        source: { pointer: '/customerSession/cartItems' },
      });
      expect((await get(tooLarge)).status).toBe(404);

      const large = sid('large');
      expectOk(await put(large, { cartItems: lines(800) }));
      const grown = await addItems(large, lines(200));
      expect({ status: grown.status, code: grown.body.errors[0].title }).toEqual({
        status: 400,
        code: 'LIMIT_EXCEEDED',
      });
      const closed = expectOk(await verb(large, 'close'));
      expect(closed.customerSession).toMatchObject({ state: 'closed', total: 800 });
      expect(await harness.streamLength(stream(large))).toBe(2);
    });

    it('replays a keyed command of a session near the size limits from the session stream, also after a restart', async () => {
      const id = sid('large-keyed');
      const key = { 'Idempotency-Key': `large-${run}` };
      const first = await put(id, { cartItems: lines(800) }, { headers: key });
      expect(first.status).toBe(200);
      const record = await harness.store.readStream(
        IdempotencyStore.streamName({
          applicationId: 1,
          endpoint: 'PUT /v2/customer_sessions/:customerSessionId',
          integrationId: id,
          key: key['Idempotency-Key'],
        }),
      );
      // The command appended: its event carries the key, and no record is written.
      expect(record).toHaveLength(0);

      const again = await put(id, { cartItems: lines(800) }, { headers: key });
      expect(again.status).toBe(200);
      expect(again.body).toEqual(first.body);
      expect(again.headers.get('etag')).toBe(first.headers.get('etag'));
      expect(again.headers.get('x-event-position')).toBe(first.headers.get('x-event-position'));
      expectOk(await addItems(id, [{ sku: 'later', quantity: 1 }]));

      await harness.restart();
      const afterRestart = await put(id, { cartItems: lines(800) }, { headers: key });
      expect(afterRestart.status).toBe(200);
      expect(afterRestart.body).toEqual(first.body);
      expect(await harness.streamLength(stream(id))).toBe(2);
    });

    it('answers a keyed no-op on a session of over 1 MiB as without a key, and its retry the same (rebuilt from the stream)', async () => {
      const id = sid('large-no-op');
      // 36 lines with 60 KB of attributes each, 12 per request: each append stays under 1,000,000 bytes.
      const rich = (from: number) =>
        Array.from({ length: 12 }, (_, i) => ({
          sku: `rich-${from + i}`,
          quantity: 1,
          price: 1,
          attributes: { blob: `${from + i}`.padEnd(60_000, 'x') },
        }));
      expectOk(await put(id, { cartItems: rich(0) }));
      expectOk(await addItems(id, rich(12)));
      expectOk(await addItems(id, rich(24)));
      const read = await get(id);
      expect(Buffer.byteLength(JSON.stringify(read.body))).toBeGreaterThan(2 ** 20);
      const events = await harness.streamLength(stream(id));
      const unkeyed = expectOk(await put(id, {}));
      const keys = { put: `no-op-put-${run}`, add: `no-op-add-${run}`, close: `no-op-close-${run}` };
      const noOps = {
        put: () => put(id, {}, { headers: { 'Idempotency-Key': keys.put } }),
        add: () => addItems(id, [], { 'Idempotency-Key': keys.add }),
      };
      const recordOf = async (key: string, endpoint: string) =>
        harness.store.readStream(
          IdempotencyStore.streamName({ applicationId: 1, endpoint, integrationId: id, key }),
        );

      const first = { put: await noOps.put(), add: await noOps.add() };
      for (const reply of [first.put, first.add]) {
        expect(reply.status).toBe(200);
        expect(reply.body).toEqual(unkeyed);
        expect(reply.body.customerSession).toEqual(read.body.customerSession);
        expect(reply.headers.get('etag')).toBe(read.headers.get('etag'));
        expect(reply.headers.get('x-event-position')).toBeNull();
      }
      // The records name the revision the no-ops answered with, not the body (over 1 MiB: one append refuses it).
      const records = [
        await recordOf(keys.put, 'PUT /v2/customer_sessions/:customerSessionId'),
        await recordOf(keys.add, 'POST /v2/customer_sessions/:customerSessionId/cart_items'),
      ];
      for (const record of records) {
        expect(record).toHaveLength(1);
        expect(record[0]!.data).not.toHaveProperty('body');
        // No events of its own: the empty range after revision 2, as an older release reads it too.
        expect(record[0]!.data).toMatchObject({ unchangedAt: '2', revisions: { first: '3', last: '2' } });
      }

      const same = (again: Reply, reply: Reply) => {
        expect(again.status).toBe(200);
        expect(again.body).toEqual(reply.body);
        expect(again.headers.get('etag')).toBe(reply.headers.get('etag'));
        expect(again.headers.get('x-event-position')).toBe(reply.headers.get('x-event-position'));
      };
      same(await noOps.put(), first.put);
      same(await noOps.add(), first.add);
      const reused = await put(id, { couponCodes: ['X'] }, { headers: { 'Idempotency-Key': keys.put } });
      expect({ status: reused.status, code: reused.body.errors[0].title }).toEqual({
        status: 422,
        code: 'IDEMPOTENCY_KEY_REUSED',
      });
      expect(await harness.streamLength(stream(id))).toBe(events);

      // The session moves on: a retry still gets the first answer (the session as it was), also after a restart.
      expectOk(await addItems(id, [{ sku: 'later', quantity: 1, price: 1 }]));
      same(await noOps.put(), first.put);
      await harness.restart();
      same(await noOps.put(), first.put);
      same(await noOps.add(), first.add);
      expect(await harness.streamLength(stream(id))).toBe(events + 1);

      // A PUT of the state a closed session already has.
      const closed = await verb(id, 'close');
      expectOk(closed);
      const closeNoOp = () => put(id, { state: 'closed' }, { headers: { 'Idempotency-Key': keys.close } });
      const firstClose = await closeNoOp();
      expect(firstClose.status).toBe(200);
      expect(firstClose.body).toEqual(closed.body);
      expect(firstClose.headers.get('etag')).toBe(closed.headers.get('etag'));
      same(await closeNoOp(), firstClose);
      expect(await harness.streamLength(stream(id))).toBe(events + 2);
    });
  });

  it('applies a keyed command once, answered again from the session stream alone, across a restart', async () => {
    const id = sid('lost-record');
    expectOk(await put(id, { cartItems: [{ sku: 'a', quantity: 2, price: 3 }] }));
    expectOk(await verb(id, 'close'));
    const addKey = { 'Idempotency-Key': `add-${run}` };
    const returnKey = { 'Idempotency-Key': `return-${run}` };
    const returnBody = { return: { returnedCartItems: [{ position: 0, quantity: 1 }] } };
    // Commands that append write no idempotency record: their events carry the key's token, which is all a
    // retry needs, whatever happened to the process after the append.
    const remember = jest.spyOn(IdempotencyStore.prototype, 'remember');
    let firstAdd: Awaited<ReturnType<typeof addItems>>;
    let firstReturn: Awaited<ReturnType<typeof call>>;
    try {
      expectOk(await verb(id, 'reopen'));
      firstAdd = await addItems(id, [{ sku: 'once', quantity: 1, price: 1 }], addKey);
      expect(firstAdd.status).toBe(200);
      expectOk(await verb(id, 'close'));
      firstReturn = await call('POST', sessionUrl(id, '/returns'), { body: returnBody, headers: returnKey });
      expect(firstReturn.status).toBe(200);
      expect(remember).not.toHaveBeenCalled();
    } finally {
      remember.mockRestore();
    }
    const length = await harness.streamLength(stream(id));

    await harness.restart();
    const added = await addItems(id, [{ sku: 'once', quantity: 1, price: 1 }], addKey);
    const returned = await call('POST', sessionUrl(id, '/returns'), { body: returnBody, headers: returnKey });
    expect(await harness.streamLength(stream(id))).toBe(length);

    // The replies are those of the first runs: AddCartItems answered with the session as it was then (open,
    // before the close), the return with the return it recorded.
    const events = await harness.store.readStream(stream(id));
    const addedEvent = events.find((event) => event.type === 'CartItemsAdded')!;
    const returnEvent = events.find((event) => event.type === 'CartItemsReturned')!;
    expect(added.status).toBe(200);
    expect(added.headers.get('etag')).toBe(`"${addedEvent.revision}"`);
    expect(added.headers.get('x-event-position')).toBe(String(addedEvent.position));
    expect(added.body.customerSession.state).toBe('open');
    expect(added.body.customerSession.cartItems.map((item: { sku: string }) => item.sku)).toEqual([
      'a',
      'once',
    ]);
    expect(returned.status).toBe(200);
    expect(returned.headers.get('etag')).toBe(`"${returnEvent.revision}"`);
    expect(returned.body.return.id).toBe(returnEvent.data.returnId);
    expect(returned.body.customerSession.state).toBe('partially_returned');
    expect(added.body).toEqual(firstAdd.body);
    expect(returned.body).toEqual(firstReturn.body);
    const session = expectOk(await get(id)).customerSession;
    expect(session.cartItems.map((item: { sku: string }) => item.sku)).toEqual(['a', 'once']);
    expect(session.cartItems[0].returnedQuantity).toBe(1);

    // The same replies again, and the key with another body is refused.
    const again = await addItems(id, [{ sku: 'once', quantity: 1, price: 1 }], addKey);
    expect(again.body).toEqual(added.body);
    const reused = await addItems(id, [{ sku: 'twice', quantity: 1, price: 1 }], addKey);
    expect({ status: reused.status, code: reused.body.errors[0].title }).toEqual({
      status: 422,
      code: 'IDEMPOTENCY_KEY_REUSED',
    });
    expect(await harness.streamLength(stream(id))).toBe(length);
  });

  it('applies 50 concurrent AddCartItems on one session exactly once each', async () => {
    const id = sid('fifty');
    expectOk(await put(id, {}));
    const replies = await Promise.all(
      Array.from({ length: 50 }, (_, i) => addItems(id, [{ sku: `sku-${i}`, quantity: 1, price: 1 }])),
    );
    expect(replies.map((reply) => reply.status)).toEqual(Array(50).fill(200));
    const session = (await get(id)).body.customerSession;
    expect(session.cartItems.map((line: { sku: string }) => line.sku).sort()).toEqual(
      Array.from({ length: 50 }, (_, i) => `sku-${i}`).sort(),
    );
    expect(session.cartItems.map((line: { position: number }) => line.position)).toEqual(
      Array.from({ length: 50 }, (_, i) => i),
    );
    expect(session).toMatchObject({ updateCount: 51, total: 50 });
  });

  it('makes exactly one of 20 concurrent creates for a new profile the first session', async () => {
    const profileId = sid('race-profile');
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => put(sid(`race-${i}`), { profileId })),
    );
    expect(replies.map((reply) => reply.status)).toEqual(Array(20).fill(200));
    expect(replies.filter((reply) => reply.body.customerSession.firstSession)).toHaveLength(1);
  });

  it("isolates tenants: another application's key sees 404 and cannot change the session", async () => {
    const id = sid('tenant');
    const own = expectOk(await put(id, { cartItems: [{ sku: 'a', quantity: 1, price: 1 }] }));
    const length = await harness.streamLength(stream(id));
    expect((await get(id, KEY_APP2)).status).toBe(404);
    expect((await call('POST', sessionUrl(id, '/close'), { key: KEY_APP2 })).status).toBe(404);
    expect(
      (
        await call('POST', sessionUrl(id, '/cart_items'), {
          key: KEY_APP2,
          body: { cartItems: [{ sku: 'z', quantity: 1 }] },
        })
      ).status,
    ).toBe(404);
    const theirs = await call('PUT', sessionUrl(id), {
      key: KEY_APP2,
      body: { customerSession: { couponCodes: ['MINE'] } },
    });
    expect(theirs.body.customerSession).toMatchObject({ applicationId: 2, couponCodes: ['MINE'] });
    expect(theirs.body.customerSession.id).not.toBe(own.customerSession.id);
    expect((await get(id)).body.customerSession).toEqual(own.customerSession);
    expect(await harness.streamLength(stream(id))).toBe(length);
  });

  it('shows the session cache on /metrics, and answers the same with the cache turned off', async () => {
    const id = sid('cache');
    const created = expectOk(await put(id, { cartItems: [{ sku: 'A', quantity: 1, price: 5 }] }));
    const gauge = async (name: string) => {
      const text = await (await fetch(`${harness.baseUrl}/metrics`)).text();
      return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
    };
    expect(await gauge('session_cache_sessions')).toBeGreaterThanOrEqual(1);
    expect(await gauge('session_cache_bytes')).toBeGreaterThan(1000);

    await harness.restart({ SESSION_CACHE_MB: '0' });
    const added = expectOk(await addItems(id, [{ sku: 'B', quantity: 2, price: 1.5 }]));
    expect(added.customerSession).toMatchObject({ total: 8, updateCount: 2 });
    expect(added.customerSession.cartItems[0]).toEqual(created.customerSession.cartItems[0]);
    expect(await gauge('session_cache_sessions')).toBe(0);
    await harness.restart();
    expect(expectOk(await get(id)).customerSession).toEqual(added.customerSession);
  });

  it('reads every session back identically after a restart', async () => {
    const ids = [
      sid('anon'),
      sid('profiled'),
      sid('profiled-2'),
      sid('reopen'),
      sid('fifty'),
      sid('idempotent'),
      sid('tenant'),
    ];
    const before = await Promise.all(ids.map((id) => get(id)));
    await harness.restart();
    const after = await Promise.all(ids.map((id) => get(id)));
    for (let i = 0; i < ids.length; i++) {
      expect(after[i]!.status).toBe(200);
      expect(after[i]!.body).toEqual(before[i]!.body);
      expect(after[i]!.headers.get('etag')).toBe(before[i]!.headers.get('etag'));
    }
  });
});
