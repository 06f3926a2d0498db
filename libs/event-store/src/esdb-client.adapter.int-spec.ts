/**
 * Reads of `$all` that their consumer leaves early, against the embedded server: the adapter ends each one
 * (cancel, then let the stream drain) so that `close()` — the client's `dispose()`, which waits for every call
 * it started — returns, and later reads are unaffected. The hang this prevents (a call whose reply had arrived
 * in full, left unread, never finished) is reproduced end to end by
 * apps/replay-cli/src/commands/rebuild.int-spec.ts, which stops reading a few events before the log's end.
 */
import { closedPort } from '@session-engine/testing';
import { startTestEventStore, type TestEventStore } from '@session-engine/testing/event-store';
import {
  EsdbClientAdapter,
  EventStoreUnavailableError,
  EventStoreWriteInterruptedError,
} from './esdb-client.adapter';

let server: TestEventStore;

beforeAll(async () => {
  server = await startTestEventStore();
  const writer = EsdbClientAdapter.connect(server.connectionString);
  const stream = `early-stop-${Date.now()}`;
  await writer.appendToStream(
    stream,
    Array.from({ length: 200 }, (_, i) => ({ type: 'Noted', data: { i }, metadata: { n: i } })),
    'no_stream',
  );
  await writer.close();
});

afterAll(async () => {
  await server.close();
});

/** Resolves with 'closed', or with 'hung' when close() has not returned after 10 s. */
async function closeWithin(adapter: EsdbClientAdapter): Promise<'closed' | 'hung'> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), 10_000)));
  try {
    return await Promise.race([adapter.close().then(() => 'closed' as const), hung]);
  } finally {
    clearTimeout(timer);
  }
}

describe('a read of $all left early', () => {
  it.each([1, 5, 150, 199])('readAll: stopped after %i event(s), the client still closes', async (take) => {
    const adapter = EsdbClientAdapter.connect(server.connectionString);
    const seen: unknown[] = [];
    for await (const event of adapter.readAll({ prefixes: ['early-stop-'] })) {
      seen.push(event.data);
      if (seen.length === take) break;
    }
    expect(seen).toHaveLength(take);
    expect(await closeWithin(adapter)).toBe('closed');
  });

  it('readAllBatches: stopped after the first page, the client still closes', async () => {
    const adapter = EsdbClientAdapter.connect(server.connectionString);
    let pages = 0;
    for await (const page of adapter.readAllBatches({ prefixes: ['early-stop-'], batchSize: 8 })) {
      expect(page.length).toBeGreaterThan(0);
      if (++pages === 1) break;
    }
    expect(await closeWithin(adapter)).toBe('closed');
  });

  it('a read taken to its end closes as before, and a new read after an early stop sees every event', async () => {
    const adapter = EsdbClientAdapter.connect(server.connectionString);
    for await (const _ of adapter.readAll({ prefixes: ['early-stop-'] })) break;
    let count = 0;
    for await (const _ of adapter.readAll({ prefixes: ['early-stop-'] })) count++;
    expect(count).toBe(200);
    expect(await closeWithin(adapter)).toBe('closed');
  });
});

describe('a server nobody listens on', () => {
  it('every call is EventStoreUnavailableError (the API answers 503), appends included', async () => {
    // An append reaches the client's batch-append stream, which rejected with grpc-js's raw ServiceError
    // (code 14): it was neither recognised as "unavailable" nor a 503, and the API answered 500.
    const adapter = EsdbClientAdapter.connect(`esdb://127.0.0.1:${await closedPort()}?tls=false`);
    try {
      const event = { type: 'Noted', data: {}, metadata: {} };
      await expect(adapter.appendToStream('nowhere-1', [event], 'no_stream')).rejects.toBeInstanceOf(
        EventStoreUnavailableError,
      );
      await expect(adapter.appendToStream('nowhere-1', [event], 3n)).rejects.toBeInstanceOf(
        EventStoreUnavailableError,
      );
      await expect(adapter.readStream('nowhere-1')).rejects.toBeInstanceOf(EventStoreUnavailableError);
      // The client cannot tell "never sent" from "cut on the way": a write's outcome is unknown, a read's is not.
      await expect(adapter.appendToStream('nowhere-1', [event], 'any')).rejects.toMatchObject({
        name: 'EventStoreWriteInterruptedError',
        operation: 'append',
        streamName: 'nowhere-1',
      });
      await expect(adapter.setStreamMaxAge('nowhere-1', 60)).rejects.toBeInstanceOf(
        EventStoreWriteInterruptedError,
      );
      // The operator's deletes are writes like the others (they reached the client's raw error before).
      await expect(adapter.deleteStream('nowhere-1')).rejects.toMatchObject({
        name: 'EventStoreWriteInterruptedError',
        operation: 'delete',
        streamName: 'nowhere-1',
      });
      await expect(adapter.tombstoneStream('nowhere-1')).rejects.toMatchObject({
        name: 'EventStoreWriteInterruptedError',
        operation: 'tombstone',
        streamName: 'nowhere-1',
      });
      await expect(adapter.readStream('nowhere-1')).rejects.not.toBeInstanceOf(
        EventStoreWriteInterruptedError,
      );
    } finally {
      await adapter.close();
    }
  });
});
