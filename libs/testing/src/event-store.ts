/**
 * The event store a test suite talks to. By default the embedded EventStoreDB-compatible server, on an
 * ephemeral port with its data in a temporary directory; with EVENTSTORE_CONNECTION_STRING set
 * (`EVENTSTORE_CONNECTION_STRING=esdb://127.0.0.1:2113?tls=false npm run test:int`) the suite runs against that
 * server instead — a real EventStoreDB/KurrentDB, shared and never emptied, so suites that use this helper
 * write under unique stream names or application ids (see `uniqueRunId`).
 *
 * Imported as `@session-engine/testing/event-store` (not from the package index), so unit specs that use the
 * decider helpers do not load the gRPC server.
 */
import { randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  startEmbeddedEventStore,
  type EmbeddedEventStore,
  type EmbeddedEventStoreOptions,
} from '../../../apps/eventstore-embedded/src';

export interface TestEventStore {
  connectionString: string;
  /** The embedded server this helper started; undefined when the suite runs against an external server. */
  embedded?: EmbeddedEventStore;
  /** Stops the embedded server and removes its temporary data (an external server is left alone). */
  close(): Promise<void>;
}

/** The external server the suites were pointed at, if any. */
export function externalEventStore(): string | undefined {
  const value = process.env.EVENTSTORE_CONNECTION_STRING?.trim();
  return value ? value : undefined;
}

/** For tests that only make sense on a store they own (restarting it, counting everything in it). */
export const runsOnExternalEventStore = (): boolean => externalEventStore() !== undefined;

export async function startTestEventStore(
  options: Partial<Omit<EmbeddedEventStoreOptions, 'port' | 'host'>> = {},
): Promise<TestEventStore> {
  const external = externalEventStore();
  if (external) return { connectionString: external, close: async () => undefined };
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'test-eventstore-'));
  // No timed scavenge (a test that wants one calls `embedded.scavenge()`): what `$all` holds stays as written.
  const embedded = await startEmbeddedEventStore({
    silent: true,
    scavengeIntervalMs: 0,
    ...options,
    port: 0,
    dataDir,
  });
  return {
    connectionString: embedded.connectionString,
    embedded,
    async close() {
      await embedded.close();
      if (ownDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A number unique enough per test run to keep application ids / stream names apart on a shared server. */
export function uniqueRunId(): number {
  return 100_000 + randomInt(900_000_000);
}
