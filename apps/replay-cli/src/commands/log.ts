import {
  fromStoredEvent,
  SESSION_STREAM_PREFIX,
  type EsdbClientAdapter,
  type RecordedSessionEvent,
  type SessionEventStore,
} from '@session-engine/event-store';
import { parseSessionStream, type ProjectedEvent } from '@session-engine/read-models';

/** A session event as the projections receive it (the same shape the projector hands them). */
export function toProjectedEvent(recorded: RecordedSessionEvent): ProjectedEvent {
  if (recorded.position === undefined) throw new Error(`No commit position on ${recorded.streamName}`);
  return {
    streamId: recorded.streamName,
    revision: Number(recorded.revision),
    position: recorded.position,
    event: recorded.event,
    created: recorded.created,
  };
}

/** Session events with `after < position ≤ upTo` in log order, optionally of one application. */
export async function* sessionEvents(
  store: SessionEventStore,
  options: { after?: bigint; upTo?: bigint; applicationId?: number },
): AsyncGenerator<ProjectedEvent> {
  for await (const recorded of store.readAll({ fromPosition: options.after })) {
    const event = toProjectedEvent(recorded);
    if (options.after !== undefined && event.position <= options.after) continue;
    if (options.upTo !== undefined && event.position > options.upTo) return;
    if (
      options.applicationId !== undefined &&
      parseSessionStream(event.streamId).applicationId !== options.applicationId
    )
      continue;
    yield event;
  }
}

/**
 * `sessionEvents` from the start of the log in pages (one array per page read), for bulk replays:
 * far cheaper per event than one awaited step each.
 */
export async function* sessionEventPages(
  client: EsdbClientAdapter,
  options: { upTo?: bigint; applicationId?: number },
): AsyncGenerator<ProjectedEvent[]> {
  const { upTo, applicationId } = options;
  for await (const page of client.readAllBatches({ prefixes: [SESSION_STREAM_PREFIX] })) {
    const events: ProjectedEvent[] = [];
    let reachedEnd = false;
    for (const stored of page) {
      if (upTo !== undefined && stored.position !== undefined && stored.position > upTo) {
        reachedEnd = true;
        break;
      }
      if (
        applicationId !== undefined &&
        parseSessionStream(stored.streamName).applicationId !== applicationId
      )
        continue;
      events.push(toProjectedEvent(fromStoredEvent(stored)));
    }
    if (events.length > 0) yield events;
    if (reachedEnd) return;
  }
}
