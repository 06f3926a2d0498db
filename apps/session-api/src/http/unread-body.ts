/**
 * What happens to a request body the API refuses without reading (401 before the body is parsed, 404, 405,
 * OPTIONS). Node drains an unread body after the response (`IncomingMessage._dump`: read and discarded, never
 * buffered) so that the keep-alive connection can carry the next request — for a body of any size, as long as
 * the client keeps sending it. That is right for a small body, but an unauthenticated caller should not make us
 * read megabytes. So a body still on the wire that is larger than MAX_DRAINED_BYTES, or of unknown length
 * (chunked), is not waited for: the response carries `Connection: close`, and the connection is closed after
 * it. The next request goes on a new connection; `Expect: 100-continue` spares a client the upload
 * (server-hooks.ts).
 *
 * That close lingers (`lingerOnClose`): once the response is written the API ends its side of the connection
 * and goes on reading, and dropping, what the client still sends, until the client closes its side or
 * LINGER_MS have passed. Closed at once, with the client's bytes unread, the kernel resets the connection, and
 * a reset throws away the response still waiting in the client's receive buffer: a client that sends its whole
 * request before it reads — nginx and other proxies that buffer the body, and forward it after — got no answer
 * but EPIPE / ECONNRESET, which nginx turns into 502 Bad Gateway (or retries on another server, for a PUT),
 * where the API had answered 413 PAYLOAD_TOO_LARGE or 401 UNAUTHORIZED. A request pipelined behind the refused
 * body is read and dropped, never handed to the application: the response said the connection ends with it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';

/** A refused body up to this size is drained by Node, keeping the connection usable. */
export const MAX_DRAINED_BYTES = 64 * 1024;

/** How long a connection closed before its request's body arrived goes on taking (and dropping) that body. */
export const LINGER_MS = 5_000;

/** Before an error response: sets `Connection: close` when the request's body is large, unread and unreceived. */
export function closeIfLargeBodyUnread(req: IncomingMessage | undefined, res: ServerResponse): void {
  // Fully received (a body-less request, a small body that came with its headers, or one a reader consumed),
  // or being read by someone: nothing is left to wait for.
  if (req === undefined || req.complete || req.readableFlowing) return;
  const length = req.headers['content-length'];
  const large =
    length === undefined
      ? req.headers['transfer-encoding'] !== undefined
      : !(Number(length) <= MAX_DRAINED_BYTES);
  if (!large) return;
  res.setHeader('Connection', 'close');
  lingerOnClose(req);
}

/** What of Node's connection parser `lingerOnClose` replaces: the callback that hands it each new request. */
type ParsingSocket = Socket & {
  parser?: { onIncoming?: (incoming: IncomingMessage, keepAlive: boolean) => number } | null;
};

/**
 * Makes the close Node does after the response (`socket.destroySoon()`, once a `Connection: close` response is
 * written) a lingering one: our side ends, the request's body and anything behind it are read and dropped, and
 * the connection is destroyed when the client closes its side, or after LINGER_MS.
 */
function lingerOnClose(req: IncomingMessage): void {
  const socket = req.socket as ParsingSocket | null;
  if (!socket || socket.destroySoon !== Socket.prototype.destroySoon) return;
  socket.destroySoon = function lingeringClose(this: ParsingSocket): void {
    const cut = setTimeout(() => this.destroy(), LINGER_MS).unref();
    this.once('close', () => clearTimeout(cut));
    // Node's parser goes on parsing what arrives; a request after the refused one is dropped, unanswered.
    if (this.parser) {
      this.parser.onIncoming = (incoming) => {
        // Not an upgrade nor a CONNECT either (Node's own callback, replaced here, would have said whether
        // it is: without it, the server would hand such a request's socket to its 'connect' listener, or
        // leave it detached, unread, until the cut).
        (incoming as IncomingMessage & { upgrade: boolean }).upgrade = false;
        incoming.resume();
        return 0;
      };
    }
    // The refused body: read and dropped (a reader that stopped mid-body, such as the body budget's pause,
    // no longer takes it).
    if (!req.complete) {
      req.removeAllListeners('data');
      req.resume();
    }
    // Our FIN after the response; the client's bytes are still read (the server's sockets allow half-open
    // connections), and its own FIN ends the connection.
    if (this.writable) this.end();
    if (this.readableEnded) this.destroy();
  };
}
