/**
 * Domain events ↔ stored events. The event type is the domain's explicit type name, the data is the payload
 * as is (already JSON-native), and the metadata says which schema version wrote it and which request caused
 * it. Reading brings old schema versions up to date with the domain's pure upcasters before anyone folds them;
 * writing uses each type's write version, brought down by a downcaster while a newer version is rolled out
 * readers first (`EventSchemas` in the domain's upcast.ts). Both take the domain's registry unless told otherwise
 * (unit tests give another).
 */
import {
  EventUpcastError,
  SESSION_EVENT_SCHEMAS,
  storedSchemaVersion,
  type EventSchemas,
  type SessionEvent,
} from '@session-engine/session-domain';
import type { EventToAppend, JsonObject, StoredEvent } from './esdb-client.adapter';

export interface CommandMetadata {
  commandId: string;
  correlationId: string;
  causationId?: string;
  idempotencyKey?: string;
  /** `IdempotencyStore.token` of the key's scope: how a retry recognises this command in the stream. */
  idempotencyToken?: string;
  /** SHA-256 of the keyed request (body and query), to tell a retry from a reuse of the key. */
  requestHash?: string;
  /** Id of the API key that sent the request — never the key itself. */
  actor: string;
}

export interface SessionEventMetadata extends CommandMetadata {
  schemaVersion: number;
}

export interface RecordedSessionEvent {
  /** Absent on events; tells them from a `RecordedTombstone` among `RecordedSessionItem`s. */
  kind?: 'event';
  streamName: string;
  revision: bigint;
  position?: bigint;
  created: string;
  event: SessionEvent;
  metadata: SessionEventMetadata;
}

/**
 * A session stream deleted for good (an erasure): the `$streamDeleted` event the store writes into the stream it
 * tombstones, after the stream's events in `$all`. The session readers of `$all` hand it on in log order, so
 * that the projections remove the session's rows.
 */
export interface RecordedTombstone {
  kind: 'tombstone';
  streamName: string;
  /** Commit position of the `$streamDeleted` event in `$all`. */
  position?: bigint;
  created: string;
}

/** What the session readers of `$all` hand on: session events, and tombstones of session streams. */
export type RecordedSessionItem = RecordedSessionEvent | RecordedTombstone;

export function toEventToAppend(
  event: SessionEvent,
  metadata: CommandMetadata,
  schemas: EventSchemas = SESSION_EVENT_SCHEMAS,
): EventToAppend {
  const { schemaVersion, data } = schemas.toWritten(event);
  const meta: JsonObject = {
    schemaVersion,
    commandId: metadata.commandId,
    correlationId: metadata.correlationId,
  };
  if (metadata.causationId !== undefined) meta.causationId = metadata.causationId;
  if (metadata.idempotencyKey !== undefined) meta.idempotencyKey = metadata.idempotencyKey;
  if (metadata.idempotencyToken !== undefined) meta.idempotencyToken = metadata.idempotencyToken;
  if (metadata.requestHash !== undefined) meta.requestHash = metadata.requestHash;
  meta.actor = metadata.actor;
  return { type: event.type, data: data as JsonObject, metadata: meta };
}

/**
 * How a reader that knows `schemas` reads a stored session event, upcast (`fromStoredEvent` is the domain's;
 * tests build a newer or older build's). It throws EventUpcastError for one that build cannot read: an unknown
 * type, a schema version above the ones it reads, or a `schemaVersion` that is not a positive integer (`"3"`,
 * `2.5`, `null`, `0` — refused, as the profile-claim reader and the replay CLI refuse them, not read as version
 * 1). Metadata without `schemaVersion` is version 1: events written before versions existed. One argument, so
 * that `stored.map(read)` stays safe.
 */
export function storedEventReader(schemas: EventSchemas): (stored: StoredEvent) => RecordedSessionEvent {
  return (stored) => {
    if (stored.unreadable !== undefined)
      throw new EventUpcastError(`${stored.type} is no event this build can read: ${stored.unreadable}`);
    const declared = storedSchemaVersion(stored.metadata);
    const event = schemas.upcast(stored.type, declared, stored.data);
    const schemaVersion = declared as number; // upcast refused anything but a positive integer
    return {
      streamName: stored.streamName,
      revision: stored.revision,
      position: stored.position,
      created: stored.created,
      event,
      metadata: { ...(stored.metadata as unknown as SessionEventMetadata), schemaVersion },
    };
  };
}

/** A stored session event read by this build (`storedEventReader` of the domain's schemas). */
export const fromStoredEvent: (stored: StoredEvent) => RecordedSessionEvent =
  storedEventReader(SESSION_EVENT_SCHEMAS);

export const sessionStreamName = (applicationId: number, integrationId: string): string =>
  `session-${applicationId}-${integrationId}`;

export const profileStreamName = (applicationId: number, profileId: string): string =>
  `profile-${applicationId}-${profileId}`;
