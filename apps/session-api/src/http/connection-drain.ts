/**
 * Graceful close of the HTTP server on keep-alive connections. Node's `server.close()` stops accepting and
 * closes the connections idle at that instant, then waits for the rest; but a client that keeps a connection
 * busy (a pooled keep-alive agent sending request after request) is never idle, so the server would go on
 * answering it after SIGTERM until the client stops, or until the orchestrator's grace period runs out and
 * SIGKILL cuts a command mid-flight. Once the drain starts, every response not yet begun says
 * `Connection: close` and Node closes its connection after it; a connection whose response was already on
 * its way is closed as soon as that response ends and leaves it idle. What was in flight still finishes.
 *
 * Closing an idle connection races with a client about to reuse it: a request written as the close arrives is
 * reset unread (a balancer answers 502). With SHUTDOWN_DRAIN_MS, `announce()` comes first: the server stops
 * accepting (a new connection is refused, which a balancer retries on another replica, as nothing was sent),
 * and the open connections stay for that long: every response says `Connection: close`, an idle connection is
 * left for its client's next request, whose answer closes it — which no request can race — and /health/ready
 * answers 503 on them. `settled()` ends the wait early once none is left; `start()` closes those still idle.
 * Accepting on during the period would not help behind a balancer that does not probe readiness (nginx's
 * upstreams): each answer closing its connection, it would open a new one per request, and the connections
 * still arriving when the server stops listening at last are reset in turn.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';

/** At the close, how long a connection whose request head is still arriving has to finish it. */
export const HEAD_GRACE_MS = 5_000;

/** `_httpMessage` is the response in flight on the socket, as Node's own HTTP server reads it. */
type HttpSocket = Socket & { _httpMessage?: ServerResponse | null };

export class ConnectionDrain {
  /** Every response not yet begun says `Connection: close` (from `announce()` or `start()` on). */
  private closing = false;
  private draining = false;
  /** When `announce()` was called: the shutdown has begun. */
  announcedAt?: Date;
  /** Open connections (a keep-alive client holds few): only read when the drain starts. */
  private readonly sockets = new Set<HttpSocket>();
  /** Called when the last open connection closes (see `settled`). */
  private readonly whenNoneOpen = new Set<() => void>();

  constructor(
    private readonly server: Server,
    /** How long a connection whose request head is still arriving at the close has to finish it. */
    private readonly headGraceMs = HEAD_GRACE_MS,
  ) {
    server.on('connection', (socket: HttpSocket) => {
      this.sockets.add(socket);
      socket.once('close', () => {
        this.sockets.delete(socket);
        if (this.sockets.size === 0) for (const resolve of this.whenNoneOpen) resolve();
      });
    });
    // First of the 'request' listeners, so the header is set before the application can answer.
    server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
      if (this.closing) closeAfter(res);
    });
  }

  /**
   * Stops accepting; the open connections stay, and every response not yet begun says `Connection: close` (Node
   * closes its connection after it) — an idle one is left for its client's next request. Idempotent.
   */
  announce(): void {
    if (this.closing) return;
    this.closing = true;
    this.announcedAt = new Date();
    for (const socket of this.sockets) {
      const res = socket._httpMessage;
      if (res) closeAfter(res);
    }
    // net.Server's close only stops listening; http.Server's would also close the idle connections. The app's
    // close() later calls http.Server's, which closes those left idle and waits for the rest.
    NetServer.prototype.close.call(this.server);
  }

  /** Resolves once no connection is open, or after `ms`, whichever comes first. */
  settled(ms: number): Promise<void> {
    if (this.sockets.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.whenNoneOpen.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.whenNoneOpen.add(done);
    });
  }

  /** From now on each connection closes after its current response; idle ones close now. Idempotent. */
  start(): void {
    if (this.draining) return;
    this.draining = true;
    this.closing = true;
    for (const socket of this.sockets) {
      const res = socket._httpMessage;
      if (!res) continue;
      if (!res.headersSent) closeAfter(res);
      // Too late to say so: close the connection once the response ends and leaves it idle (a request already
      // queued behind it on the connection is answered first, and says `Connection: close` if not yet begun).
      else
        res.once('finish', () =>
          setImmediate(() => {
            this.server.closeIdleConnections();
            this.closeWithoutRequest(socket);
          }),
        );
    }
    this.server.closeIdleConnections();
    for (const socket of this.sockets) this.closeWithoutRequest(socket);
  }

  /**
   * Node's closeIdleConnections leaves a connection that carries no request yet (never used, or the next
   * request's head still arriving), and with the server closed no timeout ends it any more (close() stops Node's
   * headers and request timeouts): the close would wait for its client. Looked at once the event loop has read
   * what already arrived (a request sent but not yet read is no request lost): one that has sent nothing (a
   * balancer's TCP check, a client's preconnect) is closed; one whose request head is still arriving gets
   * HEAD_GRACE_MS to finish it.
   */
  private closeWithoutRequest(socket: HttpSocket): void {
    if (socket._httpMessage || socket.destroyed) return;
    setImmediate(() => {
      if (socket._httpMessage || socket.destroyed) return;
      if (socket.bytesRead === 0) socket.destroy();
      else setTimeout(() => socket._httpMessage || socket.destroy(), this.headGraceMs).unref();
    });
  }
}

function closeAfter(res: ServerResponse): void {
  if (!res.headersSent) res.setHeader('Connection', 'close');
}
