/**
 * A keyed command that appended events needs no remembered response: its events carry the key's token and the
 * request's hash, which answer every retry (the first answer; 422 for another body), so nothing is written to an
 * idempotency stream. A keyed command that changed nothing leaves no event: its response is remembered after
 * it, in two writes — the record stream's `$maxAge` (24 h) and the record. Whatever happens between or during
 * those writes — the API process killed, the store killed (a write applied and its answer lost), a call that
 * fails — no record may exist without its `$maxAge` (it would never be scavenged), and no 200 is ever
 * forgotten: a no-op whose record the store failed is answered 503 ("not applied"). Every record the store
 * failed is counted and logged.
 *
 * Replica A reaches the store through `faultyStore`, which decides the fate of each write to an idempotency
 * stream: it goes through, fails, or the replica dies before it reaches the store or right after the store
 * applied it (a dead replica makes no further call). Replica B reaches the store directly.
 */
import type { INestApplication } from '@nestjs/common';
import {
  EsdbClientAdapter,
  EventStoreTimeoutError,
  EventStoreUnavailableError,
  EventStoreWriteInterruptedError,
  IdempotencyStore,
  IDEMPOTENCY_TTL_SECONDS,
  type StoredEvent,
} from '@session-engine/event-store';
import { startTestEventStore, type TestEventStore } from '@session-engine/testing/event-store';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createSessionApi } from '../apps/session-api/src/app.factory';
import { ApiKeys } from '../apps/session-api/src/config/api-keys.provider';
import { parseConfig } from '../apps/session-api/src/config/config';

jest.setTimeout(60_000);

const KEY = 'int-key-record-0001';
const ADD_ENDPOINT = 'POST /v2/customer_sessions/:customerSessionId/cart_items';
const PUT_ENDPOINT = 'PUT /v2/customer_sessions/:customerSessionId';

interface Write {
  operation: 'append' | 'set-metadata';
  stream: string;
}

/**
 * What happens to a write to an idempotency stream: `pass`; `fail` (the call fails, nothing reached the
 * store) or `fail-after` (the store applied it, the answer was lost) while the replica lives on; `die` (the
 * replica is killed before the write leaves it) or `die-after` (killed once the store applied it).
 */
type Fate = 'pass' | 'fail' | 'fail-after' | 'die' | 'die-after';

/**
 * `real`, and the adapters it gives out, with the fate of each idempotency write decided by `fate`; the name of
 * every stream read is pushed onto `reads`.
 */
function faultyStore(
  real: EsdbClientAdapter,
  fate: (write: Write, n: number) => Fate,
  before?: (write: Write) => Promise<void>,
  reads?: string[],
): EsdbClientAdapter {
  let dead = false;
  let writes = 0;
  const gone = () => new EventStoreUnavailableError(new Error('this replica was killed'));
  const write = async <T>(operation: Write['operation'], stream: string, call: () => Promise<T>) => {
    if (dead) throw gone();
    if (!stream.startsWith('idempotency-')) return call();
    await before?.({ operation, stream });
    const chosen = fate({ operation, stream }, ++writes);
    if (chosen === 'die') dead = true;
    if (chosen === 'die') throw gone();
    if (chosen === 'fail') throw new EventStoreTimeoutError(operation, stream, 300);
    const result = await call();
    if (chosen === 'die-after') dead = true;
    if (chosen === 'die-after') throw gone();
    if (chosen === 'fail-after')
      throw new EventStoreWriteInterruptedError(operation, stream, new Error('cut'));
    return result;
  };
  const wrap = (adapter: EsdbClientAdapter): EsdbClientAdapter =>
    new Proxy(adapter, {
      get(target, property) {
        switch (property) {
          case 'withCallTimeout':
            return (ms: number) => wrap(target.withCallTimeout(ms));
          case 'readStream':
            return (...args: Parameters<EsdbClientAdapter['readStream']>) => {
              reads?.push(args[0]);
              return dead ? Promise.reject(gone()) : target.readStream(...args);
            };
          case 'appendToStream':
            return (...args: Parameters<EsdbClientAdapter['appendToStream']>) =>
              write('append', args[0], () => target.appendToStream(...args));
          case 'setStreamMaxAge':
            return (...args: Parameters<EsdbClientAdapter['setStreamMaxAge']>) =>
              write('set-metadata', args[0], () => target.setStreamMaxAge(...args));
          default: {
            const value: unknown = Reflect.get(target, property);
            return typeof value === 'function' ? value.bind(target) : value;
          }
        }
      },
    });
  return wrap(real);
}

interface Api {
  url: string;
  app: INestApplication;
  store: EsdbClientAdapter;
  /** The JSON lines the app logged. */
  logs: Record<string, unknown>[];
}

interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  etag: string | null;
  position: string | null;
  requestId: string | null;
}

let dataDir: string;
let server: TestEventStore;
let direct: EsdbClientAdapter;
let b: Api;
const apis: Api[] = [];
let counter = 0;

const newId = (label: string) => `${label}-${Date.now()}-${++counter}`;

async function startApi(
  fate?: (write: Write, n: number) => Fate,
  before?: (write: Write) => Promise<void>,
  reads?: string[],
): Promise<Api> {
  const config = parseConfig({
    PORT: '0',
    DATA_DIR: dataDir,
    INTEGRATION_API_KEYS: `${KEY}=1`,
    MANAGEMENT_API_KEYS: 'mgmt-key-record-0001=*',
  });
  const real = EsdbClientAdapter.connect(server.connectionString);
  const logs: Record<string, unknown>[] = [];
  const app = await createSessionApi({
    config,
    keys: new ApiKeys(config.integrationKeys!, config.managementKeys!),
    store: fate ? faultyStore(real, fate, before, reads) : real,
    logger: pino(
      // Levels by name, as the processes log them (createLogger).
      { level: 'warn', formatters: { level: (label) => ({ level: label }) } },
      { write: (line: string) => void logs.push(JSON.parse(line)) },
    ),
  });
  await app.listen(0, '127.0.0.1');
  const api = {
    url: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`,
    app,
    store: real,
    logs,
  };
  apis.push(api);
  return api;
}

/**
 * A replica whose first idempotency record is held back while `race` runs: what another process does between
 * this one's look-up of the key (none yet) and its record.
 */
function startApiRacingItsRecord(race: () => Promise<void>): Promise<Api> {
  let raced = false;
  return startApi(
    () => 'pass',
    async (write) => {
      if (raced || write.operation !== 'set-metadata') return;
      raced = true;
      await race();
    },
  );
}

async function call(api: Api, method: string, path: string, body: unknown, key?: string): Promise<Reply> {
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
  return {
    status: response.status,
    body: text === '' ? undefined : JSON.parse(text),
    etag: response.headers.get('etag'),
    position: response.headers.get('x-event-position'),
    requestId: response.headers.get('x-request-id'),
  };
}

/** `idempotency_record_write_failures_total` on `api`'s /metrics, by outcome. */
async function recordWriteFailures(api: Api): Promise<Record<string, number>> {
  const metrics = await (await fetch(`${api.url}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const [, outcome, count] of metrics.matchAll(
    /^idempotency_record_write_failures_total\{outcome="(\w+)"\} (\d+)$/gm,
  )) {
    counts[outcome!] = Number(count);
  }
  return counts;
}

/** The warn lines of records the store failed. */
const notRecordedLogs = (api: Api) =>
  api.logs.filter((line) => line.level === 'warn' && /idempotency record not written/.test(String(line.msg)));

const create = { customerSession: { cartItems: [{ sku: 'first', quantity: 1, price: 2 }] } };
const add = { cartItems: [{ sku: 'added', quantity: 1, price: 1.5 }] };
const recordStream = (id: string, key: string, endpoint = ADD_ENDPOINT) =>
  IdempotencyStore.streamName({ applicationId: 1, endpoint, integrationId: id, key });

/** The record stream's events, and the `$maxAge` its metadata (the last `$metadata` in `$$<stream>`) sets. */
async function recordOf(
  id: string,
  key: string,
  endpoint = ADD_ENDPOINT,
): Promise<{ records: StoredEvent[]; maxAge: unknown }> {
  const stream = recordStream(id, key, endpoint);
  const records = await direct.readStream(stream);
  const metadata = await direct.readStream(`$$${stream}`, { direction: 'backwards', maxCount: 1 });
  return { records, maxAge: metadata[0]?.data.$maxAge };
}

/** What the command's one `CartItemsAdded` answers: the session's revision and commit position after it. */
async function appliedOnce(id: string): Promise<{ etag: string; position: string }> {
  const events = await direct.readStream(`session-1-${id}`);
  expect(events.map((event) => event.type)).toEqual(['SessionCreated', 'CartItemsAdded']);
  return { etag: `"${events[1]!.revision}"`, position: String(events[1]!.position) };
}

/** The answer of the keyed AddCartItems, as the first run gave it (or would have). */
async function expectAnswerOfTheCommand(reply: Reply, id: string): Promise<void> {
  expect(reply.status).toBe(200);
  expect({ etag: reply.etag, position: reply.position }).toEqual(await appliedOnce(id));
  expect(reply.body.customerSession.cartItems.map((item: { sku: string }) => item.sku)).toEqual([
    'first',
    'added',
  ]);
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'idempotency-record-e2e-'));
  server = await startTestEventStore({ dataDir: join(dataDir, 'eventstore'), synchronous: 'NORMAL' });
  direct = EsdbClientAdapter.connect(server.connectionString);
  b = await startApi();
});

afterAll(async () => {
  for (const api of apis) {
    await api.app.close();
    await api.store.close();
  }
  await direct.close();
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("a keyed command's record and its $maxAge", () => {
  it('are not written for a command that appended events: its events carry the key, and answer every retry', async () => {
    const writes: Write[] = [];
    const a = await startApi((write) => {
      writes.push(write);
      return 'pass';
    });
    const id = newId('appended');
    expect((await call(b, 'PUT', id, create)).status).toBe(200);
    const key = `key-${id}`;
    const first = await call(a, 'POST', `${id}/cart_items`, add, key);
    await expectAnswerOfTheCommand(first, id);
    expect(writes).toEqual([]);
    expect(await recordOf(id, key)).toEqual({ records: [], maxAge: undefined });
    // On the same replica (its cache) and on another one (a fresh read): the first answer, applied once.
    for (const api of [a, b]) {
      const retried = await call(api, 'POST', `${id}/cart_items`, add, key);
      expect({
        status: retried.status,
        etag: retried.etag,
        position: retried.position,
        body: retried.body,
      }).toEqual({ status: 200, etag: first.etag, position: first.position, body: first.body });
      const reused = await call(
        api,
        'POST',
        `${id}/cart_items`,
        { cartItems: [{ sku: 'other', quantity: 1 }] },
        key,
      );
      expect({ status: reused.status, code: reused.body.errors[0].title }).toEqual({
        status: 422,
        code: 'IDEMPOTENCY_KEY_REUSED',
      });
    }
    await appliedOnce(id);
    expect(writes).toEqual([]);
    expect(await recordWriteFailures(a)).toEqual({ appended: 0, replayed: 0, unchanged: 0 });
  });

  it('are looked up only for PUT and cart_items, which can change nothing: a keyed close, reopen, return or cancel reads no record, and its retry answers as it did', async () => {
    const reads: string[] = [];
    const writes: Write[] = [];
    const a = await startApi(
      (write) => {
        writes.push(write);
        return 'pass';
      },
      undefined,
      reads,
    );
    const recordReads = () => reads.filter((stream) => stream.startsWith('idempotency-'));
    const id = newId('verbs');
    expect((await call(b, 'PUT', id, create)).status).toBe(200);
    expect((await call(a, 'PUT', id, create, `put-${id}`)).status).toBe(200);
    expect((await call(a, 'POST', `${id}/cart_items`, add, `add-${id}`)).status).toBe(200);
    expect(new Set(recordReads())).toEqual(
      new Set([recordStream(id, `put-${id}`, PUT_ENDPOINT), recordStream(id, `add-${id}`)]),
    );
    reads.length = 0;
    writes.length = 0;

    const returnBody = { return: { returnedCartItems: [{ position: 0, quantity: 1 }] } };
    const verbs: [method: string, path: string, body: unknown, state: string][] = [
      ['POST', 'close', undefined, 'closed'],
      ['PUT', 'reopen', undefined, 'open'],
      ['POST', 'close', undefined, 'closed'],
      ['POST', 'returns', returnBody, 'partially_returned'],
      ['POST', 'cancel', undefined, 'cancelled'],
    ];
    for (const [n, [method, path, body, state]] of verbs.entries()) {
      const key = `${path}-${n}-${id}`;
      const first = await call(a, method, `${id}/${path}`, body, key);
      expect({ status: first.status, state: first.body.customerSession.state }).toEqual({
        status: 200,
        state,
      });
      for (const api of [a, b]) {
        const retried = await call(api, method, `${id}/${path}`, body, key);
        expect({ status: retried.status, etag: retried.etag, body: retried.body }).toEqual({
          status: 200,
          etag: first.etag,
          body: first.body,
        });
      }
    }
    expect(recordReads()).toEqual([]);
    expect(writes).toEqual([]);
    const events = await direct.readStream(`session-1-${id}`);
    expect(events.map((event) => event.type)).toEqual([
      'SessionCreated',
      'CartItemsAdded',
      'SessionClosed',
      'SessionReopened',
      'SessionClosed',
      'CartItemsReturned',
      'SessionCancelled',
    ]);
  });

  it('are both written for a command that changed nothing, the $maxAge first, when nothing fails', async () => {
    const order: string[] = [];
    const a = await startApi((write) => {
      order.push(write.operation);
      return 'pass';
    });
    const id = newId('healthy');
    expect((await call(b, 'PUT', id, create)).status).toBe(200);
    const key = `key-${id}`;
    const first = await call(a, 'PUT', id, create, key);
    expect({ status: first.status, etag: first.etag }).toEqual({ status: 200, etag: '"0"' });
    expect(order).toEqual(['set-metadata', 'append']);
    const { records, maxAge } = await recordOf(id, key, PUT_ENDPOINT);
    expect(records).toHaveLength(1);
    expect(maxAge).toBe(IDEMPOTENCY_TTL_SECONDS);
  });

  it('refuse a request with another body whose record another process wrote first, as a retry is refused (422)', async () => {
    const id = newId('raced');
    const key = `key-${id}`;
    expect((await call(b, 'PUT', id, create)).status).toBe(200);
    // Between A's look-up of the key (none yet) and A's record, another process records its own no-op under the
    // key — the same session sent back unchanged; A's request is another body that changes nothing either.
    const other = { ...create, responseContent: ['customerSession'] };
    let raced = false;
    const a = await startApiRacingItsRecord(async () => {
      raced = true;
      expect((await call(b, 'PUT', id, create, key)).status).toBe(200);
    });
    const refused = await call(a, 'PUT', id, other, key);
    expect(raced).toBe(true);
    expect({ status: refused.status, code: refused.body.errors?.[0]?.title }).toEqual({
      status: 422,
      code: 'IDEMPOTENCY_KEY_REUSED',
    });
    // The key's answer stays the first request's.
    const retried = await call(b, 'PUT', id, create, key);
    expect({ status: retried.status, etag: retried.etag }).toEqual({ status: 200, etag: '"0"' });
  });

  it("answer a key with the command another process appended under it after a no-op's look-up, not the no-op", async () => {
    const id = newId('no-op-then-appended');
    const key = `key-${id}`;
    const cart = { customerSession: { cartItems: [{ sku: 'a', quantity: 1, price: 1 }] } };
    expect((await call(b, 'PUT', id, cart)).status).toBe(200);
    // A decides the keyed PUT on the session holding that cart: a no-op. Before its record is written, the cart
    // changes, and the same request reaches B, which finds no record yet and puts the cart back: it appends.
    let appended: Reply | undefined;
    const a = await startApiRacingItsRecord(async () => {
      expect(
        (
          await call(b, 'PUT', id, {
            customerSession: { cartItems: [{ sku: 'b', quantity: 1, price: 1 }] },
          })
        ).status,
      ).toBe(200);
      appended = await call(b, 'PUT', id, cart, key);
    });
    const noOp = await call(a, 'PUT', id, cart, key);
    expect({ status: appended?.status, etag: appended?.etag }).toEqual({ status: 200, etag: '"2"' });
    // A's no-op record landed after B's append: A answers, and every retry gets, the command that changed the
    // session, on either replica.
    expect((await recordOf(id, key, PUT_ENDPOINT)).records).toHaveLength(1);
    expect({ status: noOp.status, etag: noOp.etag, position: noOp.position, body: noOp.body }).toEqual({
      status: 200,
      etag: '"2"',
      position: appended!.position,
      body: appended!.body,
    });
    for (const api of [a, b]) {
      const retried = await call(api, 'PUT', id, cart, key);
      expect({
        status: retried.status,
        etag: retried.etag,
        position: retried.position,
        body: retried.body,
      }).toEqual({ status: 200, etag: '"2"', position: appended!.position, body: appended!.body });
    }
    expect((await direct.readStream(`session-1-${id}`)).length).toBe(3);
  });

  it('give a key to the request whose command appended when a no-op with another body raced it: the other is 422', async () => {
    const id = newId('no-op-vs-other-body');
    const key = `key-${id}`;
    expect((await call(b, 'PUT', id, create)).status).toBe(200);
    // A: an empty cart_items under the key (a no-op). Before its record is written, B gets the key with lines
    // to add: no record yet, no token: it appends.
    let appended: Reply | undefined;
    const a = await startApiRacingItsRecord(async () => {
      appended = await call(b, 'POST', `${id}/cart_items`, add, key);
    });
    const noOp = await call(a, 'POST', `${id}/cart_items`, { cartItems: [] }, key);
    await expectAnswerOfTheCommand(appended!, id);
    expect({ status: noOp.status, code: noOp.body.errors?.[0]?.title }).toEqual({
      status: 422,
      code: 'IDEMPOTENCY_KEY_REUSED',
    });
    // Every retry: B's request its answer, on either replica (A's no-op record notwithstanding); A's 422.
    for (const api of [a, b]) {
      const retried = await call(api, 'POST', `${id}/cart_items`, add, key);
      expect({ status: retried.status, etag: retried.etag, body: retried.body }).toEqual({
        status: 200,
        etag: appended!.etag,
        body: appended!.body,
      });
      expect((await call(api, 'POST', `${id}/cart_items`, { cartItems: [] }, key)).status).toBe(422);
    }
    await appliedOnce(id);
  });

  describe.each([
    [1, 'die'],
    [1, 'die-after'],
    [2, 'die'],
    [2, 'die-after'],
  ] as const)(
    'the replica killed at write %i of the record of a command that changed nothing (%s)',
    (cut, fate) => {
      it('leaves no record without $maxAge; a retry on another replica answers it and records it', async () => {
        const a = await startApi((_write, n) => (n === cut ? fate : 'pass'));
        const id = newId(`killed-${cut}-${fate}`);
        expect((await call(b, 'PUT', id, create)).status).toBe(200);
        const key = `key-${id}`;
        // A dead process answers nothing: whatever A replies is not looked at.
        await call(a, 'PUT', id, create, key);

        const left = await recordOf(id, key, PUT_ENDPOINT);
        if (left.records.length > 0) expect(left.maxAge).toBe(IDEMPOTENCY_TTL_SECONDS);

        const retried = await call(b, 'PUT', id, create, key);
        expect({ status: retried.status, etag: retried.etag }).toEqual({ status: 200, etag: '"0"' });
        const recorded = await recordOf(id, key, PUT_ENDPOINT);
        expect({ records: recorded.records.length, maxAge: recorded.maxAge }).toEqual({
          records: 1,
          maxAge: IDEMPOTENCY_TTL_SECONDS,
        });
        // The session changes; the key still answers its first answer, and another body under it is refused.
        expect((await call(b, 'POST', `${id}/cart_items`, add)).status).toBe(200);
        const again = await call(b, 'PUT', id, create, key);
        expect({ status: again.status, etag: again.etag, body: again.body }).toEqual({
          status: 200,
          etag: retried.etag,
          body: retried.body,
        });
        const reused = await call(b, 'PUT', id, { customerSession: { cartItems: [] } }, key);
        expect({ status: reused.status, code: reused.body.errors[0].title }).toEqual({
          status: 422,
          code: 'IDEMPOTENCY_KEY_REUSED',
        });
        await appliedOnce(id);
      });
    },
  );

  describe.each([
    ['set-metadata', 'fail'],
    ['set-metadata', 'fail-after'],
    ['append', 'fail'],
    ['append', 'fail-after'],
  ] as const)(
    'the store failing the %s of the record of a command that changed nothing (%s)',
    (operation, fate) => {
      it('answers 503 "not applied" rather than a 200 that a retry could contradict; every 200 the key gets after it is the same', async () => {
        const a = await startApi((write) => (write.operation === operation ? fate : 'pass'));
        const id = newId(`no-op-${operation}-${fate}`);
        expect((await call(b, 'PUT', id, create)).status).toBe(200);
        const key = `key-${id}`;

        // The same body again: a no-op, nothing appended, so no token in the session stream.
        const first = await call(a, 'PUT', id, create, key);
        expect({ status: first.status, body: first.body }).toEqual({
          status: 503,
          body: {
            message: expect.any(String),
            errors: [{ title: 'SERVICE_UNAVAILABLE', details: first.body?.message, source: {} }],
            StatusCode: 503,
          },
        });
        expect(first.body.message).toMatch(
          new RegExp(
            `^The (event store did not answer within 300 ms|connection to the event store failed) while recording this request's Idempotency-Key; the command changed nothing \\(there was nothing to append\\), so it was not applied and nothing of it was written to the session\\. Retrying it with the same Idempotency-Key and body is safe: it is applied at most once\\.$`,
          ),
        );
        expect(await recordWriteFailures(a)).toEqual({ appended: 0, replayed: 0, unchanged: 1 });
        expect(notRecordedLogs(a)).toEqual([
          expect.objectContaining({
            requestId: first.requestId,
            endpoint: PUT_ENDPOINT,
            operation,
            outcome: 'unchanged',
            status: 503,
            msg: 'idempotency record not written: answered 503',
          }),
        ]);
        expect((await direct.readStream(`session-1-${id}`)).map((event) => event.type)).toEqual([
          'SessionCreated',
        ]);
        const left = await recordOf(id, key, PUT_ENDPOINT);
        if (left.records.length > 0) expect(left.maxAge).toBe(IDEMPOTENCY_TTL_SECONDS);

        // The session changes; then the client retries. Its first 200 under the key is whatever the retry gets
        // (decided now, or the record that landed after all), and every later retry gets that one again.
        const changed = {
          customerSession: { cartItems: [{ sku: 'second', quantity: 2, price: 3 }] },
        };
        expect((await call(b, 'PUT', id, changed)).status).toBe(200);
        const faultless = await startApi();
        const retried = await call(faultless, 'PUT', id, create, key);
        expect(retried.status).toBe(200);
        // The record whose answer was lost landed after all: its no-op answer is the key's. Otherwise the retry
        // is decided on the session as it is now, and puts the first cart back.
        const landed = operation === 'append' && fate === 'fail-after';
        expect(retried.etag).toBe(landed ? '"0"' : '"2"');
        expect((await direct.readStream(`session-1-${id}`)).length).toBe(landed ? 2 : 3);
        for (const api of [faultless, b]) {
          const again = await call(api, 'PUT', id, create, key);
          expect({
            status: again.status,
            etag: again.etag,
            position: again.position,
            body: again.body,
          }).toEqual({
            status: 200,
            etag: retried.etag,
            position: retried.position,
            body: retried.body,
          });
        }
      });
    },
  );
});
