import type { Writable } from 'node:stream';

/**
 * Backpressure for server streams. grpc-js' writable (objectMode, highWaterMark 16) says "stop" early;
 * we keep writing until this many messages are queued, then wait for 'drain' (HTTP/2 flow control makes
 * the queue shrink only as fast as the client reads). Memory per slow client stays bounded.
 */
const MAX_QUEUED_MESSAGES = 256;

/** Writes; returns false when the caller must `waitForDrain` before writing more. */
export function write(call: Writable, message: Buffer): boolean {
  return call.write(message) || call.writableLength < MAX_QUEUED_MESSAGES;
}

/** Resolves true once drained, false if the call ended or was cancelled meanwhile. */
export function waitForDrain(call: Writable): Promise<boolean> {
  if (call.destroyed || call.writableEnded) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => () => {
      call.off('drain', onDrain);
      call.off('close', onClose);
      call.off('cancelled', onClose);
      call.off('error', onClose);
      resolve(ok);
    };
    const onDrain = done(true);
    const onClose = done(false);
    call.once('drain', onDrain);
    call.once('close', onClose);
    call.once('cancelled', onClose);
    call.once('error', onClose);
  });
}
