import type { SessionEvent } from '@session-engine/session-domain';

/**
 * A session event as the projections receive it from the `$all` subscription: the domain event
 * (already upcast) plus where it sits in its stream and in the log.
 */
export interface ProjectedEvent<E extends SessionEvent = SessionEvent> {
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

export interface SessionStreamName {
  applicationId: number;
  integrationId: string;
}

const SESSION_STREAM = /^session-(\d+)-(.+)$/s;

/** Reads `session-{applicationId}-{integrationId}`; the integration id may itself contain dashes. */
export function parseSessionStream(streamId: string): SessionStreamName {
  const match = SESSION_STREAM.exec(streamId);
  if (!match) throw new Error(`Not a session stream: ${streamId}`);
  return { applicationId: Number(match[1]), integrationId: match[2] };
}

/** UTC day (`YYYY-MM-DD`) of an ISO-8601 time. */
export function utcDay(iso: string): string {
  return new Date(iso).toISOString().slice(0, 10);
}
