import { Metadata, status, ServiceError } from '@grpc/grpc-js';
import { ProtoWriter } from './proto/wire';
import { RpcStatusDetail } from './streams/encode';
import { ExpectedRevision } from './storage/types';

/**
 * The errors EventStoreDB reports, in the two shapes @eventstore/db-client maps:
 * - gRPC status + trailers (`exception`, `stream-name`, ...) read by `convertToCommandError` (unary/stream calls);
 * - a google.rpc.Status with a typed Any detail inside a BatchAppendResp (`unpackToCommandError`).
 */

/** A client's malformed request; answered with INVALID_ARGUMENT, never a crash. */
export class BadRequest extends Error {}

export const DEFAULT_MAX_APPEND_SIZE = 1024 * 1024;

// google.rpc.Code values used in BatchAppendResp.error.
const RPC_CODE = { INVALID_ARGUMENT: 3, FAILED_PRECONDITION: 9, INTERNAL: 13, UNAVAILABLE: 14 } as const;

function serviceError(code: status, details: string, trailers: Record<string, string> = {}): ServiceError {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(trailers)) metadata.set(key, value);
  return Object.assign(new Error(details), { code, details, metadata });
}

/** EventStoreDB's numeric form of an expectation: -2 any, -1 no stream, -4 stream exists. */
function expectedVersionNumber(expected: ExpectedRevision): number {
  switch (expected.kind) {
    case 'any':
      return -2;
    case 'no_stream':
      return -1;
    case 'stream_exists':
      return -4;
    case 'revision':
      return expected.revision;
  }
}

export function wrongExpectedVersionError(
  stream: string,
  expected: ExpectedRevision,
  currentRevision: number,
): ServiceError {
  const trailers: Record<string, string> = {
    exception: 'wrong-expected-version',
    'stream-name': stream,
    'expected-version': String(expectedVersionNumber(expected)),
  };
  if (currentRevision >= 0) trailers['actual-version'] = String(currentRevision);
  return serviceError(
    status.FAILED_PRECONDITION,
    `Append failed due to WrongExpectedVersion. Stream: ${stream}, Expected version: ${expectedVersionNumber(expected)}, Actual version: ${currentRevision}`,
    trailers,
  );
}

export const streamDeletedError = (stream: string): ServiceError =>
  serviceError(status.FAILED_PRECONDITION, `Event stream '${stream}' is deleted.`, {
    exception: 'stream-deleted',
    'stream-name': stream,
  });

export const maxAppendSizeExceededError = (maxAppendSize: number): ServiceError =>
  serviceError(status.INVALID_ARGUMENT, `Maximum Append Size of ${maxAppendSize} Exceeded.`, {
    exception: 'maximum-append-size-exceeded',
    'maximum-append-size': String(maxAppendSize),
  });

export const invalidArgumentError = (message: string): ServiceError =>
  serviceError(status.INVALID_ARGUMENT, message);

export const unavailableError = (message: string): ServiceError => serviceError(status.UNAVAILABLE, message);

export const internalError = (message: string): ServiceError => serviceError(status.INTERNAL, message);

/** Maps anything thrown while handling a request to a status the client understands. */
export function toServiceError(err: unknown): ServiceError {
  if (err instanceof BadRequest) return invalidArgumentError(err.message);
  if (err && typeof err === 'object' && 'code' in err && 'metadata' in err) return err as ServiceError;
  return internalError(err instanceof Error ? err.message : String(err));
}

// ---- BatchAppend: google.rpc.Status details -------------------------------------------------------------

export function wrongExpectedVersionDetail(
  stream: string,
  expected: ExpectedRevision,
  currentRevision: number,
): RpcStatusDetail {
  const w = new ProtoWriter(32);
  if (currentRevision >= 0) w.uint64Field(1, currentRevision);
  else w.emptyMessage(2);
  switch (expected.kind) {
    case 'revision':
      w.uint64Field(3, expected.revision);
      break;
    case 'any':
      w.emptyMessage(4);
      break;
    case 'stream_exists':
      w.emptyMessage(5);
      break;
    case 'no_stream':
      w.emptyMessage(6);
      break;
  }
  return {
    code: RPC_CODE.FAILED_PRECONDITION,
    message: `WrongExpectedVersion on stream ${stream}`,
    typeName: 'event_store.client.WrongExpectedVersion',
    detail: w.finish(),
  };
}

export const streamDeletedDetail = (stream: string): RpcStatusDetail => ({
  code: RPC_CODE.FAILED_PRECONDITION,
  message: `Event stream '${stream}' is deleted.`,
  typeName: 'event_store.client.StreamDeleted',
  detail: new ProtoWriter(64).message(1, (s) => s.bytesField(3, Buffer.from(stream, 'utf8'))).finish(),
});

export const maxAppendSizeDetail = (maxAppendSize: number): RpcStatusDetail => ({
  code: RPC_CODE.INVALID_ARGUMENT,
  message: `Maximum Append Size of ${maxAppendSize} Exceeded.`,
  typeName: 'event_store.client.MaximumAppendSizeExceeded',
  detail: new ProtoWriter(16).uint64Field(1, maxAppendSize).finish(),
});

export const unknownDetail = (message: string): RpcStatusDetail => ({
  code: RPC_CODE.INTERNAL,
  message,
  typeName: 'event_store.client.Unknown',
  detail: Buffer.alloc(0),
});
