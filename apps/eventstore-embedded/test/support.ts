import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EventStoreDBClient, jsonEvent, JSONEventType } from '@eventstore/db-client';
import { EmbeddedEventStoreOptions, EmbeddedEventStore, startEmbeddedEventStore } from '../src';

export interface TestNode {
  es: EmbeddedEventStore;
  client: EventStoreDBClient;
  dataDir: string;
  /** Closes client and server, keeping the data directory. */
  stop(): Promise<void>;
  /** Restarts the server on the same data directory (new port, new client). */
  restart(): Promise<TestNode>;
  /** Stops and removes the data directory. */
  dispose(): Promise<void>;
}

export const tempDataDir = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'es-embedded-'));

/** An embedded server on an ephemeral port over a fresh temp data dir, with a real client. */
export async function startNode(
  options: Partial<EmbeddedEventStoreOptions> = {},
  dataDir = tempDataDir(),
): Promise<TestNode> {
  // No timed scavenge (scavenge.int-spec calls it): what `$all` holds stays as written.
  const es = await startEmbeddedEventStore({
    port: 0,
    silent: true,
    scavengeIntervalMs: 0,
    ...options,
    dataDir,
  });
  const client = EventStoreDBClient.connectionString(es.connectionString);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await client.dispose();
    await es.close();
  };
  return {
    es,
    client,
    dataDir,
    stop,
    restart: async () => {
      await stop();
      return startNode(options, dataDir);
    },
    dispose: async () => {
      await stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

export type TestEvent = JSONEventType<string, { n: number; [key: string]: unknown }>;

export const testEvents = (count: number, type = 'test-event', from = 0) =>
  Array.from({ length: count }, (_, i) => jsonEvent<TestEvent>({ type, data: { n: from + i } }));

export const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Credentials make the client skip BatchAppend and use the plain Append RPC (dropped in insecure mode). */
export const APPEND_RPC = { credentials: { username: 'admin', password: 'changeit' } };
