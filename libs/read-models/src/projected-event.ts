import type { SessionEvent } from '@session-engine/session-domain';
import { eventTimeIso } from './instant';

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
