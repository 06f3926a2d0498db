import { ProtoReader, WireType } from '../proto/reader';
import { ExpectedRevision } from '../storage/types';

/**
 * Hand-written decoders for the append requests (registered as the grpc-js `requestDeserialize` of
 * Streams.Append and Streams.BatchAppend): plain objects straight from the bytes, data and metadata as views
 * of the received message, instead of google-protobuf message objects and getters per event.
 *
 * They mirror what the client's generated classes (google-protobuf) read: the last occurrence of a field or
 * of a oneof member wins, unknown fields are skipped, absent fields take their default. Field numbers are
 * those of streams.proto / shared.proto of @eventstore/db-client. Only the wire format is checked here
 * (malformed input throws); what the values mean (event ids, stream names, types) is validated by the
 * handlers, so that one bad event fails its append and not the whole BatchAppend call.
 */

export interface WireProposedEvent {
  /** The event id as text (from either UUID form, not yet validated); undefined when absent. */
  id: string | undefined;
  /** The `type` and `content-type` metadata entries ('' when absent). */
  type: string;
  contentType: string;
  data: Buffer;
  metadata: Buffer;
}

export interface WireAppendOptions {
  /** The stream name ('' when there is no stream identifier). */
  stream: string;
  /** The expected revision; none given reads as revision 0, as google-protobuf's default does. */
  expected: ExpectedRevision;
}

export interface WireBatchAppendReq {
  correlationId: string | undefined;
  options: WireAppendOptions | undefined;
  events: WireProposedEvent[];
  isFinal: boolean;
}

/** AppendReq: oneof content { options = 1; proposed_message = 2 } (the last one sent wins). */
export interface WireAppendReq {
  options?: WireAppendOptions;
  proposed?: WireProposedEvent;
}

const EMPTY = Buffer.alloc(0);
const TAG = (field: number, wireType: WireType) => field * 8 + wireType;

/** Reads the payload of the length-delimited field at `r.pos` with `body`, bounded to that payload. */
function embedded<T>(r: ProtoReader, body: (m: ProtoReader) => T): T {
  const end = r.delimited();
  const m = new ProtoReader(r.buf, r.pos, end);
  const value = body(m);
  r.pos = end;
  return value;
}

const hex = (v: bigint) => v.toString(16).padStart(16, '0');

/** event_store.client.UUID: oneof value { Structured structured = 1 (int64 msb = 1, lsb = 2); string string = 2 }. */
function readUuid(m: ProtoReader): string {
  let text = '';
  while (!m.done) {
    const tag = m.tag();
    if (tag === TAG(2, WireType.Len)) {
      text = m.string();
    } else if (tag === TAG(1, WireType.Len)) {
      let msb = 0n;
      let lsb = 0n;
      embedded(m, (s) => {
        while (!s.done) {
          const t = s.tag();
          if (t === TAG(1, WireType.Varint)) msb = s.varint64();
          else if (t === TAG(2, WireType.Varint)) lsb = s.varint64();
          else if (t >>> 3 === 1 || t >>> 3 === 2) ProtoReader.expect(t & 7, WireType.Varint, t >>> 3);
          else s.skip(t & 7);
        }
      });
      const h = hex(msb) + hex(lsb);
      text = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
    } else {
      knownWireType(tag, 2);
      m.skip(tag & 7);
    }
  }
  return text;
}

/** Rejects a field numbered 1..maxField (all length-delimited in these messages) sent with another wire type. */
function knownWireType(tag: number, maxField: number): void {
  const field = tag >>> 3;
  if (field <= maxField) ProtoReader.expect(tag & 7, WireType.Len, field);
}

/** event_store.client.StreamIdentifier { bytes stream_name = 3 }. */
function readStreamName(m: ProtoReader): string {
  let name = '';
  while (!m.done) {
    const tag = m.tag();
    if (tag === TAG(3, WireType.Len)) name = m.string();
    else {
      if (tag >>> 3 === 3) ProtoReader.expect(tag & 7, WireType.Len, 3);
      m.skip(tag & 7);
    }
  }
  return name;
}

// Map keys compared as bytes, without making a string of them.
const TYPE_KEY = Buffer.from('type');
const CONTENT_TYPE_KEY = Buffer.from('content-type');
const enum MetadataKey {
  Other,
  Type,
  ContentType,
}

function keyOf(buf: Buffer, start: number, end: number): MetadataKey {
  const len = end - start;
  const key = len === TYPE_KEY.length ? TYPE_KEY : len === CONTENT_TYPE_KEY.length ? CONTENT_TYPE_KEY : null;
  if (!key) return MetadataKey.Other;
  for (let i = 0; i < len; i++) if (buf[start + i] !== key[i]) return MetadataKey.Other;
  return key === TYPE_KEY ? MetadataKey.Type : MetadataKey.ContentType;
}

/**
 * ProposedMessage (same layout in AppendReq and BatchAppendReq): UUID id = 1; map<string, string> metadata = 2;
 * bytes custom_metadata = 3; bytes data = 4.
 */
function readProposed(m: ProtoReader): WireProposedEvent {
  const event: WireProposedEvent = {
    id: undefined,
    type: '',
    contentType: '',
    data: EMPTY,
    metadata: EMPTY,
  };
  while (!m.done) {
    const tag = m.tag();
    switch (tag) {
      case TAG(1, WireType.Len):
        event.id = embedded(m, readUuid);
        break;
      case TAG(2, WireType.Len): {
        // A map entry: string key = 1; string value = 2.
        const end = m.delimited();
        const e = new ProtoReader(m.buf, m.pos, end);
        let key = MetadataKey.Other;
        let value = '';
        while (!e.done) {
          const t = e.tag();
          if (t === TAG(1, WireType.Len)) {
            const keyEnd = e.delimited();
            key = keyOf(e.buf, e.pos, keyEnd);
            e.pos = keyEnd;
          } else if (t === TAG(2, WireType.Len)) {
            value = e.string();
          } else {
            knownWireType(t, 2);
            e.skip(t & 7);
          }
        }
        m.pos = end;
        if (key === MetadataKey.Type) event.type = value;
        else if (key === MetadataKey.ContentType) event.contentType = value;
        break;
      }
      case TAG(3, WireType.Len):
        event.metadata = m.bytes();
        break;
      case TAG(4, WireType.Len):
        event.data = m.bytes();
        break;
      default:
        knownWireType(tag, 4);
        m.skip(tag & 7);
    }
  }
  return event;
}

/**
 * Append/BatchAppend options: StreamIdentifier stream_identifier = 1; oneof expected { uint64 revision = 2;
 * Empty no_stream = 3; Empty any = 4; Empty stream_exists = 5 }; (BatchAppend: Timestamp deadline = 6, ignored).
 */
function readOptions(m: ProtoReader): WireAppendOptions {
  let stream = '';
  let expected: ExpectedRevision = { kind: 'revision', revision: 0 };
  while (!m.done) {
    const tag = m.tag();
    switch (tag) {
      case TAG(1, WireType.Len):
        stream = embedded(m, readStreamName);
        break;
      case TAG(2, WireType.Varint):
        expected = { kind: 'revision', revision: Math.min(m.varint(), Number.MAX_SAFE_INTEGER) };
        break;
      case TAG(3, WireType.Len):
        m.skip(WireType.Len);
        expected = { kind: 'no_stream' };
        break;
      case TAG(4, WireType.Len):
        m.skip(WireType.Len);
        expected = { kind: 'any' };
        break;
      case TAG(5, WireType.Len):
        m.skip(WireType.Len);
        expected = { kind: 'stream_exists' };
        break;
      default: {
        const field = tag >>> 3;
        if (field === 2) ProtoReader.expect(tag & 7, WireType.Varint, field);
        else if (field <= 6) ProtoReader.expect(tag & 7, WireType.Len, field);
        m.skip(tag & 7);
      }
    }
  }
  return { stream, expected };
}

/**
 * BatchAppendReq: UUID correlation_id = 1; Options options = 2; repeated ProposedMessage proposed_messages = 3;
 * bool is_final = 4.
 */
export function decodeBatchAppendReq(buf: Buffer): WireBatchAppendReq {
  const r = new ProtoReader(buf);
  const req: WireBatchAppendReq = {
    correlationId: undefined,
    options: undefined,
    events: [],
    isFinal: false,
  };
  while (!r.done) {
    const tag = r.tag();
    switch (tag) {
      case TAG(1, WireType.Len):
        req.correlationId = embedded(r, readUuid);
        break;
      case TAG(2, WireType.Len):
        req.options = embedded(r, readOptions);
        break;
      case TAG(3, WireType.Len):
        req.events.push(embedded(r, readProposed));
        break;
      case TAG(4, WireType.Varint):
        req.isFinal = r.varint() !== 0;
        break;
      default: {
        const field = tag >>> 3;
        if (field === 4) ProtoReader.expect(tag & 7, WireType.Varint, field);
        else knownWireType(tag, 3);
        r.skip(tag & 7);
      }
    }
  }
  return req;
}

/** AppendReq: oneof content { Options options = 1; ProposedMessage proposed_message = 2 }. */
export function decodeAppendReq(buf: Buffer): WireAppendReq {
  const r = new ProtoReader(buf);
  let req: WireAppendReq = {};
  while (!r.done) {
    const tag = r.tag();
    if (tag === TAG(1, WireType.Len)) req = { options: embedded(r, readOptions) };
    else if (tag === TAG(2, WireType.Len)) req = { proposed: embedded(r, readProposed) };
    else {
      knownWireType(tag, 2);
      r.skip(tag & 7);
    }
  }
  return req;
}
