import {
  BACKWARDS,
  END,
  FORWARDS,
  jsonEvent,
  MaxAppendSizeExceededError,
  NO_STREAM,
  STREAM_EXISTS,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedVersionError,
} from '@eventstore/db-client';
import { randomUUID } from 'node:crypto';
import { APPEND_RPC, collect, delay, startNode, testEvents, TestNode } from './support';

jest.setTimeout(20_000);

describe('embedded EventStoreDB: streams through @eventstore/db-client', () => {
  let node: TestNode;
  beforeEach(async () => {
    node = await startNode();
  });
  afterEach(async () => {
    await node.dispose();
  });

  const revisions = async (stream: string, options: Parameters<TestNode['client']['readStream']>[1] = {}) =>
    (await collect(node.client.readStream(stream, options))).map((e) => Number(e.event!.revision));

  describe('append and read a stream', () => {
    it('appends and reads forwards, backwards, from a revision and with maxCount', async () => {
      const { client } = node;
      const result = await client.appendToStream('order-1', testEvents(10));
      expect(result.success).toBe(true);
      expect(result.nextExpectedRevision).toBe(9n);

      const forwards = await collect(client.readStream('order-1'));
      expect(forwards.map((e) => e.event!.data)).toEqual(Array.from({ length: 10 }, (_, n) => ({ n })));
      expect(forwards.map((e) => e.event!.type)).toEqual(Array(10).fill('test-event'));
      expect(forwards.every((e) => e.event!.streamId === 'order-1' && e.event!.isJson)).toBe(true);
      expect(forwards[0].event!.created).toBeInstanceOf(Date);
      expect(Math.abs(forwards[0].event!.created.getTime() - Date.now())).toBeLessThan(10_000);

      expect(await revisions('order-1', { direction: BACKWARDS, fromRevision: END })).toEqual([
        9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
      ]);
      expect(await revisions('order-1', { fromRevision: 4n, maxCount: 3 })).toEqual([4, 5, 6]);
      expect(await revisions('order-1', { direction: BACKWARDS, fromRevision: 4n, maxCount: 2 })).toEqual([
        4, 3,
      ]);
      expect(await revisions('order-1', { direction: FORWARDS, fromRevision: END })).toEqual([]);
      expect(await revisions('order-1', { maxCount: 2 })).toEqual([0, 1]);
    });

    it('keeps event ids, metadata and binary data', async () => {
      const id = randomUUID();
      await node.client.appendToStream('bin-1', [
        jsonEvent({ id, type: 'with-meta', data: { a: 1 }, metadata: { correlationId: 'c-1' } }),
        {
          id: randomUUID(),
          type: 'raw',
          contentType: 'application/octet-stream',
          data: Buffer.from([0, 1, 2, 255]),
        },
      ] as never);
      const [json, binary] = await collect(node.client.readStream('bin-1'));
      expect(json.event!.id).toBe(id);
      expect(json.event!.metadata).toEqual({ correlationId: 'c-1' });
      expect(binary.event!.isJson).toBe(false);
      expect(Buffer.from(binary.event!.data as Uint8Array)).toEqual(Buffer.from([0, 1, 2, 255]));
    });

    it('gives events read from a stream their $all position, strictly increasing', async () => {
      const { client } = node;
      await client.appendToStream('a', testEvents(3));
      await client.appendToStream('b', testEvents(2));
      const last = await client.appendToStream('a', testEvents(2));
      const events = await collect(client.readStream('a'));
      const commits = events.map((e) => e.event!.position!.commit);
      for (let i = 1; i < commits.length; i++) expect(commits[i]).toBeGreaterThan(commits[i - 1]);
      expect(events.every((e) => e.event!.position!.prepare === e.event!.position!.commit)).toBe(true);
      expect(events[4].event!.position).toEqual(last.position);
      expect(events[4].commitPosition).toBe(last.position!.commit);
    });

    it('answers StreamNotFoundError for a stream that does not exist', async () => {
      await expect(collect(node.client.readStream('missing'))).rejects.toThrow(StreamNotFoundError);
    });
  });

  describe('$all', () => {
    it('reads forwards, backwards, from a position, with maxCount; positions strictly increase', async () => {
      const { client } = node;
      await client.appendToStream('x-1', testEvents(4));
      await client.appendToStream('x-2', testEvents(4));
      const all = await collect(client.readAll());
      expect(all.map((e) => e.event!.streamId)).toEqual([...Array(4).fill('x-1'), ...Array(4).fill('x-2')]);
      const positions = all.map((e) => e.event!.position.commit);
      for (let i = 1; i < positions.length; i++) expect(positions[i]).toBeGreaterThan(positions[i - 1]);

      const backwards = await collect(client.readAll({ direction: BACKWARDS, fromPosition: END }));
      expect(backwards.map((e) => e.event!.position.commit)).toEqual([...positions].reverse());

      const third = all[2].event!.position;
      const fromThird = await collect(client.readAll({ fromPosition: third, maxCount: 1 }));
      expect(fromThird).toEqual([all[2]]);
      expect((await collect(client.readAll({ fromPosition: third }))).length).toBe(6);
      const beforeThird = await collect(client.readAll({ direction: BACKWARDS, fromPosition: third }));
      expect(beforeThird.map((e) => e.event!.position.commit)).toEqual([positions[1], positions[0]]);
      expect((await collect(client.readAll({ maxCount: 3 }))).length).toBe(3);
    });
  });

  describe('expected revision', () => {
    const expectWrongVersion = async (
      promise: Promise<unknown>,
      fields: { streamName: string; expectedVersion: unknown; actualVersion: unknown },
    ) => {
      const error = await promise.then(
        () => null,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(WrongExpectedVersionError);
      expect(error).toMatchObject(fields);
    };

    it.each([
      ['BatchAppend', {}],
      ['Append', APPEND_RPC],
    ])('applies any / no_stream / stream_exists / exact through %s', async (_, rpc) => {
      const { client } = node;
      await expectWrongVersion(
        client.appendToStream('s', testEvents(1), { ...rpc, expectedRevision: STREAM_EXISTS }),
        {
          streamName: 's',
          expectedVersion: 'stream_exists',
          actualVersion: 'no_stream',
        },
      );
      await expectWrongVersion(client.appendToStream('s', testEvents(1), { ...rpc, expectedRevision: 0n }), {
        streamName: 's',
        expectedVersion: 0n,
        actualVersion: 'no_stream',
      });
      expect(
        (await client.appendToStream('s', testEvents(2), { ...rpc, expectedRevision: NO_STREAM }))
          .nextExpectedRevision,
      ).toBe(1n);
      await expectWrongVersion(
        client.appendToStream('s', testEvents(1), { ...rpc, expectedRevision: NO_STREAM }),
        {
          streamName: 's',
          expectedVersion: 'no_stream',
          actualVersion: 1n,
        },
      );
      await expectWrongVersion(client.appendToStream('s', testEvents(1), { ...rpc, expectedRevision: 5n }), {
        streamName: 's',
        expectedVersion: 5n,
        actualVersion: 1n,
      });
      await expectWrongVersion(client.appendToStream('s', testEvents(1), { ...rpc, expectedRevision: 0n }), {
        streamName: 's',
        expectedVersion: 0n,
        actualVersion: 1n,
      });
      expect(
        (await client.appendToStream('s', testEvents(1), { ...rpc, expectedRevision: 1n }))
          .nextExpectedRevision,
      ).toBe(2n);
      expect(
        (await client.appendToStream('s', testEvents(1), { ...rpc, expectedRevision: STREAM_EXISTS }))
          .nextExpectedRevision,
      ).toBe(3n);
      expect((await client.appendToStream('s', testEvents(1), { ...rpc })).nextExpectedRevision).toBe(4n);
      expect(await revisions('s')).toEqual([0, 1, 2, 3, 4]);
    });

    it('returns success: false instead of throwing when throwOnAppendFailure is off', async () => {
      const { EventStoreDBClient } = await import('@eventstore/db-client');
      const client = EventStoreDBClient.connectionString(
        `${node.es.connectionString}&throwOnAppendFailure=false`,
      );
      try {
        await client.appendToStream('t', testEvents(1));
        const result = await client.appendToStream('t', testEvents(1), { expectedRevision: NO_STREAM });
        expect(result.success).toBe(false);
      } finally {
        await client.dispose();
      }
    });
  });

  describe('idempotence', () => {
    it.each([
      ['BatchAppend', {}],
      ['Append', APPEND_RPC],
    ])(
      're-appending the same event ids at the same place succeeds without duplicates (%s)',
      async (_, rpc) => {
        const { client } = node;
        const events = testEvents(3);
        const first = await client.appendToStream('idem', events, { ...rpc, expectedRevision: NO_STREAM });
        const again = await client.appendToStream('idem', events, { ...rpc, expectedRevision: NO_STREAM });
        expect(again).toEqual(first);
        const anyAgain = await client.appendToStream('idem', events, { ...rpc });
        expect(anyAgain).toEqual(first);
        await client.appendToStream('idem', testEvents(1), { ...rpc, expectedRevision: 2n });
        const exactAgain = await client.appendToStream('idem', events, {
          ...rpc,
          expectedRevision: NO_STREAM,
        });
        expect(exactAgain.nextExpectedRevision).toBe(2n);
        expect(await revisions('idem')).toEqual([0, 1, 2, 3]);
        expect((await collect(client.readAll())).length).toBe(4);
      },
    );
    it.each([
      ['BatchAppend', {}],
      ['Append', APPEND_RPC],
    ])(
      'refuses a repeat of stored event ids that this write would not have put where they are (%s)',
      async (_, rpc) => {
        const { client } = node;
        const stream = `idem-elsewhere-${Object.keys(rpc).length}`;
        const [e1] = testEvents(1, 'first');
        const [e2] = testEvents(1, 'second');
        await client.appendToStream(stream, [e1!], { ...rpc, expectedRevision: NO_STREAM });
        await client.appendToStream(stream, [e2!], { ...rpc, expectedRevision: 0n });
        // e1 is at revision 0: an append expecting revision 5 would have put it at 6, one expecting no stream
        // e2 at 0. Neither is that earlier write: each is refused as the revision check refuses it.
        await expect(client.appendToStream(stream, [e1!], { ...rpc, expectedRevision: 5n })).rejects.toThrow(
          WrongExpectedVersionError,
        );
        await expect(
          client.appendToStream(stream, [e2!], { ...rpc, expectedRevision: NO_STREAM }),
        ).rejects.toThrow(WrongExpectedVersionError);
        expect(await revisions(stream)).toEqual([0, 1]);
      },
    );
  });

  describe('deleting', () => {
    it('soft delete: the stream reads as not found, and writing it again continues its revisions', async () => {
      const { client } = node;
      await client.appendToStream('soft', testEvents(3));
      await expect(client.deleteStream('soft', { expectedRevision: 0n })).rejects.toThrow(
        WrongExpectedVersionError,
      );
      const deleted = await client.deleteStream('soft', { expectedRevision: 2n });
      expect(deleted.position).toBeDefined();
      await expect(collect(client.readStream('soft'))).rejects.toThrow(StreamNotFoundError);
      // EventStoreDB's deleted-stream `$tb` (2⁶³−1, read by JSON.parse as 2⁶³); see deletes.int-spec.ts.
      expect((await client.getStreamMetadata('soft')).metadata).toEqual({ truncateBefore: 2 ** 63 });

      const result = await client.appendToStream('soft', testEvents(2, 'after'), {
        expectedRevision: NO_STREAM,
      });
      expect(result.nextExpectedRevision).toBe(4n);
      const events = await collect(client.readStream('soft'));
      expect(events.map((e) => [Number(e.event!.revision), e.event!.type])).toEqual([
        [3, 'after'],
        [4, 'after'],
      ]);
    });

    it('tombstone: reads and writes fail with StreamDeletedError, on both append paths', async () => {
      const { client } = node;
      await client.appendToStream('hard', testEvents(2));
      await client.tombstoneStream('hard');
      await expect(collect(client.readStream('hard'))).rejects.toThrow(StreamDeletedError);
      const batch = await client.appendToStream('hard', testEvents(1)).catch((e: unknown) => e);
      expect(batch).toBeInstanceOf(StreamDeletedError);
      expect((batch as StreamDeletedError).streamName).toBe('hard');
      const plain = await client.appendToStream('hard', testEvents(1), APPEND_RPC).catch((e: unknown) => e);
      expect(plain).toBeInstanceOf(StreamDeletedError);
      expect((plain as StreamDeletedError).streamName).toBe('hard');
      await expect(client.deleteStream('hard')).rejects.toThrow(StreamDeletedError);
      await expect(client.tombstoneStream('hard')).rejects.toThrow(StreamDeletedError);
    });
  });

  describe('stream metadata', () => {
    it('round-trips through setStreamMetadata / getStreamMetadata ($$stream holding $metadata)', async () => {
      const { client } = node;
      expect(await client.getStreamMetadata('m')).toEqual({ streamName: 'm' });
      await client.setStreamMetadata('m', { maxCount: 5, custom: 'x' });
      const meta = await client.getStreamMetadata('m');
      expect(meta.metadata).toEqual({ maxCount: 5, custom: 'x' });
      const [raw] = await collect(client.readStream('$$m'));
      expect(raw.event!.type).toBe('$metadata');
    });

    it('honours maxCount and truncateBefore on reads', async () => {
      const { client } = node;
      await client.appendToStream('limited', testEvents(10));
      await client.setStreamMetadata('limited', { maxCount: 3 });
      expect(await revisions('limited')).toEqual([7, 8, 9]);
      expect(await revisions('limited', { direction: BACKWARDS, fromRevision: END })).toEqual([9, 8, 7]);
      await client.setStreamMetadata('limited', { truncateBefore: 5 });
      expect(await revisions('limited')).toEqual([5, 6, 7, 8, 9]);
      expect(await revisions('limited', { fromRevision: 2n, maxCount: 2 })).toEqual([5, 6]);
      await client.setStreamMetadata('limited', { truncateBefore: 8, maxCount: 5 });
      expect(await revisions('limited')).toEqual([8, 9]);
    });

    it('takes metadata for a stream that does not exist yet: the stream still does not exist, and a no_stream append creates it under that metadata', async () => {
      // As EventStoreDB does (its client suite sets `$maxCount` with expected state NoStream, then appends with
      // NoStream): `$$s` is a stream of its own, and only `s`'s own events decide `no_stream`. The idempotency
      // store relies on it: it sets a record's `$maxAge` before it appends the record.
      const { client } = node;
      for (const [stream, path] of [
        ['early', {}],
        ['early-unary', APPEND_RPC],
      ] as const) {
        await client.setStreamMetadata(stream, { maxAge: 60 }, { expectedRevision: NO_STREAM });
        expect((await client.getStreamMetadata(stream)).metadata).toEqual({ maxAge: 60 });
        await expect(collect(client.readStream(stream))).rejects.toThrow(StreamNotFoundError);
        const appended = await client.appendToStream(stream, testEvents(2), {
          ...path,
          expectedRevision: NO_STREAM,
        });
        expect(appended.nextExpectedRevision).toBe(1n);
        expect(await revisions(stream)).toEqual([0, 1]);
        // Now the stream's own events are there: a second no_stream append is refused.
        const again = await client
          .appendToStream(stream, testEvents(1), { ...path, expectedRevision: NO_STREAM })
          .catch((e: unknown) => e);
        expect(again).toBeInstanceOf(WrongExpectedVersionError);
      }
      // The metadata applies to the events appended after it.
      await client.setStreamMetadata('aged-early', { maxAge: 1 });
      await client.appendToStream('aged-early', testEvents(1), { expectedRevision: NO_STREAM });
      expect(await revisions('aged-early')).toEqual([0]);
      await delay(1100);
      expect(await revisions('aged-early')).toEqual([]);
    });

    it('honours maxAge on reads', async () => {
      const { client } = node;
      await client.appendToStream('aged', testEvents(2));
      await client.setStreamMetadata('aged', { maxAge: 1 });
      expect(await revisions('aged')).toEqual([0, 1]);
      await delay(1100);
      await client.appendToStream('aged', testEvents(1));
      expect(await revisions('aged')).toEqual([2]);
    });
  });

  describe('limits', () => {
    it('rejects an append over the maximum append size (1 MiB by default) with MaxAppendSizeExceededError', async () => {
      const { client } = node;
      const big = [
        jsonEvent({ type: 'big', data: { blob: 'x'.repeat(700_000) } }),
        jsonEvent({ type: 'big', data: { blob: 'y'.repeat(400_000) } }),
      ];
      const batch = await client.appendToStream('big', big).catch((e: unknown) => e);
      expect(batch).toBeInstanceOf(MaxAppendSizeExceededError);
      expect((batch as MaxAppendSizeExceededError).maxAppendSize).toBe(1024 * 1024);
      const plain = await client.appendToStream('big', big, APPEND_RPC).catch((e: unknown) => e);
      expect(plain).toBeInstanceOf(MaxAppendSizeExceededError);
      expect((plain as MaxAppendSizeExceededError).maxAppendSize).toBe(1024 * 1024);
      await expect(collect(client.readStream('big'))).rejects.toThrow(StreamNotFoundError);
      // Just under the limit is fine.
      await client.appendToStream('big', jsonEvent({ type: 'big', data: { blob: 'z'.repeat(1_000_000) } }));
    });

    it('takes a configured maximum append size', async () => {
      const small = await startNode({ maxAppendSize: 1000 });
      try {
        const err = await small.client
          .appendToStream('s', jsonEvent({ type: 't', data: { b: 'x'.repeat(2000) } }))
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(MaxAppendSizeExceededError);
        expect((err as MaxAppendSizeExceededError).maxAppendSize).toBe(1000);
      } finally {
        await small.dispose();
      }
    });
  });

  describe('system events', () => {
    it('$metadata events appear in $all', async () => {
      await node.client.appendToStream('sys', testEvents(1));
      await node.client.setStreamMetadata('sys', { maxCount: 10 });
      const all = await collect(node.client.readAll());
      expect(all.map((e) => [e.event!.streamId, e.event!.type])).toEqual([
        ['sys', 'test-event'],
        ['$$sys', '$metadata'],
      ]);
    });
  });

  describe('protocol paths', () => {
    it('reports a recent server version and BatchAppend, so appendToStream uses BatchAppend', async () => {
      await node.client.appendToStream('p', testEvents(3));
      await node.client.appendToStream('p', testEvents(3));
      const calls = node.es.rpcCalls();
      expect(calls['ServerFeatures.GetSupportedMethods']).toBe(1);
      expect(calls['Streams.BatchAppend']).toBeGreaterThanOrEqual(1);
      expect(calls['Streams.Append']).toBeUndefined();
    });

    it('serves the plain Append path when the client skips BatchAppend', async () => {
      await node.client.appendToStream('p', testEvents(2), APPEND_RPC);
      expect(node.es.rpcCalls()['Streams.Append']).toBe(1);
      expect(node.es.rpcCalls()['Streams.BatchAppend']).toBeUndefined();
      expect(await revisions('p')).toEqual([0, 1]);
    });
  });

  describe('persistence', () => {
    it('keeps streams, heads, positions and metadata across close and restart', async () => {
      await node.client.appendToStream('keep', testEvents(3));
      await node.client.setStreamMetadata('keep', { maxCount: 2 });
      await node.client.appendToStream('gone', testEvents(1));
      await node.client.tombstoneStream('gone');
      const before = await collect(node.client.readAll());
      node = await node.restart();
      expect(await collect(node.client.readAll())).toEqual(before);
      expect(await revisions('keep')).toEqual([1, 2]);
      await expect(
        node.client.appendToStream('keep', testEvents(1), { expectedRevision: 1n }),
      ).rejects.toThrow(WrongExpectedVersionError);
      const next = await node.client.appendToStream('keep', testEvents(1), { expectedRevision: 2n });
      expect(next.position!.commit).toBeGreaterThan(before[before.length - 1].event!.position.commit);
      await expect(collect(node.client.readStream('gone'))).rejects.toThrow(StreamDeletedError);
    });
  });
});
