import type { StreamIdentifier } from '@eventstore/db-client/generated/shared_pb';
import { BadRequest } from '../errors';
import { ExpectedRevision, ProposedEvent } from '../storage/types';
import { WireProposedEvent } from './decode';

/** What the Append, BatchAppend, Delete and Tombstone options have in common for the expected revision. */
interface ExpectationOptions {
  hasAny(): boolean;
  hasNoStream(): boolean;
  hasStreamExists?(): boolean;
}

export function parseStreamName(identifier: StreamIdentifier | undefined): string {
  const raw = identifier?.getStreamName_asU8();
  if (!raw || raw.length === 0) throw new BadRequest('A stream identifier is required');
  return Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString('utf8');
}

/** Parses a uint64 carried as a decimal string; values past 2^53 are clamped to MAX_SAFE_INTEGER. */
export function parseUint64(value: string, what: string): number {
  if (!/^\d+$/.test(value)) throw new BadRequest(`Invalid ${what}: ${value}`);
  return Math.min(Number(value), Number.MAX_SAFE_INTEGER);
}

export function parseExpected(options: ExpectationOptions, revision: () => string): ExpectedRevision {
  if (options.hasAny()) return { kind: 'any' };
  if (options.hasNoStream()) return { kind: 'no_stream' };
  if (options.hasStreamExists?.()) return { kind: 'stream_exists' };
  return { kind: 'revision', revision: parseUint64(revision(), 'expected revision') };
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Validates an event id given as text (either UUID form, see decode.ts); lower-cased. */
export function parseEventId(text: string | undefined): string {
  if (text === undefined) throw new BadRequest('An event id is required');
  if (UUID_PATTERN.test(text)) return text;
  const lower = text.toLowerCase();
  if (!UUID_PATTERN.test(lower)) throw new BadRequest(`Invalid event id: ${lower}`);
  return lower;
}

/** An event of an Append/BatchAppend request, as decoded from the wire (decode.ts), validated. */
export function toProposed(event: WireProposedEvent): ProposedEvent {
  if (!event.type) throw new BadRequest('An event type is required');
  return {
    eventId: parseEventId(event.id),
    type: event.type,
    contentType: event.contentType || 'application/octet-stream',
    data: event.data,
    metadata: event.metadata,
  };
}

/** A stream name from decoded options ('' when absent). */
export function requireStreamName(name: string): string {
  if (name.length === 0) throw new BadRequest('A stream identifier is required');
  return name;
}

/** What counts toward the maximum append size (as EventStoreDB: the event payloads and their type). */
export const proposedSize = (e: ProposedEvent): number =>
  e.data.length + e.metadata.length + Buffer.byteLength(e.type) + Buffer.byteLength(e.contentType);
