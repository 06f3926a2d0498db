import fs from 'node:fs';
import { EventStoreDBClient, jsonEvent, START, WrongExpectedVersionError } from '@eventstore/db-client';
import { startEmbeddedEventStore } from '../src';
import { collect, tempDataDir, testEvents } from './support';

jest.setTimeout(30_000);

/**
 * `promise`, or a failure after `ms`: a wait that never ends would leave the test pending past its timeout,
 * its `finally` never run and the server's worker thread keeping jest from exiting.
 */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('embedded EventStoreDB in a worker thread ({ thread: true })', () => {
  it('appends, reads and streams a subscription through the real client, counts RPCs and closes cleanly', async () => {
    const dataDir = tempDataDir();
    const es = await startEmbeddedEventStore({ port: 0, dataDir, silent: true, thread: true });
    const client = EventStoreDBClient.connectionString(es.connectionString);
    try {
      const first = await client.appendToStream('thread-a', testEvents(3));
      expect(first.nextExpectedRevision).toBe(2n);
      await expect(
        client.appendToStream('thread-a', testEvents(1), { expectedRevision: 0n }),
      ).rejects.toBeInstanceOf(WrongExpectedVersionError);

      const read = await collect(client.readStream('thread-a'));
      expect(read.map((e) => (e.event!.data as { n: number }).n)).toEqual([0, 1, 2]);

      const sub = client.subscribeToAll({ fromPosition: START });
      const seen: string[] = [];
      const caughtUp = new Promise((resolve) => sub.once('caughtUp', resolve));
      const live = new Promise<void>((resolve) =>
        sub.on('data', (e) => {
          if (e.event && !e.event.streamId.startsWith('$'))
            seen.push(`${e.event.streamId}/${e.event.revision}`);
          if (e.event?.streamId === 'thread-b') resolve();
        }),
      );
      await within(10_000, 'caughtUp', caughtUp);
      await client.appendToStream('thread-b', jsonEvent({ type: 'live', data: {} }));
      await within(10_000, 'the live event', live);
      await sub.unsubscribe();
      expect(seen).toEqual(['thread-a/0', 'thread-a/1', 'thread-a/2', 'thread-b/0']);

      const calls = es.rpcCalls();
      expect(calls['Streams.BatchAppend']).toBeGreaterThanOrEqual(1);
      expect(calls['Streams.Read']).toBeGreaterThanOrEqual(2);
    } finally {
      await client.dispose();
      await es.close();
    }
    // Closed: the data is on disk and a new server (in this thread) finds it.
    const again = await startEmbeddedEventStore({ port: 0, dataDir, silent: true });
    const reader = EventStoreDBClient.connectionString(again.connectionString);
    try {
      expect(await collect(reader.readStream('thread-b'))).toHaveLength(1);
    } finally {
      await reader.dispose();
      await again.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('rejects start-up when the port is taken, and ends its worker', async () => {
    const dataDir = tempDataDir();
    const holder = await startEmbeddedEventStore({ port: 0, dataDir: tempDataDir(), silent: true });
    try {
      await expect(
        startEmbeddedEventStore({ port: holder.port, dataDir, silent: true, thread: true }),
      ).rejects.toThrow();
    } finally {
      await holder.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
