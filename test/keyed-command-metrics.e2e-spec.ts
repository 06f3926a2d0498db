/**
 * `session_command_duration_seconds` counts a keyed command (`Idempotency-Key`) that ended before the command
 * handler ran it — its key's lookup failed, or it gave up waiting for an earlier request with the same key —
 * under the same outcome as a command that ended so inside the handler: `service_unavailable` for a store that
 * did not answer, `error` for one that could not be reached. A command the handler ran is counted once.
 *
 * The store is the embedded one, in this thread, so that the test can hang the relay replica A reaches it
 * through at the moment a given call reaches the store (`onRpc`); replica B reaches it directly.
 */
import { closedPort, type HangingRelay } from '@session-engine/testing';
import type { EmbeddedEventStore } from '../apps/eventstore-embedded/src';
import { HungStoreSystem, type DeadlineApi } from './support/hung-store';

jest.setTimeout(60_000);

const KEY = 'int-key-keyed-metrics-0001';
const DEADLINE_MS = 2_000;

interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

let system: HungStoreSystem;
let server: EmbeddedEventStore;
let relay: HangingRelay;
/** Told of every call the store receives. */
let onRpc: ((name: string) => void) | undefined;
let counter = 0;

const newId = (label: string) => `${label}-${Date.now()}-${++counter}`;

const startApi = (connectionString: string, warm = true) => system.startApi(connectionString, warm);

const throughRelay = () => system.throughRelay();

async function call(
  api: DeadlineApi,
  method: string,
  path: string,
  body: unknown,
  key?: string,
): Promise<Reply> {
  const response = await fetch(`${api.url}/v2/customer_sessions/${path}`, {
    method,
    headers: {
      authorization: `ApiKey-v1 ${KEY}`,
      'content-type': 'application/json',
      ...(key === undefined ? {} : { 'idempotency-key': key }),
    },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

const create = { customerSession: { cartItems: [{ sku: 'first', quantity: 1, price: 2 }] } };
const add = { cartItems: [{ sku: 'added', quantity: 1, price: 1.5 }] };

/** The counts of `session_command_duration_seconds` on `api`'s /metrics, by `command/outcome`. */
async function commandCounts(api: DeadlineApi): Promise<Record<string, number>> {
  const metrics = await (await fetch(`${api.url}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const [, command, outcome, count] of metrics.matchAll(
    /^session_command_duration_seconds_count\{command="(\w+)",outcome="(\w+)"\} (\d+)$/gm,
  )) {
    counts[`${command}/${outcome}`] = Number(count);
  }
  return counts;
}

/** Hangs the relay the moment the store receives the `nth` read from now; resolves then. */
function hangAtRead(nth: number): Promise<void> {
  let reads = 0;
  return new Promise((resolve) => {
    onRpc = (name) => {
      if (name !== 'Streams.Read' || ++reads < nth) return;
      onRpc = undefined;
      relay.hang();
      resolve();
    };
  });
}

beforeAll(async () => {
  system = await HungStoreSystem.start({
    label: 'keyed-metrics-e2e',
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

describe('session_command_duration_seconds for a keyed command the handler never ran', () => {
  it('counts one whose key lookup timed out, and one that gave up waiting behind it for the same key', async () => {
    const b = await startApi(server.connectionString);
    const id = newId('lookup-timeout');
    expect((await call(b, 'PUT', id, create)).status).toBe(200);
    const a = await throughRelay();
    const key = `key-${id}`;

    // The first one's first call, its key's lookup, times out; the second waits for the key behind it. The
    // lookup reaching the store (its answer held back) says the first holds the key: it takes it before looking.
    const lookupHeld = hangAtRead(1);
    const first = call(a, 'POST', `${id}/cart_items`, add, key);
    await lookupHeld;
    const second = await call(a, 'POST', `${id}/cart_items`, add, key);
    const replies = [await first, second];
    relay.resume();

    expect(replies.map((reply) => reply.status)).toEqual([503, 503]);
    expect(replies[0]!.body.message).toMatch(/^The event store did not answer within 2000 ms while reading/);
    expect(replies[1]!.body.message).toMatch(/^An earlier command on the same session, which this request/);
    expect(await commandCounts(a)).toEqual({ 'AddCartItems/service_unavailable': 2 });
  });

  it('counts one whose key lookup found the store unreachable as service_unavailable (a 503, not among the 500s)', async () => {
    const api = await startApi(`esdb://127.0.0.1:${await closedPort()}?tls=false`, false);
    const id = newId('lookup-down');
    const reply = await call(api, 'PUT', id, create, `key-${id}`);
    expect({ status: reply.status, message: reply.body.message }).toEqual({
      status: 503,
      message: 'The event store is not reachable; retry later',
    });
    expect(await commandCounts(api)).toEqual({ 'UpdateSession/service_unavailable': 1 });
  });

  it('counts a keyed command the handler ran once: one whose session read timed out after its key was looked up', async () => {
    const b = await startApi(server.connectionString);
    const id = newId('load-timeout');
    expect((await call(b, 'PUT', id, create)).status).toBe(200);
    const a = await throughRelay();

    // A has not seen the session: the lookup of the key is its first read, the session's load the second.
    void hangAtRead(2);
    const reply = await call(a, 'POST', `${id}/cart_items`, add, `key-${id}`);
    relay.resume();

    expect(reply.status).toBe(503);
    expect(reply.body.message).toMatch(/^The event store did not answer within 2000 ms while reading/);
    expect(await commandCounts(a)).toEqual({ 'AddCartItems/service_unavailable': 1 });

    expect((await call(a, 'POST', `${id}/cart_items`, add, `key-${id}`)).status).toBe(200);
    expect(await commandCounts(a)).toEqual({
      'AddCartItems/service_unavailable': 1,
      'AddCartItems/appended': 1,
    });
  });
});
