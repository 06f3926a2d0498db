/**
 * The API while the event store hangs — a stopped process, a black-holed network: connections are accepted,
 * nothing answers, nothing fails (a store that is down answers 503 at once, see readiness.e2e-spec.ts). Each
 * event-store call made for a request has a deadline (EVENTSTORE_CALL_TIMEOUT_MS, 2 s here): past it the
 * request is answered 503 SERVICE_UNAVAILABLE, logged once at warn with its request id, and a command whose
 * append timed out has an unknown outcome — its append may be applied when the store resumes. A retry with the
 * same Idempotency-Key then applies it exactly once. A command whose read timed out, or that was queued behind
 * one that timed out, was not applied, and its 503 says so; a dry run's says only to retry. The same holds when
 * the connection drops while an append is on its way (the store process killed): the 503 says the outcome is
 * unknown, unlike one whose first read found the store down.
 *
 * Replica A reaches the embedded store through a relay that can hang or drop its connections
 * (`startHangingRelay`); replica B directly. The store runs on this thread so that the test can hang or cut the
 * relay at the moment A's first append reaches it (`onRpc`), after A's reads went through.
 *
 * The deadline is not the shortest the API takes, because the first call of a connection includes setting it
 * up, which takes a few hundred ms on a loaded machine; each API's connection is also set up before its first
 * request (`startApi`), and the bounds on how long a 503 takes are generous.
 */
import { EsdbClientAdapter } from '@session-engine/event-store';
import { closedPort, type HangingRelay } from '@session-engine/testing';
import type { EmbeddedEventStore } from '../apps/eventstore-embedded/src';
import { HungStoreSystem, type DeadlineApi } from './support/hung-store';
import { eventually } from './support/eventually';

jest.setTimeout(60_000);

const KEY = 'int-key-timeout-0001';
const DEADLINE_MS = 2_000;
/** Generous: the deadline plus scheduling on a busy box; without the deadline these take ~20 s. */
const WITHIN_MS = 10_000;

interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
  requestId: string | null;
  etag: string | null;
  ms: number;
  /** When the answer was complete (ms since the epoch). */
  endedAt: number;
}

let system: HungStoreSystem;
let server: EmbeddedEventStore;
let relay: HangingRelay;
/** Told of every call the store receives (see `hangAtFirstAppend`). */
let onRpc: ((name: string) => void) | undefined;
let counter = 0;

const newId = (label: string) => `${label}-${Date.now()}-${++counter}`;

const startApi = (connectionString: string, warm = true) => system.startApi(connectionString, warm);

const throughRelay = () => system.throughRelay();

async function call(
  api: DeadlineApi,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const started = Date.now();
  const response = await fetch(`${api.url}/v2/customer_sessions/${path}`, {
    method,
    headers: { authorization: `ApiKey-v1 ${KEY}`, 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text === '' ? undefined : JSON.parse(text),
    text,
    requestId: response.headers.get('x-request-id'),
    etag: response.headers.get('etag'),
    ms: Date.now() - started,
    endedAt: Date.now(),
  };
}

const create = { customerSession: { cartItems: [{ sku: 'first', quantity: 1, price: 2 }] } };
const add = { cartItems: [{ sku: 'added', quantity: 1, price: 1.5 }] };

/** The event types of session `id` of application 1, read directly from the store. */
async function eventTypes(id: string): Promise<string[]> {
  const direct = EsdbClientAdapter.connect(server.connectionString);
  try {
    return (await direct.readStream(`session-1-${id}`)).map((stored) => stored.type);
  } finally {
    await direct.close();
  }
}

/** A 503 of a call the deadline ended: the §5 body, in time, no internals. */
function expectTimedOut(reply: Reply, details: RegExp): void {
  expect(reply.status).toBe(503);
  expect(reply.body).toEqual({
    message: expect.stringMatching(details),
    errors: [{ title: 'SERVICE_UNAVAILABLE', details: expect.stringMatching(details), source: {} }],
    StatusCode: 503,
  });
  expect(reply.body.message).toMatch(new RegExp(`did not answer within ${DEADLINE_MS} ms`));
  // No internals: no stack frame, error class or gRPC status in what the client reads.
  expect(reply.body.message).not.toMatch(/\n|\.[jt]s:\d+|Error|grpc|DEADLINE|UNAVAILABLE:/);
  expect(reply.ms).toBeLessThan(WITHIN_MS);
}

/** The warn lines the timeouts were logged with, by request id. */
const timeoutLogs = (api: DeadlineApi) =>
  api.logs.filter((line) => line.level === 'warn' && /timed out/.test(String(line.msg)));

/**
 * Hangs the relay the moment the store receives a batch-append call: the first append of an adapter that has
 * not appended yet. Its reads went through; the append, and every answer, are held back until `resume()`.
 */
function hangAtFirstAppend(): void {
  onRpc = (name) => {
    if (name !== 'Streams.BatchAppend') return;
    onRpc = undefined;
    relay.hang();
  };
}

/** Cuts A's connection the moment the store receives its first batch-append call (see `hangAtFirstAppend`). */
function dropAtFirstAppend(): void {
  onRpc = (name) => {
    if (name !== 'Streams.BatchAppend') return;
    onRpc = undefined;
    relay.drop();
  };
}

/** The count of `session_command_duration_seconds` for a command and outcome on `api`'s /metrics. */
async function commandCount(api: DeadlineApi, command: string, outcome: string): Promise<number> {
  const metrics = await (await fetch(`${api.url}/metrics`)).text();
  const line = metrics
    .split('\n')
    .find((l) =>
      l.startsWith(`session_command_duration_seconds_count{command="${command}",outcome="${outcome}"} `),
    );
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

beforeAll(async () => {
  system = await HungStoreSystem.start({
    label: 'store-hung-e2e',
    key: KEY,
    deadlineMs: DEADLINE_MS,
    onRpc: (name) => onRpc?.(name),
  });
  ({ server, relay } = system);
});

afterEach(() => {
  onRpc = undefined;
  relay.resume();
});

afterAll(async () => {
  await system?.stop();
});

describe('the event store hangs', () => {
  it('PUT, POST /cart_items and GET answer 503 within the deadline; after it resumes the API serves again', async () => {
    const api = await throughRelay();
    const id = newId('hung');
    expect((await call(api, 'PUT', id, create)).status).toBe(200);

    relay.hang();
    const put = await call(api, 'PUT', id, { customerSession: { attributes: { colour: 'red' } } });
    const post = await call(api, 'POST', `${id}/cart_items`, add);
    const get = await call(api, 'GET', id);
    relay.resume();

    const unknown = /outcome of this command is unknown.*no Idempotency-Key/;
    expectTimedOut(put, unknown);
    expectTimedOut(post, unknown);
    expectTimedOut(get, /^The event store did not answer within 2000 ms; retry later$/);

    // Logged once each, at warn, under the request id the client got; the commands counted by outcome.
    const logged = timeoutLogs(api);
    expect(logged.map((line) => line.requestId).sort()).toEqual(
      [put.requestId, post.requestId, get.requestId].sort(),
    );
    expect(logged.map((line) => line.operation)).toEqual(['append', 'append', 'read']);
    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    expect(metrics).toMatch(
      /session_command_duration_seconds_count\{command="AddCartItems",outcome="service_unavailable"\} 1/,
    );

    const after = await call(api, 'GET', id);
    expect(after.status).toBe(200);
    expect((await call(api, 'POST', `${id}/cart_items`, add)).status).toBe(200);
  });

  it('a request whose client left before the deadline is logged 499, and its timeout does not claim a 503 was answered', async () => {
    const api = await throughRelay();
    const requestId = `gone-${Date.now()}-${++counter}`;
    relay.hang();
    // As `curl -m 1` would: the client gives up long before the deadline, closing its connection.
    const gone = fetch(`${api.url}/v2/customer_sessions/${newId('gone')}`, {
      headers: { authorization: `ApiKey-v1 ${KEY}`, 'x-request-id': requestId },
      signal: AbortSignal.timeout(300),
    });
    await expect(gone).rejects.toThrow();
    await eventually(async () => timeoutLogs(api).some((line) => line.requestId === requestId), WITHIN_MS);
    relay.resume();

    // The request line says what happened to the client (499, it left); the timeout's line says the same, with
    // its fields, rather than "answered 503": nothing was answered.
    const lines = api.logs.filter((line) => line.requestId === requestId);
    expect(lines).toEqual([
      expect.objectContaining({ level: 'info', msg: 'request', status: 499, aborted: true }),
      expect.objectContaining({
        level: 'warn',
        msg: 'event store call timed out after the client had gone (499)',
        method: 'GET',
        operation: 'read',
        stream: 'session',
        timeoutMs: DEADLINE_MS,
        idempotencyKey: false,
        aborted: true,
      }),
    ]);
    expect(lines[1]).toHaveProperty('outcome');
  });

  it('a command with an Idempotency-Key whose append the store applies late is applied exactly once when retried', async () => {
    const b = await startApi(server.connectionString);
    const id = newId('keyed');
    // Created on replica B, so that A's first append is the keyed command's own.
    expect((await call(b, 'PUT', id, create)).status).toBe(200);
    const a = await throughRelay();
    const key = { 'idempotency-key': `key-${id}` };

    hangAtFirstAppend();
    const first = await call(a, 'POST', `${id}/cart_items`, add, key);
    expectTimedOut(first, /outcome of this command is unknown.*same Idempotency-Key and body is safe/);
    // The reads (the remembered response, the session) went through: the append itself timed out.
    expect(timeoutLogs(a)).toEqual([
      expect.objectContaining({ requestId: first.requestId, operation: 'append', idempotencyKey: true }),
    ]);
    relay.resume();
    // The store applies the append it held: the 503 did not mean "not applied".
    await eventually(async () => (await eventTypes(id)).length === 2);

    const retried = await call(a, 'POST', `${id}/cart_items`, add, key);
    expect(retried.status).toBe(200);
    expect(retried.etag).toBe('"1"');
    expect(retried.body.customerSession.cartItems.map((item: { sku: string }) => item.sku)).toEqual([
      'first',
      'added',
    ]);
    const onB = await call(b, 'POST', `${id}/cart_items`, add, key);
    expect({ status: onB.status, etag: onB.etag, body: onB.body }).toEqual({
      status: 200,
      etag: '"1"',
      body: retried.body,
    });
    expect(await eventTypes(id)).toEqual(['SessionCreated', 'CartItemsAdded']);
  });

  it('a command without a key whose append the store applies late is applied again by a retry (documented)', async () => {
    const api = await throughRelay();
    const id = newId('unkeyed');
    expect((await call(api, 'PUT', id, create)).status).toBe(200);

    relay.hang();
    expectTimedOut(await call(api, 'POST', `${id}/cart_items`, add), /no Idempotency-Key/);
    relay.resume();
    await eventually(async () => (await eventTypes(id)).length === 2);

    expect((await call(api, 'POST', `${id}/cart_items`, add)).status).toBe(200);
    expect(await eventTypes(id)).toEqual(['SessionCreated', 'CartItemsAdded', 'CartItemsAdded']);
  });
});

/** The details of a command's 503 that was not applied: it waited for, or read from, a store that did not answer. */
const NOT_APPLIED = /: it was not applied \(nothing of it was written\)\. Retrying it is safe\.$/;
/** The same for a keyed command: this request wrote nothing, but an earlier one with its key may have. */
const WROTE_NOTHING =
  /: this request wrote nothing \(an earlier request with the same Idempotency-Key may have applied the command\)\. Retrying it with the same Idempotency-Key and body is safe: it is applied at most once\.$/;

/** A 503 within the generous bound, the §5 body with `details`, no internals. */
function expectUnavailable(reply: Reply, details: RegExp): void {
  expect(reply.status).toBe(503);
  expect(reply.body).toEqual({
    message: expect.stringMatching(details),
    errors: [{ title: 'SERVICE_UNAVAILABLE', details: expect.stringMatching(details), source: {} }],
    StatusCode: 503,
  });
  expect(reply.body.message).not.toMatch(/\n|\.[jt]s:\d+|Error|grpc|DEADLINE|UNAVAILABLE:|session-1-/);
  expect(reply.ms).toBeLessThan(WITHIN_MS);
}

/** How far apart the first and the last of `replies` were answered, in ms. */
const spread = (replies: Reply[]) =>
  Math.max(...replies.map((reply) => reply.endedAt)) - Math.min(...replies.map((reply) => reply.endedAt));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('requests queued behind one the store does not answer', () => {
  it('five concurrent AddCartItems on one session all answer at the first one\'s timeout: the first "outcome unknown", the four behind it "not applied"', async () => {
    const api = await throughRelay();
    const id = newId('queued');
    expect((await call(api, 'PUT', id, create)).status).toBe(200);

    relay.hang();
    const first = call(api, 'POST', `${id}/cart_items`, add);
    // The others arrive while the first one's append (its only call: the session is cached) is on its way.
    await sleep(DEADLINE_MS / 4);
    const behind = await Promise.all(
      Array.from({ length: 4 }, () => call(api, 'POST', `${id}/cart_items`, add)),
    );
    const replies = [await first, ...behind];

    expectTimedOut(replies[0]!, /outcome of this command is unknown/);
    for (const reply of behind) {
      expectUnavailable(
        reply,
        /^An earlier command on the same session, which this request waited for, got no answer from the event store in time: it was not applied/,
      );
      expect(reply.body.message).toMatch(NOT_APPLIED);
    }
    // Not one deadline after another (2, 4, 6, 8, 10 s): all within about one.
    expect(spread(replies)).toBeLessThan(DEADLINE_MS / 2);
    expect(await commandCount(api, 'AddCartItems', 'service_unavailable')).toBe(5);
    const waits = api.logs.filter(
      (line) => line.level === 'warn' && /gave up waiting/.test(String(line.msg)),
    );
    expect(waits.map((line) => line.requestId).sort()).toEqual(behind.map((reply) => reply.requestId).sort());
    expect(waits).toEqual(
      behind.map(() =>
        expect.objectContaining({ reason: 'holder-failed', stream: 'session', outcome: 'not_applied' }),
      ),
    );

    relay.resume();
    // The first one's append, held while the store hung, is applied: the only one that was sent.
    await eventually(async () => (await eventTypes(id)).length === 2);
    expect((await call(api, 'POST', `${id}/cart_items`, add)).etag).toBe('"2"');
  });

  it('a keyed command sent again while the first is still waiting gives up with it, "not applied"', async () => {
    const api = await throughRelay();
    const id = newId('same-key');
    expect((await call(api, 'PUT', id, create)).status).toBe(200);
    const key = { 'idempotency-key': `key-${id}` };

    relay.hang();
    const first = call(api, 'POST', `${id}/cart_items`, add, key);
    await sleep(DEADLINE_MS / 4);
    const again = await call(api, 'POST', `${id}/cart_items`, add, key);
    const replies = [await first, again];

    // The first one's first call, the lookup of its key, timed out: nothing was written.
    expectTimedOut(replies[0]!, /while reading, before this command was written/);
    expect(replies[0]!.body.message).toMatch(WROTE_NOTHING);
    expectUnavailable(again, /^An earlier command on the same session, which this request waited for/);
    expect(again.body.message).toMatch(WROTE_NOTHING);
    expect(spread(replies)).toBeLessThan(DEADLINE_MS / 2);

    relay.resume();
    const retried = await call(api, 'POST', `${id}/cart_items`, add, key);
    expect(retried.status).toBe(200);
    expect(await eventTypes(id)).toEqual(['SessionCreated', 'CartItemsAdded']);
  });
});

describe('what a 503 of a hung store says about the command', () => {
  it('a command whose read timed out, before anything of it was written, is told it was not applied; its retry applies it once', async () => {
    const b = await startApi(server.connectionString);
    const id = newId('read-timeout');
    expect((await call(b, 'PUT', id, create)).status).toBe(200);
    // A has not seen the session: a keyed command first looks its key up, an unkeyed one loads the session.
    const a = await throughRelay();
    const key = { 'idempotency-key': `key-${id}` };

    relay.hang();
    const keyed = await call(a, 'POST', `${id}/cart_items`, add, key);
    const unkeyed = await call(a, 'POST', `${id}/close`);
    relay.resume();

    const notApplied = new RegExp(
      `^The event store did not answer within ${DEADLINE_MS} ms while reading, before this command was written: it was not applied \\(nothing of it was written\\)\\. Retrying it is safe\\.$`,
    );
    expectTimedOut(
      keyed,
      new RegExp(
        `^The event store did not answer within ${DEADLINE_MS} ms while reading, before this command was written${WROTE_NOTHING.source}`,
      ),
    );
    expectTimedOut(unkeyed, notApplied);
    expect(timeoutLogs(a)).toEqual([
      expect.objectContaining({ requestId: keyed.requestId, operation: 'read', outcome: 'not_applied' }),
      expect.objectContaining({ requestId: unkeyed.requestId, operation: 'read', outcome: 'not_applied' }),
    ]);
    expect(await commandCount(a, 'CloseSession', 'service_unavailable')).toBe(1);
    expect(await eventTypes(id)).toEqual(['SessionCreated']);

    expect((await call(a, 'POST', `${id}/cart_items`, add, key)).status).toBe(200);
    expect((await call(a, 'POST', `${id}/close`)).status).toBe(200);
    expect(await eventTypes(id)).toEqual(['SessionCreated', 'CartItemsAdded', 'SessionClosed']);
  });

  it('a dry run is told only to retry later: it writes nothing', async () => {
    const api = await throughRelay();
    const id = newId('dry');
    expect((await call(api, 'PUT', id, create)).status).toBe(200);

    relay.hang();
    const unkeyed = await call(api, 'PUT', `${id}?dry=true`, create);
    const keyed = await call(api, 'PUT', `${id}?dry=True`, create, { 'idempotency-key': `key-${id}` });
    relay.resume();

    expectTimedOut(
      unkeyed,
      new RegExp(`^The event store did not answer within ${DEADLINE_MS} ms; retry later$`),
    );
    expectTimedOut(
      keyed,
      new RegExp(`^The event store did not answer within ${DEADLINE_MS} ms; retry later$`),
    );
    expect(timeoutLogs(api).map((line) => line.outcome)).toEqual(['none', 'none']);
  });
});

describe('the connection drops while an append is on its way', () => {
  it('a keyed command answers 503 saying its outcome is unknown and that its key makes a retry safe; the retry applies it once', async () => {
    const b = await startApi(server.connectionString);
    const id = newId('dropped');
    expect((await call(b, 'PUT', id, create)).status).toBe(200);
    const a = await throughRelay();
    const key = { 'idempotency-key': `key-${id}` };

    dropAtFirstAppend();
    const first = await call(a, 'POST', `${id}/cart_items`, add, key);
    const details =
      'The connection to the event store failed during a write: the outcome of this command is unknown ' +
      '(it may still be applied). Retrying it with the same Idempotency-Key and body is safe: it is applied ' +
      'at most once.';
    expect({ status: first.status, body: first.body }).toEqual({
      status: 503,
      body: {
        message: details,
        errors: [{ title: 'SERVICE_UNAVAILABLE', details, source: {} }],
        StatusCode: 503,
      },
    });
    // Counted as a timed-out command is: the outcome is unknown either way.
    expect(await commandCount(a, 'AddCartItems', 'service_unavailable')).toBe(1);
    expect(await commandCount(a, 'AddCartItems', 'error')).toBe(0);

    // Whether or not the store applied the cut append, the retry with the key leaves the command applied once.
    const retried = await call(a, 'POST', `${id}/cart_items`, add, key);
    expect(retried.status).toBe(200);
    expect(retried.etag).toBe('"1"');
    expect(retried.body.customerSession.cartItems.map((item: { sku: string }) => item.sku)).toEqual([
      'first',
      'added',
    ]);
    expect(await eventTypes(id)).toEqual(['SessionCreated', 'CartItemsAdded']);
  });

  it('a command without a key is told a retry may apply it twice', async () => {
    const b = await startApi(server.connectionString);
    const id = newId('dropped-unkeyed');
    // Created on B: A's first append, the one cut, is the close.
    expect((await call(b, 'PUT', id, create)).status).toBe(200);
    const api = await throughRelay();

    dropAtFirstAppend();
    const reply = await call(api, 'POST', `${id}/close`);
    expect(reply.status).toBe(503);
    expect(reply.body.errors).toEqual([
      {
        title: 'SERVICE_UNAVAILABLE',
        details: expect.stringMatching(
          /^The connection to the event store failed during a write: the outcome of this command is unknown .* It carried no Idempotency-Key, so a retry may apply it a second time/,
        ),
        source: {},
      },
    ]);
    expect(await commandCount(api, 'CloseSession', 'service_unavailable')).toBe(1);
  });

  it('a store already down when a command first reads is only "not reachable": nothing was sent', async () => {
    const api = await startApi(`esdb://127.0.0.1:${await closedPort()}?tls=false`, false);
    // A session this replica has not seen: AddCartItems reads it before it appends anything.
    const reply = await call(api, 'POST', `${newId('down')}/cart_items`, add);
    expect({ status: reply.status, body: reply.body }).toEqual({
      status: 503,
      body: {
        message: 'The event store is not reachable; retry later',
        errors: [
          {
            title: 'SERVICE_UNAVAILABLE',
            details: 'The event store is not reachable; retry later',
            source: {},
          },
        ],
        StatusCode: 503,
      },
    });
    expect(await commandCount(api, 'AddCartItems', 'service_unavailable')).toBe(1);
  });
});
