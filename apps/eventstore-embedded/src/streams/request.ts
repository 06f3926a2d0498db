import type { StreamIdentifier, UUID } from '@eventstore/db-client/generated/shared_pb';
import { BadRequest } from '../errors';
import { ExpectedRevision, ProposedEvent } from '../storage/types';

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

export function parseUuid(uuid: UUID | undefined): string {
  if (!uuid) throw new BadRequest('An event id is required');
  let text: string;
  if (uuid.hasStructured()) {
    const s = uuid.getStructured();
    const msb = BigInt.asUintN(64, BigInt(s?.getMostSignificantBits() ?? '0'));
    const lsb = BigInt.asUintN(64, BigInt(s?.getLeastSignificantBits() ?? '0'));
    const hex = msb.toString(16).padStart(16, '0') + lsb.toString(16).padStart(16, '0');
    text = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  } else {
    text = uuid.getString().toLowerCase();
  }
  if (!UUID_PATTERN.test(text)) throw new BadRequest(`Invalid event id: ${text}`);
  return text;
}

/** The shape shared by AppendReq.ProposedMessage and BatchAppendReq.ProposedMessage. */
interface ProposedMessageLike {
  getId(): UUID | undefined;
  getMetadataMap(): { get(key: string): string | undefined };
  getData_asU8(): Uint8Array;
  getCustomMetadata_asU8(): Uint8Array;
}

const toBuffer = (u8: Uint8Array): Buffer => Buffer.from(u8.buffer, u8.byteOffset, u8.length);

export function parseProposed(message: ProposedMessageLike): ProposedEvent {
  const metadata = message.getMetadataMap();
  const type = metadata.get('type');
  if (!type) throw new BadRequest('An event type is required');
  return {
    eventId: parseUuid(message.getId()),
    type,
    contentType: metadata.get('content-type') || 'application/octet-stream',
    data: toBuffer(message.getData_asU8()),
    metadata: toBuffer(message.getCustomMetadata_asU8()),
  };
}

/** What counts toward the maximum append size (as EventStoreDB: the event payloads and their type). */
export const proposedSize = (e: ProposedEvent): number =>
  e.data.length + e.metadata.length + Buffer.byteLength(e.type) + Buffer.byteLength(e.contentType);
