/**
 * The server stopping while a client still holds its calls open: the client's own `dispose()` must still end.
 *
 * The client keeps one BatchAppend call open for all its appends and, on `dispose()`, waits for every call it
 * holds to finish. When the server stops, it ends that call the way EventStoreDB's host does on shutdown, with an
 * error status once the appends in flight are answered. Ended with an OK status instead, only the call's response
 * side would end; its request side, the client's, stays open, and `dispose()` waited for it for good (an API
 * told to stop after its store stopped hung until killed).
 */
import { EventStoreDBClient } from '@eventstore/db-client';
import fs from 'node:fs';
import { startEmbeddedEventStore } from '../src';
import { collect, tempDataDir, testEvents } from './support';

jest.setTimeout(30_000);

/** Whether `promise` settles within `ms` (a hang is what fails, not a slow settle: `ms` is generous). */
const settles = (promise: Promise<unknown>, ms: number): Promise<boolean> =>
  Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms).unref()),
  ]);

describe('embedded EventStoreDB: stopping while a client holds its calls open', () => {
  const dataDir = tempDataDir();
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('ends the client’s BatchAppend call with an error, so that the client can dispose of it', async () => {
    const es = await startEmbeddedEventStore({ port: 0, silent: true, dataDir });
    const client = EventStoreDBClient.connectionString(es.connectionString);
    try {
      // Two appends on the one BatchAppend call the client keeps open, and a read.
      await client.appendToStream('shutdown-a', testEvents(2));
      await client.appendToStream('shutdown-b', testEvents(1));
      expect(await collect(client.readStream('shutdown-a'))).toHaveLength(2);

      await es.close();

      // The store is gone: an append fails (it is not left waiting), and the client lets go of its calls.
      await expect(client.appendToStream('shutdown-a', testEvents(1))).rejects.toThrow();
      expect(await settles(client.dispose(), 10_000)).toBe(true);
    } finally {
      await es.close();
    }
  });

  it('answers the appends in flight before it ends the call', async () => {
    const es = await startEmbeddedEventStore({ port: 0, silent: true, dataDir: `${dataDir}-inflight` });
    const client = EventStoreDBClient.connectionString(es.connectionString);
    try {
      await client.appendToStream('inflight-0', testEvents(1));
      const appends = Array.from({ length: 20 }, (_, i) =>
        client.appendToStream(`inflight-${i + 1}`, testEvents(3)),
      );
      const closed = es.close();
      const outcomes = await Promise.allSettled(appends);
      await closed;
      // Each append either committed (and said so) or was refused; none is left unanswered, none half-written.
      const restarted = await startEmbeddedEventStore({
        port: 0,
        silent: true,
        dataDir: `${dataDir}-inflight`,
      });
      const reader = EventStoreDBClient.connectionString(restarted.connectionString);
      try {
        for (const [i, outcome] of outcomes.entries()) {
          const stored = await collect(reader.readStream(`inflight-${i + 1}`)).catch(() => []);
          // An acknowledged append is stored whole; a refused one (its outcome unknown to the client) all or not at all.
          if (outcome.status === 'fulfilled') expect({ i, stored: stored.length }).toEqual({ i, stored: 3 });
          else expect([0, 3]).toContain(stored.length);
        }
      } finally {
        await reader.dispose();
        await restarted.close();
      }
      expect(await settles(client.dispose(), 10_000)).toBe(true);
    } finally {
      await es.close();
      fs.rmSync(`${dataDir}-inflight`, { recursive: true, force: true });
    }
  });
});
