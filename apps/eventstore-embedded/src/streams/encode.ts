import { ProtoWriter } from '../proto/wire';
import { StoredEvent } from '../storage/types';

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

const mapEntry = (w: ProtoWriter, field: number, key: string, value: string) =>
  w.message(field, (m) => m.stringField(1, key).stringField(2, value));

function recordedEvent(w: ProtoWriter, e: StoredEvent): void {
  w.message(1, (u) => u.stringField(2, e.eventId));
  streamIdentifier(w, 2, e.stream);
  w.uint64Field(3, e.revision);
  w.uint64Field(4, e.position);
  w.uint64Field(5, e.position);
  mapEntry(w, 6, 'type', e.type);
  mapEntry(w, 6, 'content-type', e.contentType);
  mapEntry(w, 6, 'created', String(e.created));
  if (e.metadata.length > 0) w.bytesField(7, e.metadata);
  if (e.data.length > 0) w.bytesField(8, e.data);
}

/** ReadResp { event: ReadEvent { event, commit_position } }, cached on the event for live fan-out. */
export function encodeEventResp(e: StoredEvent): Buffer {
  if (e.encoded) return e.encoded;
  const w = new ProtoWriter(e.data.length + e.metadata.length + e.stream.length + e.type.length + 160);
  w.message(ReadResp.Event, (ev) => {
    ev.message(1, (r) => recordedEvent(r, e));
    ev.uint64Field(3, e.position);
  });
  return (e.encoded = w.finish());
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
