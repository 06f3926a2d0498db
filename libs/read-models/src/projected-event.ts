import type { SessionEvent } from '@session-engine/session-domain';
import { eventTimeIso } from './instant';

/**
 * A session event as the projections receive it from the `$all` subscription: the domain event
 * (already upcast) plus where it sits in its stream and in the log.
 */
export interface ProjectedEvent<E extends SessionEvent = SessionEvent> {
  /** Absent on events; tells them from a `ProjectedTombstone` among `ProjectedItem`s. */
  kind?: 'event';
  /** `session-{applicationId}-{integrationId}` */
  streamId: string;
  /** Revision of the event in its stream, from 0. */
  revision: number;
  /** Commit position of the event in `$all`. */
  position: bigint;
  event: E;
  /** Server time of the write (ISO-8601), when known; only used to measure lag. */
  created?: string;
}

/**
 * A session stream deleted for good (tombstoned: an erasure, `replay erase`): the empty `$streamDeleted` event the
 * event store writes into the stream, after all of its events in `$all`, and keeps through a scavenge. The
 * projections remove what they hold of the stream (sessions, customer profiles; the analytics keep their sums).
 */
export interface ProjectedTombstone {
  kind: 'tombstone';
  /** `session-{applicationId}-{integrationId}` */
  streamId: string;
  /** Commit position of the `$streamDeleted` event in `$all`. */
  position: bigint;
  /** Server time of the tombstone (ISO-8601), when known; only used to measure lag. */
  created?: string;
}

/** What the projections receive from the log, in log order: session events and session streams' tombstones. */
export type ProjectedItem = ProjectedEvent | ProjectedTombstone;

export const isTombstone = (item: ProjectedItem): item is ProjectedTombstone => item.kind === 'tombstone';

/** The event type of an item, for logs: the session event's, or `$streamDeleted`. */
export const itemType = (item: ProjectedItem): string =>
  item.kind === 'tombstone' ? '$streamDeleted' : item.event.type;

/**
 * The items in runs: consecutive events together, consecutive tombstones together, in log order. Events after a
 * tombstone of their stream cannot exist (a tombstoned stream is never written again), but an event of another
 * session of the same profile may follow one, so the runs are applied in order.
 */
export function itemRuns(
  items: readonly ProjectedItem[],
): ({ events: readonly ProjectedEvent[] } | { tombstones: readonly ProjectedTombstone[] })[] {
  let tombstones = 0;
  for (const item of items) if (item.kind === 'tombstone') tombstones++;
  if (tombstones === 0) return items.length === 0 ? [] : [{ events: items as readonly ProjectedEvent[] }];
  const runs: ({ events: ProjectedEvent[] } | { tombstones: ProjectedTombstone[] })[] = [];
  for (const item of items) {
    const last = runs[runs.length - 1];
    if (item.kind === 'tombstone') {
      if (last !== undefined && 'tombstones' in last) last.tombstones.push(item);
      else runs.push({ tombstones: [item] });
    } else if (last !== undefined && 'events' in last) last.events.push(item);
    else runs.push({ events: [item] });
  }
  return runs;
}

export interface SessionStreamName {
  applicationId: number;
  integrationId: string;
}

const SESSION_STREAM = /^session-(\d+)-(.+)$/s;

/**
 * Reads `session-{applicationId}-{integrationId}` (the integration id may itself contain dashes); `undefined`
 * for a name of any other form.
 */
export function sessionStreamParts(streamId: string): SessionStreamName | undefined {
  const match = SESSION_STREAM.exec(streamId);
  return match ? { applicationId: Number(match[1]), integrationId: match[2] } : undefined;
}

/** Reads `session-{applicationId}-{integrationId}`; the integration id may itself contain dashes. */
export function parseSessionStream(streamId: string): SessionStreamName {
  const parts = sessionStreamParts(streamId);
  if (!parts) throw new Error(`Not a session stream: ${streamId}`);
  return parts;
}

const UTC_ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z$/;

/** UTC day (`YYYY-MM-DD`) of an event's ISO-8601 time (one without a zone is UTC, see `eventTimeIso`). */
export function utcDay(iso: string): string {
  // Events carry UTC times (`…Z`): their day is their first ten characters, no Date needed (a hot path of
  // the analytics projections). Any other form (an offset) goes through eventTimeIso.
  return UTC_ISO.test(iso) ? iso.slice(0, 10) : eventTimeIso(iso).slice(0, 10);
}
