import {
  Empty,
  StreamIdentifier,
  UUID,
  WrongExpectedVersion,
} from '@eventstore/db-client/generated/shared_pb';
import { BatchAppendResp, ReadResp } from '@eventstore/db-client/generated/streams_pb';
import { wrongExpectedVersionDetail } from '../errors';
import {
  encodeBatchAppendResp,
  encodeCaughtUp,
  encodeCheckpoint,
  encodeConfirmation,
  encodeEventResp,
  encodeStreamNotFound,
  EventFields,
  eventDataOf,
} from './encode';

/** The same ReadResp built with the client's generated (google-protobuf) classes: the generic encoding. */
function genericEventResp(e: EventFields): Uint8Array {
  const recorded = new ReadResp.ReadEvent.RecordedEvent();
  recorded.setId(new UUID().setString(e.eventId));
  recorded.setStreamIdentifier(new StreamIdentifier().setStreamName(Buffer.from(e.stream, 'utf8')));
  recorded.setStreamRevision(String(e.revision));
  recorded.setPreparePosition(String(e.position));
  recorded.setCommitPosition(String(e.position));
  recorded
    .getMetadataMap()
    .set('type', e.type)
    .set('content-type', e.contentType)
    .set('created', String(e.created));
  recorded.setCustomMetadata(e.metadata);
  recorded.setData(e.data);
  const readEvent = new ReadResp.ReadEvent().setEvent(recorded).setCommitPosition(String(e.position));
  return new ReadResp().setEvent(readEvent).serializeBinary();
}

// The hand-written encoders must produce what the client's generated (google-protobuf) classes decode.
describe('wire encoding of responses', () => {
  const event: EventFields = {
    position: 2 ** 40 + 7,
    stream: 'order-é',
    revision: 300,
    eventId: '0b5e2d4c-8d7a-4c4e-9f0a-1b2c3d4e5f60',
    type: 'OrderPlaced',
    contentType: 'application/json',
    data: Buffer.from('{"a":1}'),
    metadata: Buffer.alloc(200, 1),
    created: 17_640_000_000_000_000,
  };
  const cases: Array<[string, EventFields]> = [
    ['data and metadata, large position, non-ASCII stream', event],
    ['no metadata', { ...event, metadata: Buffer.alloc(0) }],
    [
      'neither data nor metadata, first position',
      { ...event, position: 1, revision: 0, data: Buffer.alloc(0), metadata: Buffer.alloc(0) },
    ],
    [
      'the largest safe position and revision',
      { ...event, position: Number.MAX_SAFE_INTEGER, revision: 2 ** 53 - 2 },
    ],
    [
      'non-ASCII type and content type',
      { ...event, type: 'Bestellung-aufgegeben-ü', contentType: 'application/octet-stream' },
    ],
    ['long stream name (2-byte lengths)', { ...event, stream: `s-${'x'.repeat(300)}` }],
  ];

  it.each(cases)('encodes a ReadResp event byte for byte as google-protobuf does: %s', (_, e) => {
    expect(Buffer.from(encodeEventResp(e))).toEqual(Buffer.from(genericEventResp(e)));
  });

  it.each(cases)('encodes a ReadResp event the client decodes field by field: %s', (_, e) => {
    const resp = ReadResp.deserializeBinary(encodeEventResp(e));
    expect(resp.getContentCase()).toBe(ReadResp.ContentCase.EVENT);
    const readEvent = resp.getEvent()!;
    expect(readEvent.getCommitPosition()).toBe(String(e.position));
    expect(readEvent.hasLink()).toBe(false);
    const recorded = readEvent.getEvent()!;
    expect(recorded.getId()!.getString()).toBe(e.eventId);
    expect(Buffer.from(recorded.getStreamIdentifier()!.getStreamName_asU8()).toString()).toBe(e.stream);
    expect(recorded.getStreamRevision()).toBe(String(e.revision));
    expect(recorded.getCommitPosition()).toBe(String(e.position));
    expect(recorded.getPreparePosition()).toBe(String(e.position));
    expect(recorded.getMetadataMap().get('type')).toBe(e.type);
    expect(recorded.getMetadataMap().get('content-type')).toBe(e.contentType);
    expect(recorded.getMetadataMap().get('created')).toBe(String(e.created));
    expect(recorded.getMetadataMap().getLength()).toBe(3);
    expect(Buffer.from(recorded.getData_asU8())).toEqual(Buffer.from(e.data));
    expect(Buffer.from(recorded.getCustomMetadata_asU8())).toEqual(Buffer.from(e.metadata));
  });

  it('encodes large payloads whose lengths need more varint bytes', () => {
    const big = { ...event, data: Buffer.alloc(3_000_000, 7) };
    const encoded = encodeEventResp(big);
    expect(Buffer.from(encoded).equals(Buffer.from(genericEventResp(big)))).toBe(true);
    const recorded = ReadResp.deserializeBinary(encoded).getEvent()!.getEvent()!;
    expect(recorded.getData_asU8().length).toBe(3_000_000);
  });

  it('finds the data of an encoded event (what stream metadata is read from)', () => {
    expect(eventDataOf(encodeEventResp(event)).toString()).toBe('{"a":1}');
    expect(eventDataOf(encodeEventResp({ ...event, data: Buffer.alloc(0) }))).toHaveLength(0);
    expect(() => eventDataOf(encodeCaughtUp())).toThrow();
  });

  it('encodes confirmation, checkpoint, caught-up and stream-not-found as google-protobuf does', () => {
    const generic = {
      confirmation: new ReadResp()
        .setConfirmation(new ReadResp.SubscriptionConfirmation().setSubscriptionId('sub-1'))
        .serializeBinary(),
      checkpoint: new ReadResp()
        .setCheckpoint(new ReadResp.Checkpoint().setCommitPosition('12345').setPreparePosition('12345'))
        .serializeBinary(),
      caughtUp: new ReadResp().setCaughtUp(new ReadResp.CaughtUp()).serializeBinary(),
      notFound: new ReadResp()
        .setStreamNotFound(
          new ReadResp.StreamNotFound().setStreamIdentifier(
            new StreamIdentifier().setStreamName(Buffer.from('missing')),
          ),
        )
        .serializeBinary(),
    };
    expect(Buffer.from(encodeConfirmation('sub-1'))).toEqual(Buffer.from(generic.confirmation));
    expect(Buffer.from(encodeCheckpoint(12345))).toEqual(Buffer.from(generic.checkpoint));
    expect(Buffer.from(encodeCaughtUp())).toEqual(Buffer.from(generic.caughtUp));
    expect(Buffer.from(encodeStreamNotFound('missing'))).toEqual(Buffer.from(generic.notFound));

    expect(
      ReadResp.deserializeBinary(encodeConfirmation('sub-1')).getConfirmation()!.getSubscriptionId(),
    ).toBe('sub-1');
    const checkpoint = ReadResp.deserializeBinary(encodeCheckpoint(12345)).getCheckpoint()!;
    expect([checkpoint.getCommitPosition(), checkpoint.getPreparePosition()]).toEqual(['12345', '12345']);
    expect(ReadResp.deserializeBinary(encodeCaughtUp()).hasCaughtUp()).toBe(true);
    const notFound = ReadResp.deserializeBinary(encodeStreamNotFound('missing')).getStreamNotFound()!;
    expect(Buffer.from(notFound.getStreamIdentifier()!.getStreamName_asU8()).toString()).toBe('missing');
    expect(Empty).toBeDefined();
  });

  it('encodes BatchAppend success and typed errors', () => {
    const ok = BatchAppendResp.deserializeBinary(
      encodeBatchAppendResp({
        correlationId: event.eventId,
        stream: 's',
        success: { currentRevision: 0, position: 9 },
      }),
    );
    expect(ok.getCorrelationId()!.getString()).toBe(event.eventId);
    expect(ok.getSuccess()!.getCurrentRevision()).toBe('0');
    expect(ok.getSuccess()!.getPosition()!.getCommitPosition()).toBe('9');

    const failed = BatchAppendResp.deserializeBinary(
      encodeBatchAppendResp({
        correlationId: event.eventId,
        stream: 's',
        error: wrongExpectedVersionDetail('s', { kind: 'revision', revision: 4 }, -1),
      }),
    );
    const details = failed.getError()!.getDetails()!;
    expect(details.getTypeName()).toBe('event_store.client.WrongExpectedVersion');
    const wev = details.unpack(
      WrongExpectedVersion.deserializeBinary,
      'event_store.client.WrongExpectedVersion',
    )!;
    expect(wev.hasCurrentNoStream()).toBe(true);
    expect(wev.getExpectedStreamPosition()).toBe('4');
    expect(Buffer.from(failed.getStreamIdentifier()!.getStreamName_asU8()).toString()).toBe('s');
  });
});
