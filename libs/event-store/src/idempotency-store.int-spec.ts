/**
 * The idempotency record and its `$maxAge` against a real server (the embedded one, or the one named by
 * EVENTSTORE_CONNECTION_STRING): the `$maxAge` goes first, so no record exists without it; a store that fails
 * either write costs the record, not the answer, and `remember` says which call failed; anything else is
 * thrown. A body too large for one append stays in the session stream, where the record points (the revisions
 * of the command's events, or a no-op's session revision). The whole-system view (a replica
 * killed between the writes, then a retry) is test/idempotency-record.e2e-spec.ts.
 */
import {
  AppendTooLargeError,
  EsdbClientAdapter,
  EventStoreTimeoutError,
  EventStoreWriteInterruptedError,
} from './esdb-client.adapter';
import { suiteEventStore } from './testing/suite-event-store';
import {
  IDEMPOTENCY_TTL_SECONDS,
  IDEMPOTENT_RESPONSE_RECORDED,
  IdempotencyRecordTooLargeError,
  IdempotencyStore,
  REMEMBERED_BODY_BYTES,
  type IdempotencyScope,
} from './idempotency-store';

let store: EsdbClientAdapter;
let counter = 0;
suiteEventStore((connected) => (store = connected));

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

describe('IdempotencyStore.remember of a large body', () => {
  /** A session body of about `bytes` bytes of JSON. */
  const bodyOf = (bytes: number) => ({ customerSession: { attributes: { blob: 'x'.repeat(bytes) } } });
  const recordOf = async (s: IdempotencyScope) =>
    (await store.readStream(IdempotencyStore.streamName(s)))[0]!.data;
  /** `store`, refusing as too large (as a store with a maximum append size of `max`) a record longer than that. */
  const withMaxAppendSize = (max: number) =>
    withCall('appendToStream', async (name, events, expected) => {
      if (Buffer.byteLength(JSON.stringify(events[0]!.data)) > max) throw new AppendTooLargeError(name, max);
      return store.appendToStream(name, events, expected);
    });

  it.each([
    [
      'of appended events names their revisions',
      { revisions: { first: '3', last: '4' } },
      { revisions: { first: '3', last: '4' } },
    ],
    [
      // Also as the empty range after it: what a release that reads only `revisions` rebuilds the same way.
      'of a no-op (nothing appended) names the session revision it answered with',
      { unchangedAt: '4' },
      { unchangedAt: '4', revisions: { first: '5', last: '4' } },
    ],
  ])('over the store maximum append size (2 MB), %s instead of keeping it', async (_, where, stored) => {
    const s = scope();
    const large = { ...response, ...where, body: bodyOf(2_000_000) };
    const { body: _body, ...withoutBody } = large;

    expect(await new IdempotencyStore(store).remember(s, large)).toEqual({ response: large });

    const record = await recordOf(s);
    expect(record).not.toHaveProperty('body');
    expect(record).toMatchObject(stored);
    expect(await new IdempotencyStore(store).find(s)).toEqual({ ...withoutBody, ...stored });
  });

  it('keeps a body over the limit that nothing names a place to rebuild it from', async () => {
    const s = scope();
    const large = { ...response, body: bodyOf(REMEMBERED_BODY_BYTES) };
    expect(await new IdempotencyStore(store).remember(s, large)).toEqual({ response: large });
    expect(await new IdempotencyStore(store).find(s)).toEqual(large);
  });

  it('leaves out a body under the limit that a store with a smaller maximum append size refuses', async () => {
    const s = scope();
    const refused = { ...response, unchangedAt: '4', body: bodyOf(100_000) };
    const { body: _body, ...withoutBody } = refused;
    const remembered = await new IdempotencyStore(withMaxAppendSize(50_000)).remember(s, refused);
    expect(remembered).toEqual({ response: refused });
    expect(await new IdempotencyStore(store).find(s)).toEqual({
      ...withoutBody,
      revisions: { first: '5', last: '4' },
    });
  });

  it.each([
    [
      'a no-op',
      { unchangedAt: '4' },
      false,
      'the command changed nothing (there was nothing to append), so nothing was recorded',
    ],
    [
      'a command that appended',
      { revisions: { first: '3', last: '4' } },
      true,
      "the command's events were recorded before it: the command was applied",
    ],
  ])(
    'says a record refused even without its body (%s) was the Idempotency-Key record, and writes none',
    async (_, where, commandRecorded, consequence) => {
      const s = scope();
      const error = await new IdempotencyStore(withMaxAppendSize(100))
        .remember(s, { ...response, ...where })
        .catch((thrown: unknown) => thrown);
      expect(error).toBeInstanceOf(IdempotencyRecordTooLargeError);
      expect(error).toMatchObject({ code: 'LIMIT_EXCEEDED', commandRecorded });
      expect((error as Error).message).toMatch(
        /^The event store refused this request's Idempotency-Key record as too large \(it takes at most 100 bytes per append\), so the key was not recorded; /,
      );
      expect((error as Error).message).toContain(consequence);
      expect((error as Error).message).not.toMatch(/these events/);
      expect(await store.readStream(IdempotencyStore.streamName(s))).toEqual([]);
    },
  );
});
