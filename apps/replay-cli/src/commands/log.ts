import {
  isSessionItem,
  isSessionTombstone,
  SESSION_STREAM_PREFIX,
  type EsdbClientAdapter,
  type RecordedSessionEvent,
  type StoredEvent,
} from '@session-engine/event-store';
import {
  parseSessionStream,
  type ProjectedEvent,
  type ProjectedItem,
  type ProjectedTombstone,
} from '@session-engine/read-models';
import { readStoredEvent } from '../session-events';

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

/** A session stream's `$streamDeleted` event as the projections receive it (the projector hands them the same). */
export function toProjectedTombstone(stored: StoredEvent): ProjectedTombstone {
  if (stored.position === undefined) throw new Error(`No commit position on ${stored.streamName}`);
  return {
    kind: 'tombstone',
    streamId: stored.streamName,
    position: stored.position,
    created: stored.created,
  };
}

/**
 * Session events, and session streams' tombstones (an erasure: the projections drop the session), with
 * `after < position ≤ upTo` in log order, optionally of one application. An event this CLI cannot read (a newer
 * writer's type or schema version) stops the read with `UnreadableEventError`.
 */
export async function* sessionEvents(
  client: EsdbClientAdapter,
  options: { after?: bigint; upTo?: bigint; applicationId?: number },
): AsyncGenerator<ProjectedItem> {
  for await (const stored of client.readAll({
    fromPosition: options.after,
    prefixes: [SESSION_STREAM_PREFIX],
    tombstones: true,
  })) {
    if (!isSessionItem(stored)) continue;
    if (options.after !== undefined && stored.position !== undefined && stored.position <= options.after)
      continue;
    if (options.upTo !== undefined && stored.position !== undefined && stored.position > options.upTo) return;
    if (
      options.applicationId !== undefined &&
      parseSessionStream(stored.streamName).applicationId !== options.applicationId
    )
      continue;
    yield isSessionTombstone(stored)
      ? toProjectedTombstone(stored)
      : toProjectedEvent(readStoredEvent(stored));
  }
}
