/**
 * Graceful close of the HTTP server on keep-alive connections. Node's `server.close()` stops accepting and
 * closes the connections idle at that instant, then waits for the rest; but a client that keeps a connection
 * busy (a pooled keep-alive agent sending request after request) is never idle, so the server would go on
 * answering it after SIGTERM until the client stops, or until the orchestrator's grace period runs out and
 * SIGKILL cuts a command mid-flight. Once the drain starts, every response not yet begun says
 * `Connection: close` and Node closes its connection after it; a connection whose response was already on
 * its way is closed as soon as that response ends and leaves it idle. What was in flight still finishes.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** `_httpMessage` is the response in flight on the socket, as Node's own HTTP server reads it. */
type HttpSocket = Socket & { _httpMessage?: ServerResponse | null };

export class ConnectionDrain {
  private draining = false;
  /** Open connections (a keep-alive client holds few): only read when the drain starts. */
  private readonly sockets = new Set<HttpSocket>();

  constructor(private readonly server: Server) {
    server.on('connection', (socket: HttpSocket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    // First of the 'request' listeners, so the header is set before the application can answer.
    server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
      if (this.draining) closeAfter(res);
    });
  }

  /** From now on each connection closes after its current response; idle ones close now. Idempotent. */
  start(): void {
    if (this.draining) return;
    this.draining = true;
    for (const socket of this.sockets) {
      const res = socket._httpMessage;
      if (!res) continue;
      if (!res.headersSent) closeAfter(res);
      // Too late to say so: close the connection once the response ends and leaves it idle (a request already
      // queued behind it on the connection is answered first, and says `Connection: close` if not yet begun).
      else res.once('finish', () => setImmediate(() => this.server.closeIdleConnections()));
    }
    this.server.closeIdleConnections();
  }
}

function closeAfter(res: ServerResponse): void {
  if (!res.headersSent) res.setHeader('Connection', 'close');
}
