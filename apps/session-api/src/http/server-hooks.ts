/**
 * What the HTTP server answers before a request reaches the application.
 *
 * - A request Node's parser refuses (headers over 16 KiB, a malformed request line or header, a bad chunk, a
 *   request that took too long to arrive) gets the SPEC §5 error body with a stable code instead of Node's
 *   bare status line: 431 HEADERS_TOO_LARGE, 408 REQUEST_TIMEOUT, otherwise 400 MALFORMED_REQUEST. The
 *   connection is closed after it, as Node does: the parser cannot find where the next request starts.
 * - `Expect: 100-continue` (RFC 9110 §10.1.1): the client waits for `100 Continue` before it sends the body.
 *   Node sends it for every request; here it is sent only when the `Authorization` header holds a key this
 *   process accepts and the declared body is within 5 MiB. Otherwise the application answers (401, or 413)
 *   without the body ever being sent (and Node closes the connection after that answer).
 * - Any other `Expect` (RFC 9110 §10.1.1): 417 EXPECTATION_FAILED. Node answers it with a bare 417 unless the
 *   server listens for 'checkExpectation'; here the request is marked and goes on to the application, whose
 *   first middleware (request-context.ts) answers it with the §5 body, a request id, a log line and metrics.
 * - An HTTP/1.1 request without `Host` (RFC 9112 §3.2): 400 MALFORMED_REQUEST, answered the same way and
 *   closing the connection. Node answers it with a bare 400 when `requireHostHeader` is set (its default), so
 *   that option is turned off here — on the server Nest created, before it listens: Node reads it per request.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ApiKeys } from '../config/api-keys.provider';
import { ApiError, ErrorCode } from '../errors/api-error';
import { toErrorBody } from '../errors/api-exception.filter';
import { headerCount } from './headers';
import { MAX_BODY_BYTES, printableExcerpt } from './json-body.middleware';
import { markBodyWithheld } from './unread-body';

const REFUSALS: Record<string, { status: number; reason: string; code: string; details: string }> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    reason: 'Request Header Fields Too Large',
    code: ErrorCode.HeadersTooLarge,
    details: 'The request line and headers are over 16 KiB',
  },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: {
    status: 413,
    reason: 'Payload Too Large',
    code: ErrorCode.PayloadTooLarge,
    details: 'The chunk extensions of the request body are over 16 KiB',
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    reason: 'Request Timeout',
    code: ErrorCode.RequestTimeout,
    details: 'The request did not arrive in time',
  },
};

const MALFORMED = {
  status: 400,
  reason: 'Bad Request',
  code: ErrorCode.MalformedRequest,
  details: 'The request is not well-formed HTTP/1.1',
};

const refusalOf = (code: string | undefined) => (code && REFUSALS[code]) || MALFORMED;

/** The status of the raw response refusing a request Node's parser rejected with `code`. */
export function clientErrorStatus(code: string | undefined): number {
  return refusalOf(code).status;
}

/** The raw HTTP response refusing a request Node's parser rejected with `code`. */
export function clientErrorResponse(code: string | undefined): string {
  const refusal = refusalOf(code);
  const body = JSON.stringify(
    toErrorBody({
      status: refusal.status,
      message: refusal.details,
      entries: [{ title: refusal.code, details: refusal.details }],
    }),
  );
  return (
    `HTTP/1.1 ${refusal.status} ${refusal.reason}\r\n` +
    'Content-Type: application/json; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  );
}

/**
 * Whether `100 Continue` may be sent: an integration key this process accepts (only the Integration API reads
 * bodies), and a declared body within the limit.
 */
export function mayContinue(req: IncomingMessage, keys: ApiKeys): boolean {
  const declared = req.headers['content-length'];
  return (
    keys.integrationKeyOf(req.headers.authorization) !== undefined &&
    headerCount(req, 'authorization') === 1 &&
    !(declared !== undefined && Number(declared) > MAX_BODY_BYTES)
  );
}

/** How long a refused connection may take to take our answer before it is cut. */
const CLOSE_TIMEOUT_MS = 5_000;

/**
 * Responses the application never finished because the server answered their connection itself (a request
 * whose body did not arrive within Node's `requestTimeout` gets 408): the status the client was sent, for the
 * access log and the metrics (request-context.ts), which would otherwise count a client that left (499).
 */
const answeredByTheServer = new WeakMap<ServerResponse, number>();

/** The status the server hooks answered `res`'s connection with, if they did. */
export function serverAnswered(res: ServerResponse): number | undefined {
  return answeredByTheServer.get(res);
}

/** Requests whose `Expect` Node handed to 'checkExpectation': anything but `100-continue`. */
const unmetExpectations = new WeakSet<IncomingMessage>();

/**
 * The refusal of a request the server hooks let through for the application to answer (see the module's
 * comment), or undefined. Called by the first middleware only for a request without `Host` or with `Expect`:
 * every other request costs two header reads.
 */
export function refusalBeforeTheApplication(req: IncomingMessage): ApiError | undefined {
  if (unmetExpectations.has(req)) {
    return ApiError.of(
      417,
      ErrorCode.ExpectationFailed,
      `Expect "${printableExcerpt(String(req.headers.expect))}" is not supported: the only expectation ` +
        'this server meets is 100-continue',
    );
  }
  if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor === 1) {
    return new ApiError(
      400,
      [{ title: ErrorCode.MalformedRequest, details: 'An HTTP/1.1 request must have a Host header' }],
      undefined,
      { Connection: 'close' },
    );
  }
  return undefined;
}

export function installServerHooks(server: Server, keys: ApiKeys, logger: Logger): void {
  // A request without Host reaches the application, which refuses it with the §5 body (above).
  (server as Server & { requireHostHeader: boolean }).requireHostHeader = false;
  server.on(
    'clientError',
    (error: NodeJS.ErrnoException, socket: Socket & { _httpMessage?: ServerResponse | null }) => {
      // Node's own rule: nothing can be answered on a connection that is gone, or in the middle of a response
      // whose headers went out already (an earlier request on a keep-alive connection that was answered is no
      // obstacle). `_httpMessage` is the response in flight on the socket, as Node's default handler reads it.
      if (error.code === 'ECONNRESET' || !socket.writable || socket._httpMessage?.headersSent) {
        socket.destroy();
        return;
      }
      logger.debug({ code: error.code }, 'malformed HTTP request refused');
      // A request the application is running when its connection breaks: unless the break is the client
      // closing its side mid-body (it left: 499), the client is there to read this answer.
      const inFlight = socket._httpMessage;
      if (inFlight && error.code !== 'HPE_INVALID_EOF_STATE')
        answeredByTheServer.set(inFlight, clientErrorStatus(error.code));
      // Closed once the answer is written, whatever the client does (a client that never closes its side must
      // not hold the descriptor), and cut if it does not take the answer in time.
      const cut = setTimeout(() => socket.destroy(), CLOSE_TIMEOUT_MS).unref();
      socket.end(clientErrorResponse(error.code), () => {
        clearTimeout(cut);
        socket.destroy();
      });
    },
  );
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (mayContinue(req, keys)) res.writeContinue();
    else markBodyWithheld(req);
    server.emit('request', req, res);
  });
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    unmetExpectations.add(req);
    server.emit('request', req, res);
  });
}
