/**
 * A bound on the large request bodies this process reads and handles at once. Without it every connection could
 * upload its 5 MiB at the same time, and each was read, parsed, validated and decided on the one event loop:
 * 100 connections sending bodies near the limit held ~1 GB of RSS (200: 1.85 GB), and `/health/live`, queued
 * behind their parses and checks (~0.2 s of CPU each), answered after 7–9 s — past any liveness probe's timeout,
 * so an orchestrator would restart a replica that was only busy. Reads of the embedded store's answers queued
 * the same way, and commands were answered 503 "the event store did not answer" by a store that had answered.
 *
 * A body declared over BODY_BUDGET_EXEMPT_BYTES takes its size from BODY_BUDGET_BYTES before a byte of it is
 * read; a body of unknown size (chunked) is read up to that threshold and, once it grows past it, paused until it
 * takes the 5 MiB it may reach — so a small command sent chunked, as some HTTP clients send every body, is never
 * held. A share is given back when the response is finished or the connection closed. A request that does not
 * fit waits, its remaining bytes unread in the kernel's socket buffer, in arrival order (so a large body is never
 * overtaken for good), at most BODY_BUDGET_WAIT_MS: then it is refused, not applied; a smaller body is never held — the many small commands of ordinary traffic do not queue
 * behind uploads. A waiting request's socket is not read, so a client that leaves is mostly noticed at its turn:
 * an unfinished body then fails at once (logged 499 by request-context.ts, nothing run) and its share is given
 * back; a close seen earlier drops it from the queue.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** What the bodies being read or handled may declare in all: about three bodies at the 5 MiB limit. */
export const BODY_BUDGET_BYTES = 16 * 1024 * 1024;

/** Bodies up to this size are never held: a command of a few cart lines is far below it. */
export const BODY_BUDGET_EXEMPT_BYTES = 64 * 1024;

/**
 * The longest a request waits for its share, in ms (the event store's default call deadline): past it the
 * request is refused, unread and not applied. Without a bound it would wait until Node's `requestTimeout`
 * (5 minutes) answered it 408, and one whose client had sent its whole body and left meanwhile — its socket
 * is not read while it waits, so its leaving goes unseen — would be applied minutes later.
 */
export const BODY_BUDGET_WAIT_MS = 10_000;

/**
 * Requests whose `100 Continue` waits for their body's share (server-hooks.ts holds it, JsonBodyMiddleware sends
 * it once the share is taken). A request that never gets that far is answered without it, its body unsent.
 */
const heldContinues = new WeakSet<IncomingMessage>();

export function holdContinue(req: IncomingMessage): void {
  heldContinues.add(req);
}

/** Sends the `100 Continue` held for `req`, if one was. */
export function sendHeldContinue(req: IncomingMessage, res: ServerResponse): void {
  if (heldContinues.delete(req) && !res.closed) res.writeContinue();
}

/** A request that found no room in the body budget within its wait. */
export class BodyBudgetWaitError extends Error {
  constructor(readonly waitedMs: number) {
    super(`No room in the body budget within ${waitedMs} ms`);
    this.name = 'BodyBudgetWaitError';
  }
}

interface Waiter {
  bytes: number;
  admit: () => void;
}

export class BodyBudget {
  private reserved = 0;
  private readonly queue: Waiter[] = [];

  constructor(private readonly capacity = BODY_BUDGET_BYTES) {}

  /** Bytes taken by the bodies being read or handled, and the requests waiting for their turn (for /metrics). */
  usage(): { reservedBytes: number; waiting: number } {
    return { reservedBytes: this.reserved, waiting: this.queue.length };
  }

  /**
   * Resolves once `bytes` fit beside the bodies being read or handled, after those that waited before it; rejects
   * with `BodyBudgetWaitError` when they do not within `waitMs`. The share is given back when `res` closes
   * (finished or cut). If the connection closes while the request waits, the promise never settles: nobody is
   * left to answer, and nothing of it ran.
   */
  reserve(res: ServerResponse, bytes: number, waitMs = BODY_BUDGET_WAIT_MS): Promise<void> {
    // Gone already (while it was being authenticated or read): its 'close' has been emitted and would never give
    // back a share.
    if (res.closed) return new Promise(() => undefined);
    // Never more than the whole budget, so that any body can be admitted on its own.
    const share = Math.min(bytes, this.capacity);
    return new Promise((resolve, reject) => {
      let admitted = false;
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        bytes: share,
        admit: () => {
          admitted = true;
          clearTimeout(timer);
          this.reserved += share;
          resolve();
        },
      };
      res.once('close', () => {
        if (admitted) {
          this.reserved -= share;
          this.admitWaiting();
        } else {
          clearTimeout(timer);
          this.leave(waiter);
        }
      });
      this.queue.push(waiter);
      this.admitWaiting();
      if (!admitted) {
        timer = setTimeout(() => {
          this.leave(waiter);
          reject(new BodyBudgetWaitError(waitMs));
        }, waitMs);
      }
    });
  }

  /** Takes a waiter out of the queue; the first in line leaving may let the next ones in. */
  private leave(waiter: Waiter): void {
    const at = this.queue.indexOf(waiter);
    if (at >= 0) this.queue.splice(at, 1);
    if (at === 0) this.admitWaiting();
  }

  /** Admits waiters from the front while they fit (strict arrival order: no large body is overtaken). */
  private admitWaiting(): void {
    while (this.queue.length > 0 && this.reserved + this.queue[0]!.bytes <= this.capacity) {
      this.queue.shift()!.admit();
    }
  }
}
