/**
 * Deletes as EventStoreDB/KurrentDB performs them, through @eventstore/db-client.
 *
 * Soft delete: the stream's metadata is replaced by `$tb` = EventNumber.DeletedStream (2⁶³−1); reads answer
 * not found while that holds. Writing the stream again (or its metadata) writes one more `$metadata`: the
 * latest metadata with `$tb` = the revision the stream goes on from, so the old events stay hidden.
 * Tombstone: the stream and its metadata stream (`$$stream`) can never be read or written again.
 */
import * as grpc from '@grpc/grpc-js';
import {
  ANY,
  BACKWARDS,
  convertToCommandError,
  END,
  excludeSystemEvents,
  ExpectedRevision,
  NO_STREAM,
  ResolvedEvent,
  START,
  STREAM_EXISTS,
  StreamDeletedError,
  StreamNotFoundError,
  WrongExpectedVersionError,
} from '@eventstore/db-client';
import { Empty, StreamIdentifier } from '@eventstore/db-client/generated/shared_pb';
import { StreamsClient } from '@eventstore/db-client/generated/streams_grpc_pb';
import { DeleteReq } from '@eventstore/db-client/generated/streams_pb';
import { APPEND_RPC, collect, delay, startNode, testEvents, TestNode } from './support';

async function eventually(check: () => boolean, ms = 5_000): Promise<void> {
  for (const until = Date.now() + ms; !check(); await delay(20)) {
    if (Date.now() > until) throw new Error('condition not met in time');
  }
}

jest.setTimeout(20_000);

/** EventStoreDB's `$tb` of a soft-deleted stream, 9223372036854775807, as JSON.parse (the client) reads it. */
const DELETED_STREAM_TB = 2 ** 63;

/**
 * Streams.Delete with any expected state: the client's `deleteStream` sends any, no_stream and revisions, but
 * not stream_exists (other clients do), which goes through the package's generated gRPC client. Errors come
 * back as the client reports them.
 */
async function deleteStream(
  node: TestNode,
  stream: string,
  expectedRevision: ExpectedRevision | typeof STREAM_EXISTS,
): Promise<void> {
  if (expectedRevision !== STREAM_EXISTS) {
    await node.client.deleteStream(stream, { expectedRevision });
    return;
  }
  const client = new StreamsClient(`127.0.0.1:${node.es.port}`, grpc.credentials.createInsecure());
  const options = new DeleteReq.Options()
    .setStreamIdentifier(new StreamIdentifier().setStreamName(Buffer.from(stream)))
    .setStreamExists(new Empty());
  try {
    await new Promise<void>((resolve, reject) =>
      client.delete(new DeleteReq().setOptions(options), (error) =>
        error ? reject(convertToCommandError(error)) : resolve(),
      ),
    );
  } finally {
    client.close();
  }
}

const PATHS = [
  ['BatchAppend', {}],
  ['Append', APPEND_RPC],
] as const;

describe('embedded EventStoreDB: deletes as EventStoreDB performs them', () => {
  let node: TestNode;
  beforeEach(async () => {
    node = await startNode();
  });
  afterEach(async () => {
    await node.dispose();
  });

  const revisions = async (stream: string) =>
    (await collect(node.client.readStream(stream))).map((e) => Number(e.event!.revision));
  const metadataOf = async (stream: string) => (await node.client.getStreamMetadata(stream)).metadata;
  /** `$all` as [stream, type, data of `$metadata` events]. */
  const all = async () =>
    (await collect(node.client.readAll())).map(({ event }) =>
      event!.type === '$metadata'
        ? [event!.streamId, event!.type, event!.data]
        : [event!.streamId, event!.type],
    );
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => null,
      (err: unknown) => err,
    );

  describe('soft delete', () => {
    it('replaces the metadata with $tb = 2⁶³−1; writing again writes $tb = the first new revision, once', async () => {
      const { client } = node;
      await client.appendToStream('soft', testEvents(3));
      await client.setStreamMetadata('soft', { maxCount: 10, custom: 'x' });
      await client.deleteStream('soft');
      // Only `$tb`: the other metadata is gone, as EventStoreDB's delete writes a metadata of its own.
      expect(await metadataOf('soft')).toEqual({ truncateBefore: DELETED_STREAM_TB });
      await expect(collect(client.readStream('soft'))).rejects.toThrow(StreamNotFoundError);

      const appended = await client.appendToStream('soft', testEvents(2, 'after'));
      expect(appended.nextExpectedRevision).toBe(4n);
      expect(await revisions('soft')).toEqual([3, 4]);
      expect(await metadataOf('soft')).toEqual({ truncateBefore: 3 });
      // The stream is live again: a later write leaves the metadata alone.
      await client.appendToStream('soft', testEvents(1, 'later'));
      expect(await revisions('soft')).toEqual([3, 4, 5]);

      expect(await all()).toEqual([
        ...Array(3).fill(['soft', 'test-event']),
        ['$$soft', '$metadata', { $maxCount: 10, custom: 'x' }],
        ['$$soft', '$metadata', { $tb: DELETED_STREAM_TB }],
        ['soft', 'after'],
        ['soft', 'after'],
        ['$$soft', '$metadata', { $tb: 3 }],
        ['soft', 'later'],
      ]);
    });

    it.each(PATHS)(
      'a soft-deleted stream takes any, no_stream (first write only) and its last revision, refuses stream_exists (%s)',
      async (_, rpc) => {
        const { client } = node;
        for (const [stream, expectedRevision] of [
          ['again-any', ANY],
          ['again-none', NO_STREAM],
          ['again-exact', 1n],
        ] as const) {
          await client.appendToStream(stream, testEvents(2), { ...rpc, expectedRevision: NO_STREAM });
          await client.deleteStream(stream, { expectedRevision: 1n });
          const again = await client.appendToStream(stream, testEvents(3), { ...rpc, expectedRevision });
          expect(again.nextExpectedRevision).toBe(4n);
          expect(await revisions(stream)).toEqual([2, 3, 4]);
          expect(await metadataOf(stream)).toEqual({ truncateBefore: 2 });
        }
        // no_stream only while it is deleted: once written again, the stream exists.
        const second = await failure(
          client.appendToStream('again-none', testEvents(1), { ...rpc, expectedRevision: NO_STREAM }),
        );
        expect(second).toBeInstanceOf(WrongExpectedVersionError);

        await client.appendToStream('gone-for-now', testEvents(1), rpc);
        await client.deleteStream('gone-for-now');
        const exists = await failure(
          client.appendToStream('gone-for-now', testEvents(1), { ...rpc, expectedRevision: STREAM_EXISTS }),
        );
        expect(exists).toBeInstanceOf(StreamDeletedError);
        expect((exists as StreamDeletedError).streamName).toBe('gone-for-now');
        await expect(deleteStream(node, 'gone-for-now', STREAM_EXISTS)).rejects.toThrow(StreamDeletedError);
        // Deleting it again writes the marker again.
        await client.deleteStream('gone-for-now', { expectedRevision: NO_STREAM });
        expect((await all()).filter(([stream]) => stream === '$$gone-for-now')).toHaveLength(2);
      },
    );

    it('metadata written to a soft-deleted stream brings it back, empty, with $tb = the revision after its last', async () => {
      const { client } = node;
      await client.appendToStream('meta-after', testEvents(2));
      await client.deleteStream('meta-after');
      const written = await client.setStreamMetadata('meta-after', { maxCount: 100, owner: 'ops' });
      expect(written.nextExpectedRevision).toBe(1n);
      expect(await revisions('meta-after')).toEqual([]);
      expect(await metadataOf('meta-after')).toEqual({ maxCount: 100, owner: 'ops', truncateBefore: 2 });
      expect((await all()).filter(([stream]) => stream === '$$meta-after')).toEqual([
        ['$$meta-after', '$metadata', { $tb: DELETED_STREAM_TB }],
        ['$$meta-after', '$metadata', { $maxCount: 100, owner: 'ops' }],
        ['$$meta-after', '$metadata', { $maxCount: 100, owner: 'ops', $tb: 2 }],
      ]);
      const next = await client.appendToStream('meta-after', testEvents(1), { expectedRevision: 1n });
      expect(next.nextExpectedRevision).toBe(2n);
      expect(await revisions('meta-after')).toEqual([2]);
    });

    it('a stream subscription to a soft-deleted stream delivers what is written after the delete only', async () => {
      const { client } = node;
      await client.appendToStream('sub-soft', testEvents(3));
      await client.deleteStream('sub-soft');
      const sub = client.subscribeToStream('sub-soft', { fromRevision: START });
      const received = new Promise<ResolvedEvent>((resolve, reject) => {
        sub.once('data', resolve);
        sub.once('error', reject);
      });
      await new Promise((resolve) => sub.once('caughtUp', resolve));
      await client.appendToStream('sub-soft', testEvents(1, 'after'));
      const first = await received;
      await sub.unsubscribe();
      expect([Number(first.event!.revision), first.event!.type]).toEqual([3, 'after']);
    });
  });

  describe('soft delete of a stream that was never written', () => {
    it.each([
      ['any', ANY],
      ['no_stream', NO_STREAM],
      ['stream_exists', STREAM_EXISTS],
      ['a revision', 0n],
    ] as const)(
      'answers WrongExpectedVersion for %s when neither the stream nor its metadata exists',
      async (_, expectedRevision) => {
        const error = await failure(deleteStream(node, 'never', expectedRevision));
        expect(error).toBeInstanceOf(WrongExpectedVersionError);
        expect(error).toMatchObject({ streamName: 'never', actualVersion: 'no_stream' });
        expect(await all()).toEqual([]);
      },
    );

    it.each([
      ['any', ANY],
      ['no_stream', NO_STREAM],
      ['stream_exists', STREAM_EXISTS],
    ] as const)('deletes a stream that has metadata only, for %s', async (_, expectedRevision) => {
      await node.client.setStreamMetadata('implicit', { cacheControl: 10 });
      await deleteStream(node, 'implicit', expectedRevision);
      expect(await metadataOf('implicit')).toEqual({ truncateBefore: DELETED_STREAM_TB });
      await expect(collect(node.client.readStream('implicit'))).rejects.toThrow(StreamNotFoundError);
    });

    it('refuses a revision for a stream that has metadata only', async () => {
      await node.client.setStreamMetadata('implicit', { cacheControl: 10 });
      await expect(node.client.deleteStream('implicit', { expectedRevision: 0n })).rejects.toThrow(
        WrongExpectedVersionError,
      );
    });
  });

  describe('tombstone', () => {
    it.each(PATHS)(
      'its metadata stream reads and writes as deleted too, also after a soft delete (%s)',
      async (_, rpc) => {
        const { client } = node;
        await client.appendToStream('hard', testEvents(2));
        await client.setStreamMetadata('hard', { maxAge: 60 });
        await client.deleteStream('hard', { expectedRevision: 1n });
        await client.tombstoneStream('hard', { expectedRevision: ANY });

        const read = await failure(collect(client.readStream('$$hard')));
        expect(read).toBeInstanceOf(StreamDeletedError);
        expect((read as StreamDeletedError).streamName).toBe('$$hard');
        // getStreamMetadata reads `$$hard`: the error names it, as against EventStoreDB.
        const meta = await failure(client.getStreamMetadata('hard'));
        expect(meta).toBeInstanceOf(StreamDeletedError);
        expect((meta as StreamDeletedError).streamName).toBe('$$hard');
        const set = await failure(client.setStreamMetadata('hard', { maxAge: 1 }, rpc));
        expect(set).toBeInstanceOf(StreamDeletedError);
        expect((set as StreamDeletedError).streamName).toBe('$$hard');
        await expect(client.appendToStream('hard', testEvents(1), rpc)).rejects.toThrow(StreamDeletedError);

        const sub = client.subscribeToStream('$$hard', { fromRevision: START });
        const dropped = await new Promise((resolve) => sub.once('error', resolve));
        expect(dropped).toBeInstanceOf(StreamDeletedError);
      },
    );
  });

  /**
   * EventStoreDB writes a tombstone as an event of its own, `$streamDeleted` in the deleted stream at revision
   * 2⁶³−1 (`long.MaxValue`), empty, at a new position of `$all`: a reader of `$all` finds the stream's events,
   * then it (EventStore's read_all_events_forward_with_hard_deleted_stream_should). A scavenge keeps it.
   */
  describe('the tombstone record in $all', () => {
    it('follows the stream’s events in $all at the position the delete answered, and stays after a restart', async () => {
      // Given a stream of 20 events
      await node.client.appendToStream('hard-all', testEvents(20));
      // When it is tombstoned
      const deleted = await node.client.tombstoneStream('hard-all');
      // Then $all holds its 20 events, then the tombstone record, at the position the delete answered
      const check = async (client: typeof node.client) => {
        const events = (await collect(client.readAll())).map((e) => e.event!);
        const ofStream = events.filter((e) => e.streamId === 'hard-all');
        expect(ofStream.map((e) => e.type)).toEqual([
          ...Array.from({ length: 20 }, () => 'test-event'),
          '$streamDeleted',
        ]);
        const tombstone = ofStream[20]!;
        expect(tombstone).toMatchObject({ revision: 2n ** 63n - 1n, isJson: false, data: new Uint8Array() });
        expect(tombstone.metadata).toBeUndefined();
        expect(tombstone.position).toEqual(deleted.position);
        expect(events.at(-1)).toBe(tombstone);
        const [last] = await collect(
          client.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 }),
        );
        expect(last!.event!.id).toBe(tombstone.id);
        return tombstone.id;
      };
      const id = await check(node.client);
      // And the stream itself still reads as deleted, the record nowhere in it
      await expect(collect(node.client.readStream('hard-all'))).rejects.toBeInstanceOf(StreamDeletedError);
      node = await node.restart();
      expect(await check(node.client)).toBe(id);
    });

    it('reaches a $all subscriber live, but not one excluding system events, nor the stream’s subscriber', async () => {
      // Given subscribers of $all (one excluding system events) and of the stream, caught up with its 2 events
      await node.client.appendToStream('hard-live', testEvents(2));
      const everything = node.client.subscribeToAll({ fromPosition: START });
      const noSystem = node.client.subscribeToAll({ fromPosition: START, filter: excludeSystemEvents() });
      const ofStream = node.client.subscribeToStream('hard-live', { fromRevision: START });
      const received: Record<string, string[]> = { everything: [], noSystem: [], ofStream: [] };
      const listen = (name: string, sub: typeof everything | typeof ofStream) =>
        sub.on('data', (e: ResolvedEvent) => {
          if (e.event?.streamId === 'hard-live') received[name]!.push(e.event.type);
        });
      listen('everything', everything);
      listen('noSystem', noSystem);
      listen('ofStream', ofStream);
      const streamDropped = new Promise((resolve) => ofStream.once('error', resolve));
      await eventually(() => Object.values(received).every((types) => types.length === 2));
      // When the stream is tombstoned, and another event written after it
      await node.client.tombstoneStream('hard-live');
      await node.client.appendToStream('after-hard-live', testEvents(1));
      const marker = node.client.subscribeToAll({ fromPosition: START });
      let seenAfter = 0;
      marker.on('data', (e: ResolvedEvent) => {
        if (e.event?.streamId === 'after-hard-live') seenAfter++;
      });
      await eventually(() => seenAfter === 1);
      // Then the $all subscriber got the record, the filtered one did not, and the stream's subscriber was told
      // the stream was deleted, without the record
      await eventually(() => received.everything!.length === 3);
      expect(received.everything).toEqual(['test-event', 'test-event', '$streamDeleted']);
      expect(received.noSystem).toEqual(['test-event', 'test-event']);
      expect(await streamDropped).toBeInstanceOf(StreamDeletedError);
      expect(received.ofStream).toEqual(['test-event', 'test-event']);
      for (const sub of [everything, noSystem, marker]) await sub.unsubscribe();
    });
  });

  describe('stream_exists', () => {
    it.each(PATHS)('takes a stream that has metadata only, as EventStoreDB does (%s)', async (_, rpc) => {
      await node.client.setStreamMetadata('meta-only', { maxAge: 60 });
      const appended = await node.client.appendToStream('meta-only', testEvents(2), {
        ...rpc,
        expectedRevision: STREAM_EXISTS,
      });
      expect(appended.nextExpectedRevision).toBe(1n);
      expect(await revisions('meta-only')).toEqual([0, 1]);
    });
  });
});
