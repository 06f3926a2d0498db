import { randomBytes, randomUUID } from 'node:crypto';
import { Empty, StreamIdentifier, UUID } from '@eventstore/db-client/generated/shared_pb';
import { AppendReq, BatchAppendReq } from '@eventstore/db-client/generated/streams_pb';
import { Empty as ProtoEmpty } from 'google-protobuf/google/protobuf/empty_pb';
import { Timestamp } from 'google-protobuf/google/protobuf/timestamp_pb';
import { WireError } from '../proto/reader';
import { ProtoWriter } from '../proto/wire';
import { decodeAppendReq, decodeBatchAppendReq } from './decode';
import { parseEventId, toProposed } from './request';

// The hand-written request decoders must read what the client's generated (google-protobuf) classes write.
const bytes = (m: { serializeBinary(): Uint8Array }) => Buffer.from(m.serializeBinary());
const streamId = (name: string) => new StreamIdentifier().setStreamName(Buffer.from(name, 'utf8'));

function proposed<T extends BatchAppendReq.ProposedMessage | AppendReq.ProposedMessage>(
  m: T,
  id: string,
  type: string,
  data: Uint8Array,
  metadata?: Uint8Array,
): T {
  m.setId(new UUID().setString(id));
  m.getMetadataMap().set('type', type).set('content-type', 'application/json').set('other', 'x');
  m.setData(data);
  if (metadata) m.setCustomMetadata(metadata);
  return m;
}

describe('wire decoding of append requests', () => {
  it('decodes a BatchAppendReq as the client writes it', () => {
    const correlation = randomUUID();
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    const data = ids.map((_, i) => Buffer.from(JSON.stringify({ i, note: 'é'.repeat(i * 50) })));
    const req = new BatchAppendReq()
      .setCorrelationId(new UUID().setString(correlation))
      .setOptions(
        new BatchAppendReq.Options()
          .setStreamIdentifier(streamId('order-é'))
          .setAny(new ProtoEmpty())
          .setDeadline(Timestamp.fromDate(new Date())),
      )
      .setProposedMessagesList(
        ids.map((id, i) =>
          proposed(new BatchAppendReq.ProposedMessage(), id, `Type${i}`, data[i], Buffer.from([i, 0, 255])),
        ),
      )
      .setIsFinal(true);
    const decoded = decodeBatchAppendReq(bytes(req));
    expect(decoded.correlationId).toBe(correlation);
    expect(decoded.options).toEqual({ stream: 'order-é', expected: { kind: 'any' } });
    expect(decoded.isFinal).toBe(true);
    expect(decoded.events.map(toProposed)).toEqual(
      ids.map((id, i) => ({
        eventId: id,
        type: `Type${i}`,
        contentType: 'application/json',
        data: data[i],
        metadata: Buffer.from([i, 0, 255]),
      })),
    );
  });

  it('decodes every expected-revision form and a request without options', () => {
    const options = (set: (o: BatchAppendReq.Options) => void) => {
      const o = new BatchAppendReq.Options().setStreamIdentifier(streamId('s'));
      set(o);
      const req = new BatchAppendReq().setCorrelationId(new UUID().setString(randomUUID())).setOptions(o);
      return decodeBatchAppendReq(bytes(req)).options?.expected;
    };
    expect(options((o) => o.setNoStream(new ProtoEmpty()))).toEqual({ kind: 'no_stream' });
    expect(options((o) => o.setStreamExists(new ProtoEmpty()))).toEqual({ kind: 'stream_exists' });
    expect(options((o) => o.setStreamPosition('0'))).toEqual({ kind: 'revision', revision: 0 });
    expect(options((o) => o.setStreamPosition(String(2 ** 40 + 3)))).toEqual({
      kind: 'revision',
      revision: 2 ** 40 + 3,
    });
    expect(options((o) => o.setStreamPosition('18446744073709551615'))).toEqual({
      kind: 'revision',
      revision: Number.MAX_SAFE_INTEGER,
    });
    // Nothing set: google-protobuf's default revision "0".
    expect(options(() => undefined)).toEqual({ kind: 'revision', revision: 0 });

    const chunk = decodeBatchAppendReq(
      bytes(new BatchAppendReq().setCorrelationId(new UUID().setString(randomUUID())).setIsFinal(false)),
    );
    expect(chunk.options).toBeUndefined();
    expect(chunk.events).toEqual([]);
    expect(chunk.isFinal).toBe(false);
    expect(decodeBatchAppendReq(Buffer.alloc(0))).toEqual({
      correlationId: undefined,
      options: undefined,
      events: [],
      isFinal: false,
    });
  });

  it('reads structured UUIDs as the client does, and upper-case ids are lower-cased', () => {
    const structured = new UUID().setStructured(
      new UUID.Structured().setMostSignificantBits('-1').setLeastSignificantBits('81985529216486895'),
    );
    const req = new BatchAppendReq().setCorrelationId(structured);
    expect(decodeBatchAppendReq(bytes(req)).correlationId).toBe('ffffffff-ffff-ffff-0123-456789abcdef');
    const upper = randomUUID().toUpperCase();
    const decoded = decodeBatchAppendReq(
      bytes(new BatchAppendReq().setCorrelationId(new UUID().setString(upper))),
    );
    expect(parseEventId(decoded.correlationId)).toBe(upper.toLowerCase());
  });

  it('decodes AppendReq options and proposed messages', () => {
    const options = new AppendReq().setOptions(
      new AppendReq.Options().setStreamIdentifier(streamId('a-stream')).setRevision('41'),
    );
    expect(decodeAppendReq(bytes(options))).toEqual({
      options: { stream: 'a-stream', expected: { kind: 'revision', revision: 41 } },
    });
    const noStream = new AppendReq().setOptions(
      new AppendReq.Options().setStreamIdentifier(streamId('x')).setNoStream(new Empty()),
    );
    expect(decodeAppendReq(bytes(noStream)).options?.expected).toEqual({ kind: 'no_stream' });

    const id = randomUUID();
    const data = randomBytes(3000);
    const message = new AppendReq().setProposedMessage(
      proposed(new AppendReq.ProposedMessage(), id, 'Thing', data),
    );
    const decoded = decodeAppendReq(bytes(message));
    expect(decoded.options).toBeUndefined();
    expect(toProposed(decoded.proposed!)).toEqual({
      eventId: id,
      type: 'Thing',
      contentType: 'application/json',
      data,
      metadata: Buffer.alloc(0),
    });
    expect(decodeAppendReq(Buffer.alloc(0))).toEqual({});
  });

  it('skips unknown fields of every wire type', () => {
    const known = bytes(
      new BatchAppendReq().setCorrelationId(new UUID().setString(randomUUID())).setIsFinal(true),
    );
    const unknown = new ProtoWriter()
      .uint64Field(20, 12345)
      .bytesField(21, Buffer.from('ignored'))
      .varint(22 * 8 + 1) // fixed64
      .varint(0)
      .varint(0)
      .varint(0)
      .varint(0)
      .varint(0)
      .varint(0)
      .varint(0)
      .varint(0)
      .varint(23 * 8 + 5) // fixed32
      .varint(1)
      .varint(2)
      .varint(3)
      .varint(4)
      .finish();
    const decoded = decodeBatchAppendReq(Buffer.concat([unknown, known]));
    expect(decoded.isFinal).toBe(true);
    expect(decoded.correlationId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('rejects malformed input with a WireError, never reading past the message', () => {
    const valid = bytes(
      new BatchAppendReq()
        .setCorrelationId(new UUID().setString(randomUUID()))
        .setOptions(new BatchAppendReq.Options().setStreamIdentifier(streamId('s')).setAny(new ProtoEmpty()))
        .setProposedMessagesList([
          proposed(new BatchAppendReq.ProposedMessage(), randomUUID(), 't', Buffer.from('{"a":1}')),
        ])
        .setIsFinal(true),
    );
    const garbage = [
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]), // field 0x1fffffff with wire type 7
      Buffer.from([0x00]), // field 0
      Buffer.from([0x0a]), // length missing
      Buffer.from([0x0a, 0x05, 0x01]), // length past the end
      Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), // huge length
      Buffer.from([0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), // 11-byte varint
      Buffer.from([0x08, 0x01]), // correlation id (a message) as a varint
      Buffer.from([0x20, 0x80]), // truncated varint
      Buffer.from([0x1b]), // start group
      Buffer.from([0x99, 0x01, 0x00]), // fixed64 truncated
      valid.subarray(0, valid.length - 3), // truncated inside the proposed message
    ];
    for (const input of garbage) {
      expect(() => decodeBatchAppendReq(input)).toThrow(WireError);
      expect(() => decodeAppendReq(input)).toThrow(WireError);
    }
    expect(() => decodeBatchAppendReq(Buffer.from([0x22, 0x00]))).toThrow(WireError); // is_final as bytes
    // Lengths are checked against the enclosing message, not just the buffer.
    const inner = Buffer.from([0x1a, 0x04, 0x0a, 0x05, 0x01, 0x02, 0x00, 0x00]);
    expect(() => decodeBatchAppendReq(inner)).toThrow(WireError);
  });

  it('survives random bytes: either decodes or throws WireError', () => {
    for (let i = 0; i < 2000; i++) {
      const input = randomBytes(1 + (i % 64));
      for (const decode of [decodeBatchAppendReq, decodeAppendReq]) {
        try {
          decode(input);
        } catch (err) {
          expect(err).toBeInstanceOf(WireError);
        }
      }
    }
  });

  it('leaves semantic validation to the handler', () => {
    const bad = new BatchAppendReq()
      .setCorrelationId(new UUID().setString(randomUUID()))
      .setProposedMessagesList([
        proposed(new BatchAppendReq.ProposedMessage(), 'not-a-uuid', '', Buffer.alloc(0)),
      ]);
    const decoded = decodeBatchAppendReq(bytes(bad));
    expect(decoded.events[0].id).toBe('not-a-uuid');
    expect(() => toProposed(decoded.events[0])).toThrow('An event type is required');
    expect(() => toProposed({ ...decoded.events[0], type: 't' })).toThrow('Invalid event id');
    expect(() => toProposed({ ...decoded.events[0], type: 't', id: undefined })).toThrow(
      'An event id is required',
    );
  });
});
