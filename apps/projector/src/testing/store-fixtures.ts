import { EsdbClientAdapter, toEventToAppend } from '@session-engine/event-store';
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
