/**
 * What happens to a request body the API refuses without reading (401 before the body is parsed, 404, 405,
 * OPTIONS). Node drains an unread body after the response (`IncomingMessage._dump`: read and discarded, never
 * buffered) so that the keep-alive connection can carry the next request — for a body of any size, as long as
 * the client keeps sending it. That is right for a small body, but an unauthenticated caller should not make us
 * read megabytes. So a body still on the wire that is larger than MAX_DRAINED_BYTES, or of unknown length
 * (chunked), is not waited for: the response carries `Connection: close`, and Node closes the connection once
 * the response is written. A client still uploading then sees its upload fail (EPIPE / ECONNRESET: the kernel
 * resets a connection closed with unread data). A client reads the response if it reaches it before the
 * reset — Node's http client and fetch did on loopback in the e2e tests, a client over a slow network may not;
 * `Expect: 100-continue` spares it the upload (server-hooks.ts). The next request goes on a new connection.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A refused body up to this size is drained by Node, keeping the connection usable. */
export const MAX_DRAINED_BYTES = 64 * 1024;

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
  if (large) res.setHeader('Connection', 'close');
}
