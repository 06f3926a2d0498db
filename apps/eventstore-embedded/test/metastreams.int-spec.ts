/**
 * Metadata streams (`$$<stream>`) as EventStoreDB/KurrentDB reads them, through @eventstore/db-client.
 *
 * EventStoreDB gives every metadata stream metadata of its own, `$maxCount` 1 (its MetastreamMaxCount option),
 * whatever `$$$$<stream>` holds: a read of `$$<stream>`, forwards or backwards, from any revision, returns its
 * latest `$metadata` event only, and a catch-up subscription starts there (IndexReader.GetStreamMetadataCached;
 * the server's own tests: when_having_multiple_metaevents_in_metastream_and_read_index_is_set_to_keep_just_last).
 * The revisions go on counting, and `$all` keeps every `$metadata` event until a scavenge, which this server
 * never runs.
 */
import { BACKWARDS, END, FORWARDS, ResolvedEvent, START } from '@eventstore/db-client';
import { collect, startNode, testEvents, TestNode } from './support';

jest.setTimeout(20_000);

/** EventStoreDB's `$tb` of a soft-deleted stream, 9223372036854775807, as JSON.parse (the client) reads it. */
const DELETED_STREAM_TB = 2 ** 63;

describe('embedded EventStoreDB: metadata streams keep their latest event only, as EventStoreDB reads them', () => {
  let node: TestNode;
  beforeEach(async () => {
    node = await startNode();
  });
  afterEach(async () => {
    await node.dispose();
  });

  type ReadOptions = Parameters<TestNode['client']['readStream']>[1];
  /** The stream as [revision, data] pairs. */
  const read = async (stream: string, options: ReadOptions = {}) =>
    (await collect(node.client.readStream(stream, options))).map(({ event }) => [
      Number(event!.revision),
      event!.data,
    ]);

  /** Writes three metadata events for `stream`: `$maxCount` 10, then 9, then 8. */
  const threeVersions = async (stream: string) => {
    for (const maxCount of [10, 9, 8]) await node.client.setStreamMetadata(stream, { maxCount });
  };

  it('reads the latest $metadata only: forwards, backwards, from any revision, with any count', async () => {
    await node.client.appendToStream('s', testEvents(2));
    await threeVersions('s');
    const latest = [[2, { $maxCount: 8 }]];
    expect(await read('$$s')).toEqual(latest);
    expect(await read('$$s', { direction: FORWARDS, fromRevision: START, maxCount: 100 })).toEqual(latest);
    expect(await read('$$s', { fromRevision: 0n })).toEqual(latest);
    expect(await read('$$s', { fromRevision: 1n, maxCount: 1 })).toEqual(latest);
    expect(await read('$$s', { direction: BACKWARDS, fromRevision: END })).toEqual(latest);
    expect(await read('$$s', { direction: BACKWARDS, fromRevision: 2n, maxCount: 3 })).toEqual(latest);
    // Below the latest, backwards, there is nothing left to read.
    expect(await read('$$s', { direction: BACKWARDS, fromRevision: 1n })).toEqual([]);
    expect(await read('$$s', { fromRevision: END })).toEqual([]);
    // The stream's own metadata is that latest event; the stream itself is untouched.
    expect((await node.client.getStreamMetadata('s')).metadata).toEqual({ maxCount: 8 });
    expect((await read('s')).map(([revision]) => revision)).toEqual([0, 1]);
  });

  it('keeps counting revisions, and the metadata of a metadata stream does not widen it', async () => {
    await threeVersions('m');
    // `$$$$m`: EventStoreDB ignores it for `$$m`, whose `$maxCount` stays 1.
    await node.client.setStreamMetadata('$$m', { maxCount: 100 });
    const written = await node.client.setStreamMetadata('m', { maxCount: 7, custom: 'x' });
    expect(written.nextExpectedRevision).toBe(3n);
    expect(await read('$$m')).toEqual([[3, { $maxCount: 7, custom: 'x' }]]);
    expect(await read('$$m', { direction: BACKWARDS, fromRevision: END, maxCount: 10 })).toEqual([
      [3, { $maxCount: 7, custom: 'x' }],
    ]);
  });

  it('after a soft delete reads the deleted marker alone, and after the stream is written again the new $tb alone', async () => {
    await node.client.appendToStream('d', testEvents(3));
    await threeVersions('d');
    await node.client.deleteStream('d');
    expect(await read('$$d')).toEqual([[3, { $tb: DELETED_STREAM_TB }]]);
    await node.client.appendToStream('d', testEvents(1, 'again'));
    expect(await read('$$d')).toEqual([[4, { $tb: 3 }]]);
  });

  it('$all still holds every $metadata event (EventStoreDB drops them only in a scavenge)', async () => {
    await threeVersions('a');
    const metadata = (await collect(node.client.readAll()))
      .filter(({ event }) => event!.streamId === '$$a')
      .map(({ event }) => [Number(event!.revision), event!.data]);
    expect(metadata).toEqual([
      [0, { $maxCount: 10 }],
      [1, { $maxCount: 9 }],
      [2, { $maxCount: 8 }],
    ]);
  });

  it('a catch-up subscription from the start receives the latest $metadata, then every new one', async () => {
    await threeVersions('live');
    const sub = node.client.subscribeToStream('$$live', { fromRevision: START });
    const received: [number, unknown][] = [];
    const done = new Promise<void>((resolve, reject) => {
      sub.on('error', reject);
      sub.on('data', ({ event }: ResolvedEvent) => {
        received.push([Number(event!.revision), event!.data]);
        if (received.length === 3) void sub.unsubscribe().then(resolve);
      });
    });
    await new Promise((resolve) => sub.once('caughtUp', resolve));
    await node.client.setStreamMetadata('live', { maxCount: 7 });
    await node.client.setStreamMetadata('live', { maxCount: 6 });
    await done;
    expect(received).toEqual([
      [2, { $maxCount: 8 }],
      [3, { $maxCount: 7 }],
      [4, { $maxCount: 6 }],
    ]);
  });
});
