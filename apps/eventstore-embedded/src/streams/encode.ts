import { ProtoWriter } from '../proto/wire';
import { ProtoReader } from '../proto/reader';
import { TOMBSTONE_REVISION } from '../storage/types';

// Field numbers from streams.proto / shared.proto / status.proto (event_store.client.*).
const enum ReadResp {
  Event = 1,
  Confirmation = 2,
  Checkpoint = 3,
  StreamNotFound = 4,
  CaughtUp = 8,
}

const streamIdentifier = (w: ProtoWriter, field: number, stream: string) =>
  w.message(field, (m) => m.bytesField(3, Buffer.from(stream, 'utf8')));

/** What a ReadResp event message is made of (an event as committed: see `EventStore`). */
export interface EventFields {
  position: number;
  stream: string;
  revision: number;
  eventId: string;
  type: string;
  contentType: string;
  /** .NET ticks (100 ns) since the Unix epoch. */
  created: number;
  data: Uint8Array;
  metadata: Uint8Array;
}

/** 2^63 − 1, the revision EventStoreDB gives a tombstone, as a varint (63 one bits: 8 × 0xff, then 0x7f). */
const TOMBSTONE_REVISION_VARINT = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);

/** Bytes of a varint (0 <= value <= 2^53). */
function varintLength(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  let size = 5;
  for (let v = Math.floor(value / 0x800000000); v > 0; v = Math.floor(v / 128)) size++;
  return size;
}

function putVarint(buf: Buffer, pos: number, value: number): number {
  while (value >= 0x80) {
    buf[pos++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  buf[pos++] = value;
  return pos;
}

/** A length-delimited field's tag and length; the caller writes `len` bytes after it. */
function putLen(buf: Buffer, pos: number, tag: number, len: number): number {
  buf[pos++] = tag;
  return putVarint(buf, pos, len);
}

const lenField = (len: number) => 1 + varintLength(len) + len;

/** A uint64 field; proto3 leaves out zero (the default), as google-protobuf does. */
const varintField = (value: number) => (value === 0 ? 0 : 1 + varintLength(value));

function putVarintField(buf: Buffer, pos: number, tag: number, value: number): number {
  if (value === 0) return pos;
  buf[pos++] = tag;
  return putVarint(buf, pos, value);
}

/** UTF-8 length; short ASCII strings (stream names, types, ids) are measured without a native call. */
function utf8Length(value: string): number {
  if (value.length > 64) return Buffer.byteLength(value, 'utf8');
  for (let i = 0; i < value.length; i++)
    if (value.charCodeAt(i) >= 0x80) return Buffer.byteLength(value, 'utf8');
  return value.length;
}

function putString(buf: Buffer, pos: number, tag: number, value: string, bytes: number): number {
  pos = putLen(buf, pos, tag, bytes);
  if (bytes === value.length && bytes <= 64) {
    // ASCII (a UTF-8 length equal to the UTF-16 length): copied here, cheaper than a native write this short.
    for (let i = 0; i < bytes; i++) buf[pos + i] = value.charCodeAt(i);
    return pos + bytes;
  }
  return pos + buf.write(value, pos, bytes, 'utf8');
}

function putBytes(buf: Buffer, pos: number, tag: number, value: Uint8Array): number {
  pos = putLen(buf, pos, tag, value.length);
  buf.set(value, pos);
  return pos + value.length;
}

// Tags (field number << 3 | wire type) of streams.proto / shared.proto, all fields below 16: one byte each.
const LEN = 2;
const tag = (field: number, wireType: number) => (field << 3) | wireType;

/**
 * ReadResp { event: ReadEvent { event: RecordedEvent, commit_position } }: the message a reader receives for an
 * event, exactly sized and written in one pass (no intermediate objects). The log stores it as is, so reads
 * send the stored bytes (see SqliteEventLog). Byte for byte what google-protobuf's serializeBinary writes
 * for the same message (encode.spec.ts).
 */
export function encodeEventResp(e: EventFields): Buffer {
  const created = String(e.created);
  const streamBytes = utf8Length(e.stream);
  const idBytes = utf8Length(e.eventId);
  const typeBytes = utf8Length(e.type);
  const contentTypeBytes = utf8Length(e.contentType);
  const uuid = lenField(idBytes); // Uuid { string = 2 }
  const streamId = lenField(streamBytes); // StreamIdentifier { stream_name = 3 }
  const typeEntry = lenField(4) + lenField(typeBytes); // map entry { key = 1, value = 2 }
  const contentTypeEntry = lenField(12) + lenField(contentTypeBytes);
  const createdEntry = lenField(7) + lenField(created.length);
  const recorded =
    lenField(uuid) +
    lenField(streamId) +
    (e.revision === TOMBSTONE_REVISION ? 1 + TOMBSTONE_REVISION_VARINT.length : varintField(e.revision)) +
    2 * varintField(e.position) +
    lenField(typeEntry) +
    lenField(contentTypeEntry) +
    lenField(createdEntry) +
    (e.metadata.length > 0 ? lenField(e.metadata.length) : 0) +
    (e.data.length > 0 ? lenField(e.data.length) : 0);
  const readEvent = lenField(recorded) + varintField(e.position);
  const buf = Buffer.allocUnsafe(lenField(readEvent));

  let p = putLen(buf, 0, tag(ReadResp.Event, LEN), readEvent);
  p = putLen(buf, p, tag(1, LEN), recorded); // ReadEvent.event
  p = putLen(buf, p, tag(1, LEN), uuid); // RecordedEvent.id
  p = putString(buf, p, tag(2, LEN), e.eventId, idBytes);
  p = putLen(buf, p, tag(2, LEN), streamId); // RecordedEvent.stream_identifier
  p = putString(buf, p, tag(3, LEN), e.stream, streamBytes);
  if (e.revision === TOMBSTONE_REVISION) {
    buf[p++] = tag(3, 0); // stream_revision
    p += TOMBSTONE_REVISION_VARINT.copy(buf, p);
  } else {
    p = putVarintField(buf, p, tag(3, 0), e.revision); // stream_revision
  }
  p = putVarintField(buf, p, tag(4, 0), e.position); // prepare_position
  p = putVarintField(buf, p, tag(5, 0), e.position); // commit_position
  // The metadata map, entries in key order as google-protobuf writes them.
  p = putLen(buf, p, tag(6, LEN), contentTypeEntry);
  p = putString(buf, p, tag(1, LEN), 'content-type', 12);
  p = putString(buf, p, tag(2, LEN), e.contentType, contentTypeBytes);
  p = putLen(buf, p, tag(6, LEN), createdEntry);
  p = putString(buf, p, tag(1, LEN), 'created', 7);
  p = putString(buf, p, tag(2, LEN), created, created.length);
  p = putLen(buf, p, tag(6, LEN), typeEntry);
  p = putString(buf, p, tag(1, LEN), 'type', 4);
  p = putString(buf, p, tag(2, LEN), e.type, typeBytes);
  if (e.metadata.length > 0) p = putBytes(buf, p, tag(7, LEN), e.metadata); // custom_metadata
  if (e.data.length > 0) p = putBytes(buf, p, tag(8, LEN), e.data);
  p = putVarintField(buf, p, tag(3, 0), e.position); // ReadEvent.commit_position
  if (p !== buf.length) throw new Error(`ReadResp sized ${buf.length} bytes but ${p} written`);
  return buf;
}

/** The event's data (RecordedEvent.data) inside an encoded ReadResp event message: a view, no copy. */
export function eventDataOf(resp: Buffer): Buffer {
  const r = new ProtoReader(resp);
  for (const path of [ReadResp.Event, 1]) {
    let found = false;
    while (!r.done) {
      const t = r.tag();
      if (t === tag(path, LEN)) {
        r.end = r.delimited();
        found = true;
        break;
      }
      r.skip(t & 7);
    }
    if (!found) throw new Error('Not a ReadResp event message');
  }
  while (!r.done) {
    const t = r.tag();
    if (t === tag(8, LEN)) return r.bytes();
    r.skip(t & 7);
  }
  return Buffer.alloc(0);
}

export const encodeConfirmation = (subscriptionId: string): Buffer =>
  new ProtoWriter(64).message(ReadResp.Confirmation, (c) => c.stringField(1, subscriptionId)).finish();

export const encodeCheckpoint = (position: number): Buffer =>
  new ProtoWriter(32)
    .message(ReadResp.Checkpoint, (c) => c.uint64Field(1, position).uint64Field(2, position))
    .finish();

export const encodeCaughtUp = (): Buffer => new ProtoWriter(8).emptyMessage(ReadResp.CaughtUp).finish();

export const encodeStreamNotFound = (stream: string): Buffer =>
  new ProtoWriter(64).message(ReadResp.StreamNotFound, (m) => streamIdentifier(m, 1, stream)).finish();

/** google.rpc.Status with an Any detail, as the client's batch-append path unpacks it. */
export interface RpcStatusDetail {
  code: number;
  message: string;
  typeName: string;
  detail: Buffer;
}

export interface BatchAppendResult {
  correlationId: string;
  stream: string;
  success?: { currentRevision: number; position: number | null };
  error?: RpcStatusDetail;
}

export function encodeBatchAppendResp(r: BatchAppendResult): Buffer {
  const w = new ProtoWriter(128);
  w.message(1, (u) => u.stringField(2, r.correlationId));
  if (r.error) {
    const err = r.error;
    w.message(2, (s) => {
      s.uint64Field(1, err.code).stringField(2, err.message);
      s.message(3, (any) =>
        any.stringField(1, `type.googleapis.com/${err.typeName}`).bytesField(2, err.detail),
      );
    });
  } else if (r.success) {
    const ok = r.success;
    w.message(3, (s) => {
      if (ok.currentRevision >= 0) s.uint64Field(1, ok.currentRevision);
      else s.emptyMessage(2);
      if (ok.position !== null)
        s.message(3, (p) => p.uint64Field(1, ok.position!).uint64Field(2, ok.position!));
      else s.emptyMessage(4);
    });
  }
  streamIdentifier(w, 4, r.stream);
  return w.finish();
}
