/**
 * The idempotency record and its `$maxAge` against a real server (the embedded one, or the one named by
 * EVENTSTORE_CONNECTION_STRING): the `$maxAge` goes first, so no record exists without it; a store that fails
 * either write costs the record, not the answer, and `remember` says which call failed; anything else is
 * thrown. The whole-system view (a replica
 * killed between the writes, then a retry) is test/idempotency-record.e2e-spec.ts.
 */
import { startTestEventStore, type TestEventStore } from '@session-engine/testing/event-store';
import {
  EsdbClientAdapter,
  EventStoreTimeoutError,
  EventStoreWriteInterruptedError,
} from './esdb-client.adapter';
import {
  IDEMPOTENCY_TTL_SECONDS,
  IDEMPOTENT_RESPONSE_RECORDED,
  IdempotencyStore,
  type IdempotencyScope,
} from './idempotency-store';

let server: TestEventStore;
let store: EsdbClientAdapter;
let counter = 0;

beforeAll(async () => {
  server = await startTestEventStore();
  store = EsdbClientAdapter.connect(server.connectionString);
});

afterAll(async () => {
  await store.close();
  await server.close();
});

const scope = (): IdempotencyScope => ({
  applicationId: 1,
  endpoint: 'POST /close',
  integrationId: `s-${Date.now()}-${++counter}`,
  key: `key-${counter}`,
});
const response = { status: 200, body: { ok: 1 }, etag: '"1"', eventPosition: '7', requestHash: 'h' };

/** The `$maxAge` the stream's metadata sets (its last `$metadata` event), if any. */
async function maxAgeOf(stream: string): Promise<unknown> {
  const [metadata] = await store.readStream(`$$${stream}`, { direction: 'backwards', maxCount: 1 });
  return metadata?.data.$maxAge;
}

/** `store` with `setStreamMaxAge` replaced. */
function withMaxAge(setStreamMaxAge: EsdbClientAdapter['setStreamMaxAge']): EsdbClientAdapter {
  return withCall('setStreamMaxAge', setStreamMaxAge);
}

/** `store` with one of its calls replaced. */
function withCall<K extends 'setStreamMaxAge' | 'appendToStream'>(
  name: K,
  call: EsdbClientAdapter[K],
): EsdbClientAdapter {
  return new Proxy(store, {
    get: (target, property) =>
      property === name
        ? call
        : (Reflect.get(target, property) as (...args: unknown[]) => unknown).bind(target),
  });
}

describe('IdempotencyStore.remember', () => {
  it('sets the $maxAge of the record stream before it appends the record', async () => {
    const s = scope();
    const stream = IdempotencyStore.streamName(s);
    let recordsWhenSet: number | undefined;
    const observed = withMaxAge(async (name, seconds) => {
      recordsWhenSet = (await store.readStream(name)).length;
      await store.setStreamMaxAge(name, seconds);
    });
    expect(await new IdempotencyStore(observed).remember(s, response)).toEqual({ response });
    expect(recordsWhenSet).toBe(0);
    expect(await maxAgeOf(stream)).toBe(IDEMPOTENCY_TTL_SECONDS);
    expect(await new IdempotencyStore(store).find(s)).toEqual(response);
  });

  it('answers without a record when the store fails the $maxAge, and records on the next call', async () => {
    const s = scope();
    const failing = withMaxAge(async (name) => {
      throw new EventStoreWriteInterruptedError('set-metadata', name, new Error('cut'));
    });
    expect(await new IdempotencyStore(failing).remember(s, response)).toEqual({
      response,
      notWritten: { operation: 'set-metadata', error: expect.any(EventStoreWriteInterruptedError) },
    });
    expect(await store.readStream(IdempotencyStore.streamName(s))).toEqual([]);
    expect(await new IdempotencyStore(store).remember(s, response)).toEqual({ response });
    expect(await new IdempotencyStore(store).find(s)).toEqual(response);
  });

  it('says which write failed when the store fails the record after its $maxAge', async () => {
    const s = scope();
    const stream = IdempotencyStore.streamName(s);
    const failing = withCall('appendToStream', async (name) => {
      throw new EventStoreTimeoutError('append', name, 300);
    });
    expect(await new IdempotencyStore(failing).remember(s, response)).toEqual({
      response,
      notWritten: { operation: 'append', error: expect.any(EventStoreTimeoutError) },
    });
    expect(await maxAgeOf(stream)).toBe(IDEMPOTENCY_TTL_SECONDS);
    expect(await store.readStream(stream)).toEqual([]);
  });

  it('throws what is not the store being unavailable (a refused write), and records nothing', async () => {
    const s = scope();
    const refusing = withMaxAge(async () => {
      throw new Error('access denied');
    });
    await expect(new IdempotencyStore(refusing).remember(s, response)).rejects.toThrow('access denied');
    expect(await store.readStream(IdempotencyStore.streamName(s))).toEqual([]);
  });

  it('gives a record written without $maxAge (before the order was fixed) its $maxAge when the key is used after 24 h', async () => {
    const s = scope();
    const stream = IdempotencyStore.streamName(s);
    const dayAgo = Date.now() - IDEMPOTENCY_TTL_SECONDS * 1000 - 60_000;
    await store.appendToStream(
      stream,
      [
        {
          type: IDEMPOTENT_RESPONSE_RECORDED,
          data: { scope: s, recordedAt: new Date(dayAgo).toISOString(), ...response, requestHash: 'old' },
          metadata: {},
        },
      ],
      'no_stream',
    );
    expect(await maxAgeOf(stream)).toBeUndefined();
    const idempotency = new IdempotencyStore(store);
    expect(await idempotency.find(s)).toBeUndefined();
    expect(await idempotency.remember(s, response)).toEqual({ response });
    expect(await maxAgeOf(stream)).toBe(IDEMPOTENCY_TTL_SECONDS);
    expect(await idempotency.find(s)).toEqual(response);
  });
});
