import type { ServerWritableStream } from '@grpc/grpc-js';
import type { Writable } from 'node:stream';
import type { ReadReq } from '@eventstore/db-client/generated/streams_pb';

type Call = ServerWritableStream<ReadReq, Buffer>;

/** Frames are gathered up to this size before one HTTP/2 write (a little under 4 HTTP/2 DATA frames). */
const BATCH_BYTES = 64 * 1024;
/** Bytes queued on the HTTP/2 stream (not yet taken by the client's flow-control window) before waiting. */
const MAX_QUEUED_BYTES = 512 * 1024;
/** Per-message path: messages queued on the call before waiting (see `MessageSink`). */
const MAX_QUEUED_MESSAGES = 256;

/**
 * The parts of grpc-js' `BaseServerInterceptingCall` (grpc-js 1.14, the call object behind a server stream when
 * the server has no interceptors) that let us write framed messages to its HTTP/2 stream ourselves.
 */
interface GrpcBaseCall {
  stream: Writable;
  checkCancelled(): boolean;
  maybeSendMetadata(): void;
}

function baseCallOf(call: Call): GrpcBaseCall | null {
  const base = (call as unknown as { call?: Partial<GrpcBaseCall> & object }).call;
  if (
    !base ||
    base.constructor?.name !== 'BaseServerInterceptingCall' ||
    typeof base.checkCancelled !== 'function' ||
    typeof base.maybeSendMetadata !== 'function' ||
    !base.stream ||
    typeof base.stream.write !== 'function'
  )
    return null;
  return base as GrpcBaseCall;
}

/**
 * Where a Read call's responses go: ReadResp messages (already protobuf-encoded, see encode.ts) are framed
 * (gRPC's 5-byte length prefix) into one buffer and written to the HTTP/2 stream together: one write per
 * ~64 KiB instead of two Writable round trips, a copy and a native write request per message (grpc-js' path).
 * Backpressure counts bytes queued on the HTTP/2 stream, which the client's flow-control window drains.
 *
 * Everything sent on the call must go through the sink (it bypasses the call's own Writable, so a message
 * written there could overtake or fall behind ours). `end()` / `fail()` flush first.
 */
export interface ReadSink {
  /** Queues one encoded ReadResp; sent at the latest by the next `flush()`. */
  push(message: Buffer): void;
  /** True once enough is queued (sent or not) that the caller should flush and wait before pushing more. */
  saturated(): boolean;
  /** Sends what is queued; false when the caller must `drained()` before pushing more. */
  flush(): boolean;
  /** Resolves true once the client took enough, false if the call ended or was cancelled meanwhile. */
  drained(): Promise<boolean>;
  /** Flushes and ends the call with status OK. */
  end(): void;
  /** Flushes and ends the call with `error` (a grpc service error). */
  fail(error: Error): void;
}

export function readSink(call: Call): ReadSink {
  const base = baseCallOf(call);
  return base ? new FramedSink(call, base) : new MessageSink(call);
}

class FramedSink implements ReadSink {
  private batch = Buffer.allocUnsafe(BATCH_BYTES);
  private used = 0;
  private readonly stream: Writable;

  constructor(
    private readonly call: Call,
    private readonly base: GrpcBaseCall,
  ) {
    this.stream = base.stream;
    // A write on a stream reset by the client fails; the stream's close cancels the call (grpc-js).
    this.stream.on('error', () => undefined);
  }

  push(message: Buffer): void {
    const size = message.length + 5;
    if (this.used + size > this.batch.length) {
      this.send();
      if (size > this.batch.length) this.batch = Buffer.allocUnsafe(size);
    }
    const b = this.batch;
    const p = this.used;
    b[p] = 0; // not compressed
    b.writeUInt32BE(message.length, p + 1);
    message.copy(b, p + 5);
    this.used = p + size;
  }

  saturated(): boolean {
    return this.used + this.stream.writableLength >= MAX_QUEUED_BYTES;
  }

  flush(): boolean {
    this.send();
    return this.stream.writableLength < MAX_QUEUED_BYTES && !this.base.checkCancelled();
  }

  private send(): void {
    if (this.used === 0) return;
    const chunk = this.batch.subarray(0, this.used);
    this.batch = Buffer.allocUnsafe(BATCH_BYTES); // the written one stays referenced until it is sent
    this.used = 0;
    if (this.base.checkCancelled()) return;
    this.base.maybeSendMetadata();
    this.stream.write(chunk);
  }

  drained(): Promise<boolean> {
    const stream = this.stream;
    if (this.base.checkCancelled() || stream.destroyed || stream.writableEnded) return Promise.resolve(false);
    if (stream.writableLength < MAX_QUEUED_BYTES) return Promise.resolve(true);
    return waitFor(stream, this.call);
  }

  end(): void {
    this.send();
    if (!this.call.cancelled) this.call.end();
  }

  fail(error: Error): void {
    this.send();
    if (!this.call.cancelled) this.call.emit('error', error);
  }
}

/**
 * The portable path (grpc-js internals not as expected): one `call.write` per message. grpc-js' writable
 * (objectMode, highWaterMark 16) says "stop" early; we keep writing until MAX_QUEUED_MESSAGES are queued.
 */
class MessageSink implements ReadSink {
  private full = false;

  constructor(private readonly call: Call) {}

  push(message: Buffer): void {
    if (!this.call.write(message) && this.call.writableLength >= MAX_QUEUED_MESSAGES) this.full = true;
  }

  saturated(): boolean {
    return this.full;
  }

  flush(): boolean {
    const ok = !this.full;
    this.full = false;
    return ok && !this.call.cancelled;
  }

  drained(): Promise<boolean> {
    const call = this.call;
    if (call.cancelled || call.destroyed || call.writableEnded) return Promise.resolve(false);
    if (call.writableLength < MAX_QUEUED_MESSAGES) return Promise.resolve(true);
    return waitFor(call, call);
  }

  end(): void {
    if (!this.call.cancelled) this.call.end();
  }

  fail(error: Error): void {
    if (!this.call.cancelled) this.call.emit('error', error);
  }
}

/** Resolves true on `drain` of `stream`, false if `call` closes, is cancelled or fails first. */
function waitFor(stream: Writable, call: Call): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => () => {
      stream.off('drain', onDrain);
      stream.off('close', onClose);
      call.off('close', onClose);
      call.off('cancelled', onClose);
      call.off('error', onClose);
      resolve(ok);
    };
    const onDrain = done(true);
    const onClose = done(false);
    stream.once('drain', onDrain);
    stream.once('close', onClose);
    call.once('close', onClose);
    call.once('cancelled', onClose);
    call.once('error', onClose);
  });
}
