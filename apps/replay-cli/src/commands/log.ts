import type { RecordedSessionEvent, SessionEventStore } from '@session-engine/event-store';
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
