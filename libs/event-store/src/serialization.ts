/**
 * Domain events ↔ stored events. The event type is the domain's explicit type name, the data is the payload
 * as is (already JSON-native), and the metadata says which schema version wrote it and which request caused
 * it. Reading brings old schema versions up to date with the domain's pure upcasters before anyone folds them.
 */
import { SESSION_EVENT_SCHEMA_VERSIONS, upcast, type SessionEvent } from '@session-engine/session-domain';
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
  streamName: string;
  revision: bigint;
  position?: bigint;
  created: string;
  event: SessionEvent;
  metadata: SessionEventMetadata;
}

export function toEventToAppend(event: SessionEvent, metadata: CommandMetadata): EventToAppend {
  const schemaVersion = SESSION_EVENT_SCHEMA_VERSIONS[event.type];
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
  return { type: event.type, data: event.data as unknown as JsonObject, metadata: meta };
}

export function fromStoredEvent(stored: StoredEvent): RecordedSessionEvent {
  const rawVersion = stored.metadata.schemaVersion;
  const schemaVersion = typeof rawVersion === 'number' && Number.isInteger(rawVersion) ? rawVersion : 1;
  return {
    streamName: stored.streamName,
    revision: stored.revision,
    position: stored.position,
    created: stored.created,
    event: upcast(stored.type, schemaVersion, stored.data),
    metadata: { ...(stored.metadata as unknown as SessionEventMetadata), schemaVersion },
  };
}

export const sessionStreamName = (applicationId: number, integrationId: string): string =>
  `session-${applicationId}-${integrationId}`;

export const profileStreamName = (applicationId: number, profileId: string): string =>
  `profile-${applicationId}-${profileId}`;
