import { EsdbClientAdapter, toEventToAppend } from '@session-engine/event-store';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SessionHistory } from '@session-engine/read-models/testing/session-history';
import { startEmbeddedEventStore } from '../../../eventstore-embedded/src';

export { startEmbeddedEventStore };

/** Appends histories to the store as the write side would (one append per session, in order). */
export async function appendHistories(
  client: EsdbClientAdapter,
  histories: SessionHistory[],
  from = 0,
): Promise<bigint> {
  let last = 0n;
  for (const history of histories) {
    const events = history.events.slice(from);
    if (events.length === 0) continue;
    const outcome = await client.appendToStream(
      history.streamId,
      events.map((e) =>
        toEventToAppend(e.event, { commandId: e.event.data.commandId, correlationId: 'test', actor: 'test' }),
      ),
      from === 0 ? 'no_stream' : BigInt(from - 1),
    );
    if (outcome.position !== undefined && outcome.position > last) last = outcome.position;
  }
  return last;
}

/**
 * An embedded event store of the suite's own (exact positions and counts), started before its tests (`beforeAll`)
 * and removed after them, with a client; the fields are set once it has started.
 */
export function suiteStore(prefix: string) {
  const state = {
    dir: '',
    store: undefined as unknown as { connectionString: string; close(): Promise<void> },
    client: undefined as unknown as EsdbClientAdapter,
  };
  beforeAll(async () => {
    state.dir = mkdtempSync(join(tmpdir(), prefix));
    state.store = await startEmbeddedEventStore({ port: 0, dataDir: state.dir, silent: true });
    state.client = EsdbClientAdapter.connect(state.store.connectionString);
  });
  afterAll(async () => {
    await state.client?.close();
    await state.store?.close();
    rmSync(state.dir, { recursive: true, force: true });
  });
  return state;
}
