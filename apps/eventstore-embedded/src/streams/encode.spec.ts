import { WrongExpectedVersion } from '@eventstore/db-client/generated/shared_pb';
import { BatchAppendResp, ReadResp } from '@eventstore/db-client/generated/streams_pb';
import { wrongExpectedVersionDetail } from '../errors';
import { StoredEvent } from '../storage/types';
import {
  encodeBatchAppendResp,
  encodeCaughtUp,
  encodeCheckpoint,
  encodeConfirmation,
  encodeEventResp,
  encodeStreamNotFound,
} from './encode';

// The hand-written encoders must produce what the client's generated (google-protobuf) classes decode.
describe('wire encoding of responses', () => {
  const event: StoredEvent = {
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

  it('encodes a ReadResp event the client decodes field by field', () => {
    const resp = ReadResp.deserializeBinary(encodeEventResp(event));
    expect(resp.getContentCase()).toBe(ReadResp.ContentCase.EVENT);
    const readEvent = resp.getEvent()!;
    expect(readEvent.getCommitPosition()).toBe(String(event.position));
    const recorded = readEvent.getEvent()!;
    expect(recorded.getId()!.getString()).toBe(event.eventId);
    expect(Buffer.from(recorded.getStreamIdentifier()!.getStreamName_asU8()).toString()).toBe('order-é');
    expect(recorded.getStreamRevision()).toBe('300');
    expect(recorded.getCommitPosition()).toBe(String(event.position));
    expect(recorded.getPreparePosition()).toBe(String(event.position));
    expect(recorded.getMetadataMap().get('type')).toBe('OrderPlaced');
    expect(recorded.getMetadataMap().get('content-type')).toBe('application/json');
    expect(recorded.getMetadataMap().get('created')).toBe('17640000000000000');
    expect(Buffer.from(recorded.getData_asU8()).toString()).toBe('{"a":1}');
    expect(Buffer.from(recorded.getCustomMetadata_asU8())).toEqual(event.metadata);
  });

  it('encodes large payloads whose lengths need more varint bytes', () => {
    const big = { ...event, data: Buffer.alloc(3_000_000, 7), encoded: undefined };
    const recorded = ReadResp.deserializeBinary(encodeEventResp(big)).getEvent()!.getEvent()!;
    expect(recorded.getData_asU8().length).toBe(3_000_000);
  });

  it('encodes confirmation, checkpoint, caught-up and stream-not-found', () => {
    expect(
      ReadResp.deserializeBinary(encodeConfirmation('sub-1')).getConfirmation()!.getSubscriptionId(),
    ).toBe('sub-1');
    const checkpoint = ReadResp.deserializeBinary(encodeCheckpoint(12345)).getCheckpoint()!;
    expect([checkpoint.getCommitPosition(), checkpoint.getPreparePosition()]).toEqual(['12345', '12345']);
    expect(ReadResp.deserializeBinary(encodeCaughtUp()).hasCaughtUp()).toBe(true);
    const notFound = ReadResp.deserializeBinary(encodeStreamNotFound('missing')).getStreamNotFound()!;
    expect(Buffer.from(notFound.getStreamIdentifier()!.getStreamName_asU8()).toString()).toBe('missing');
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
