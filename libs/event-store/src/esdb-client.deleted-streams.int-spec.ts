/**
 * Deleted streams as the adapter reports them, against the embedded server: a tombstoned stream fails every
 * read and every write with our `StreamTombstonedError` (never the client's `StreamDeletedError`); a
 * soft-deleted one reads as `[]`, or `StreamMissingError` for a read with `mustExist`, which a stream that
 * merely has nothing after the revision asked for never is; an append revives it.
 */
import {
  EsdbClientAdapter,
  StreamMissingError,
  StreamTombstonedError,
  type EventToAppend,
} from './esdb-client.adapter';
import { suiteEventStore } from './testing/suite-event-store';

let store: EsdbClientAdapter;
let counter = 0;
suiteEventStore((connected) => (store = connected));

const newStream = (label: string) => `deleted-${label}-${Date.now()}-${++counter}`;
const events = (n: number): EventToAppend[] =>
  Array.from({ length: n }, (_, i) => ({ type: 'Noted', data: { i }, metadata: {} }));

async function written(label: string, n = 2): Promise<string> {
  const stream = newStream(label);
  await store.appendToStream(stream, events(n), 'no_stream');
  return stream;
}

describe('a tombstoned stream', () => {
  it('fails reads, appends with any expectation and metadata writes with StreamTombstonedError', async () => {
    const stream = await written('tombstoned');
    await store.tombstoneStream(stream);

    const failures = await Promise.all(
      [
        store.readStream(stream),
        store.readStream(stream, { fromRevision: 2n, mustExist: true }),
        store.appendToStream(stream, events(1), 1n),
        store.appendToStream(stream, events(1), 'no_stream'),
        store.appendToStream(stream, events(1), 'any'),
        store.setStreamMaxAge(stream, 60),
        store.tombstoneStream(stream),
      ].map((call) =>
        call.then(
          () => 'succeeded',
          (error: unknown) => error,
        ),
      ),
    );
    for (const failure of failures) {
      expect(failure).toBeInstanceOf(StreamTombstonedError);
      expect(failure).toMatchObject({ streamName: stream });
    }
  });
});

describe('a soft-deleted stream', () => {
  it('reads as [] or, with mustExist, StreamMissingError; an append revives it, its revisions going on', async () => {
    const stream = await written('soft');
    await store.deleteStream(stream);

    expect(await store.readStream(stream)).toEqual([]);
    await expect(store.readStream(stream, { fromRevision: 2n, mustExist: true })).rejects.toBeInstanceOf(
      StreamMissingError,
    );
    const revived = await store.appendToStream(stream, events(1), 'no_stream');
    expect(revived.nextRevision).toBe(2n);
    expect((await store.readStream(stream)).map((event) => event.revision)).toEqual([2n]);
    expect(await store.readStream(stream, { fromRevision: 3n, mustExist: true })).toEqual([]);
  });
});

describe('mustExist', () => {
  it('answers [] for a stream with nothing after the revision, StreamMissingError for one never written', async () => {
    const stream = await written('live');
    expect(await store.readStream(stream, { fromRevision: 2n, mustExist: true })).toEqual([]);
    expect(await store.readStream(newStream('never'))).toEqual([]);
    await expect(store.readStream(newStream('never'), { mustExist: true })).rejects.toBeInstanceOf(
      StreamMissingError,
    );
  });
});
