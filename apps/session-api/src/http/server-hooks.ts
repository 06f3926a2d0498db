/**
 * What the HTTP server answers before a request reaches the application.
 *
 * - A request Node's parser refuses (headers over 16 KiB, a malformed request line or header, a bad chunk, a
 *   request that took too long to arrive) gets the SPEC §5 error body with a stable code instead of Node's
 *   bare status line: 431 HEADERS_TOO_LARGE, 408 REQUEST_TIMEOUT, otherwise 400 MALFORMED_REQUEST. The
 *   connection is closed after it, as Node does: the parser cannot find where the next request starts. The
 *   refusal is sent in its place in the connection's order (docs/command-api.md, "Pipelined requests"): after
 *   the responses to the requests parsed before the malformed one have gone out — never in their place, where
 *   a client would take it for the answer to a command that was in fact applied.
 * - CONNECT (a proxy's method; this is an origin server): Node hands such a connection to 'connect' listeners
 *   and, without one, destroys it — nothing answered, the responses to the requests pipelined before it lost.
 *   Here the request goes to the application like any other, with a response of ours that takes the connection
 *   once the responses before it have gone out; the application answers 405 (method-not-allowed.ts), and the
 *   connection is closed after it.
 * - An upgrade request (`Upgrade` and `Connection: upgrade`, as Java's HttpClient sends for h2c on every request
 *   on plain HTTP, as `curl --http2` does (7.88); or a WebSocket handshake): the API speaks HTTP/1.1
 *   only, so it is answered as if it named no upgrade (RFC 9110 §7.8 lets a server ignore one). But Node's parser
 *   stops at the end of such a request and, without an 'upgrade' listener, drops whatever else arrived with it
 *   in the same read: a request pipelined behind it was never answered, never logged, and its client waited for
 *   the keep-alive timeout. When that read held more, the upgrade request's response says `Connection: close`
 *   and the connection is closed after it (`watchUpgradeReads`), which tells the client, as after any refusal,
 *   that nothing behind it was processed. An upgrade request that ends its read keeps the connection open:
 *   Java's client sends one on every request of a keep-alive connection.
 * - `Expect: 100-continue` (RFC 9110 §10.1.1): the client waits for `100 Continue` before it sends the body.
 *   Node sends it for every request; here it is sent only when the `Authorization` header holds a key this
 *   process accepts and the declared body is within 5 MiB. Otherwise the application answers (401, or 413)
 *   without the body ever being sent (and Node closes the connection after that answer). For a body that must
 *   first take its share of the body budget (declared over 64 KiB, body-budget.ts), it is held until the share is
 *   taken (`sendHeldContinue`): a request refused meanwhile (a 415 by its headers, a 503 after its wait) was
 *   not uploaded in vain, and a waiting body is not sent into the socket's buffers.
 * - Any other `Expect` (RFC 9110 §10.1.1): 417 EXPECTATION_FAILED. Node answers it with a bare 417 unless the
 *   server listens for 'checkExpectation'; here the request is marked and goes on to the application, whose
 *   first middleware (request-context.ts) answers it with the §5 body, a request id, a log line and metrics.
 * - Requests Node parses but should not have let through, refused by that same first middleware with the §5 body
 *   and `Connection: close` (`refusalBeforeTheApplication`): an HTTP/1.1 request without `Host`, with more than
 *   one `Host` line or an invalid `Host` value, or with a `#` in its request target (RFC 9112 §3.2) → 400
 *   MALFORMED_REQUEST (Node answers a missing Host with a bare 400 when `requireHostHeader` is set, its default,
 *   so that option is turned off here — on the server Nest created, before it listens: Node reads it per
 *   request); and a request of MAX_HEADER_LINES header lines or more → 431 HEADERS_TOO_LARGE, because Node
 *   keeps only that many (`maxHeadersCount`) and drops the rest without a word — an `If-Match`, an
 *   `Idempotency-Key` or a `Content-Type` after a flood of filler lines would be ignored.
 */
import { ServerResponse, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ApiKeys } from '../config/api-keys.provider';
import { ApiError, ErrorCode } from '../errors/api-error';
import { noteErrorCode, toErrorBody } from '../errors/api-exception.filter';
import { holdContinue } from './body-budget';
import { headerCount } from './headers';
import { MAX_BODY_BYTES, printableExcerpt, waitsForBodyBudget } from './json-body.middleware';
import { PERCENT_ENCODING_RULE } from './path-params';

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

/**
 * Whether Node's parser may take `req` for an upgrade request, and so stop at its end, dropping the rest of what
 * it was given: llhttp's rule is an `Upgrade` header with a value and the token `upgrade` in `Connection` or
 * `Proxy-Connection`. Node resets `req.upgrade` when the server has no 'upgrade' listener, so the headers are
 * read instead. A request taken for one that is not (a token followed by a tab, say) costs only a measurement.
 */
export function asksForUpgrade(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  if (upgrade === undefined || upgrade.trim() === '') return false;
  return [req.headers.connection, req.headers['proxy-connection']].some(
    (value) =>
      typeof value === 'string' && value.split(',').some((token) => token.trim().toLowerCase() === 'upgrade'),
  );
}

/**
 * The parser Node's HTTP server gives a connection, as far as `watchUpgradeReads` uses it: its class's
 * `kOnExecute` is the index of the callback Node calls after each read it parses (`parser[kOnExecute](bytes)`).
 */
type ConnectionParser = Record<number, unknown> & {
  getCurrentBuffer(): Buffer;
  constructor: { kOnExecute?: unknown };
};

/** Whether `watchUpgradeReads` found no callback to wrap (said once, at `warn`). */
let upgradeWatchMissing = false;

/** Per connection, the upgrade request whose end the parser has not reached yet, and its response. */
const upgradeRequests = new WeakMap<Socket, { req: IncomingMessage; res: ServerResponse }>();

/**
 * Closes the connection after an upgrade request when the read that ended it held more, which Node dropped
 * (see the module's comment): wraps the connection parser's per-read callback, which learns how much of the
 * read the parser took. Only a read that ends an upgrade request is measured (a copy of it).
 */
function watchUpgradeReads(socket: Socket, logger: Logger): void {
  const parser = (socket as Socket & { parser?: ConnectionParser | null }).parser;
  const index = parser?.constructor.kOnExecute;
  const onExecute = parser && typeof index === 'number' ? parser[index] : undefined;
  if (!parser || typeof index !== 'number' || typeof onExecute !== 'function') {
    if (!upgradeWatchMissing) {
      upgradeWatchMissing = true;
      logger.warn(
        'this Node.js version gives the HTTP parser no per-read callback: a request pipelined right behind an upgrade request (Upgrade: h2c) may go unanswered',
      );
    }
    return;
  }
  parser[index] = (parsed: unknown): unknown => {
    const upgrade = upgradeRequests.get(socket);
    if (upgrade?.req.complete) {
      upgradeRequests.delete(socket);
      if (typeof parsed === 'number' && parsed < parser.getCurrentBuffer().length)
        closeAfter(upgrade.res, socket);
    }
    return (onExecute as (parsed: unknown) => unknown)(parsed);
  };
}

/** `Connection: close` on `res`, or, once it is sent, the connection closed after it. */
function closeAfter(res: ServerResponse, socket: Socket): void {
  if (!res.headersSent) res.shouldKeepAlive = false;
  else if (res.writableFinished) socket.destroySoon();
  else res.once('finish', () => socket.destroySoon());
}

/** How long a refused connection may take to take our answer before it is cut. */
const CLOSE_TIMEOUT_MS = 5_000;

/**
 * Header lines a request may have, fewer than: Node keeps the first `maxHeadersCount` of a request's header lines
 * and drops the others silently, so a request that reaches the count may have lost some, and is refused (431).
 * Node's default, set explicitly so that the check and the limit cannot drift apart. Lifting the limit instead
 * (`maxHeadersCount = 0`) would keep every line but let one request of 16 KiB of names and values (Node's byte
 * limit counts those only) carry ~16,000 lines, which costs Node's JavaScript side about twice the CPU of the
 * whole parse: a refusal costs nothing.
 */
export const MAX_HEADER_LINES = 1000;

/** `_httpMessage` is the response in flight on the socket, as Node's own HTTP server reads it. */
type HttpSocket = Socket & { _httpMessage?: ServerResponse | null };

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

/**
 * Responses of requests the server hooks refuse themselves (the parser failed in their body) while they still
 * wait for their turn on the connection: the application must not run them when their turn comes.
 */
const takenByTheServer = new WeakSet<ServerResponse>();

/** Whether the server hooks answer `res`'s request themselves, so that the application must not run it. */
export function takenOverByTheServer(res: ServerResponse): boolean {
  return takenByTheServer.has(res);
}

/** The response to the last request the application was handed on each connection. */
const lastResponses = new WeakMap<Socket, ServerResponse>();

/**
 * Forgets the last response of a connection once it is done and its request arrived whole, so that an idle
 * keep-alive connection does not hold the request (and the body the application parsed) — Node itself lets go
 * of it then. An error after that is in a request the application never saw: answered at once, as it should be.
 */
function forgetLastResponse(socket: Socket, res: ServerResponse): void {
  if (lastResponses.get(socket) !== res) return;
  if (res.req.complete) lastResponses.delete(socket);
  else res.req.once('end', () => forgetLastResponse(socket, res));
}

/** Connections whose malformed request is being refused: the parser reports every later chunk again. */
const refusing = new WeakSet<Socket>();

/** Requests whose `Expect` Node handed to 'checkExpectation': anything but `100-continue`. */
const unmetExpectations = new WeakSet<IncomingMessage>();

/**
 * RFC 9112 §3.2 / RFC 3986 §3.2.2: `uri-host [ ":" port ]` — an IP literal (with an RFC 6874 zone, `%25eth0`),
 * or a reg-name, which may be empty (and so covers IPv4 addresses).
 */
const HOST =
  /^(?:\[[0-9A-Za-z:._~!$&'()*+,;=%-]+\]|(?:[0-9A-Za-z._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?$/;

/** Header lines named `host` (any letter case), without building anything. */
function hostLines(raw: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') count++;
  }
  return count;
}

const malformed = (details: string): ApiError =>
  new ApiError(400, [{ title: ErrorCode.MalformedRequest, details }], undefined, { Connection: 'close' });

/**
 * The refusal of a request the server hooks let through for the application to answer (see the module's
 * comment), or undefined. Called by the first middleware for every request: a length check, a scan of the raw
 * header names for `host`, one short regular expression, a search for `#` in the target and, when its query
 * holds a `%`, a decode of that query.
 */
export function refusalBeforeTheApplication(req: IncomingMessage): ApiError | undefined {
  if (req.rawHeaders.length >= 2 * MAX_HEADER_LINES) {
    return new ApiError(
      431,
      [
        {
          title: ErrorCode.HeadersTooLarge,
          details: `The request has ${MAX_HEADER_LINES} header lines or more: at most ${MAX_HEADER_LINES - 1} are read`,
        },
      ],
      undefined,
      { Connection: 'close' },
    );
  }
  const host = req.headers.host;
  if (host === undefined) {
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1)
      return malformed('An HTTP/1.1 request must have a Host header');
  } else if (hostLines(req.rawHeaders) > 1) {
    return malformed('A request must have one Host header, not several (RFC 9112 §3.2)');
  } else if (!HOST.test(host)) {
    return malformed(`Host "${printableExcerpt(host)}" is not a host name or address with an optional port`);
  }
  if (req.url?.includes('#')) {
    return malformed(
      'The request target holds a "#": a fragment is never sent to the server (RFC 9112 §3.2); ' +
        'percent-encode a "#" that belongs to an id as %23',
    );
  }
  const query = undecodableQuery(req.url);
  if (query !== undefined) return query;
  if (unmetExpectations.has(req)) {
    return ApiError.of(
      417,
      ErrorCode.ExpectationFailed,
      `Expect "${printableExcerpt(String(req.headers.expect))}" is not supported: the only expectation ` +
        'this server meets is 100-continue',
    );
  }
  return undefined;
}

/** The Integration and Management APIs' paths (`/v1/…`, `/v2/…`, in any letter case, a target in absolute form too). */
const API_PATH = /^(?:[a-z][a-z0-9+.-]*:\/\/[^/?]*)?\/v[12]\//i;

/** `text` percent-decoded as a query string decodes it (`+` is a space), or undefined when it cannot be. */
function decodeQueryPart(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * The refusal of a query string that does not decode: a `%` not followed by two hex digits, or escapes that do
 * not spell UTF-8 (`?profile=%E9t%E9`, Latin-1). Express's query parser keeps such text as sent or turns it into
 * U+FFFD, so a filter would quietly match other data (a profile id holding U+FFFD); path segments are refused
 * the same way (path-params.ts). 400 INVALID_FIELD at the parameter, or MALFORMED_REQUEST when its name is what
 * does not decode. Only parts holding a `%` are decoded.
 */
function undecodableQuery(url: string | undefined): ApiError | undefined {
  const start = url?.indexOf('?') ?? -1;
  if (url === undefined || start < 0 || !url.includes('%', start)) return undefined;
  // Only the APIs read their query: a probe's or a scraper's cache-buster on /health, /metrics or /docs is left
  // alone, as before.
  if (!API_PATH.test(url)) return undefined;
  for (const part of url.slice(start + 1).split('&')) {
    if (!part.includes('%')) continue;
    const equals = part.indexOf('=');
    const rawName = equals < 0 ? part : part.slice(0, equals);
    const name = decodeQueryPart(rawName);
    if (name === undefined)
      return ApiError.of(
        400,
        ErrorCode.MalformedRequest,
        `The query parameter name "${printableExcerpt(rawName)}" ${PERCENT_ENCODING_RULE}`,
      );
    const rawValue = equals < 0 ? '' : part.slice(equals + 1);
    if (decodeQueryPart(rawValue) === undefined)
      return new ApiError(400, [
        {
          title: ErrorCode.InvalidField,
          details: `${printableExcerpt(name)} "${printableExcerpt(rawValue)}" ${PERCENT_ENCODING_RULE}`,
          parameter: name,
        },
      ]);
  }
  return undefined;
}

/** Runs `then` once `res` has gone out (or was cut off), at once when there is none or it has. */
function afterResponse(res: ServerResponse | undefined, then: () => void): void {
  if (res === undefined || res.writableFinished || res.destroyed) return then();
  let ran = false;
  const once = () => {
    if (ran) return;
    ran = true;
    then();
  };
  res.once('finish', once);
  res.once('close', once);
}

/**
 * Writes `response` (raw) and closes the connection once it is written, whatever the client does (a client that
 * never closes its side must not hold the descriptor), cutting it if the client does not take it in time.
 */
function answerAndClose(socket: Socket, response: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const cut = setTimeout(() => socket.destroy(), CLOSE_TIMEOUT_MS).unref();
  socket.end(response, () => {
    clearTimeout(cut);
    socket.destroy();
  });
}

/**
 * Answers a request Node's parser refused, in its place on the connection. `last` is the response to the last
 * request the parser completed the head of:
 * - none, or its request arrived whole: the error is in the head of a request after it, which the application
 *   never saw — the refusal goes out after `last` (and so after every response before it); if `last` closed the
 *   connection (`Connection: close`), nothing more is sent;
 * - its body was still arriving (a bad chunk, a body later than `requestTimeout`, the client gone mid-body): the
 *   refusal is that request's answer — at once when it is the response in flight, else once the responses
 *   before it have gone out, and the application never runs it; unless the application answered it already
 *   (it refused it without reading the body), then the connection closes after that answer, without a second.
 */
function refuseMalformed(
  error: NodeJS.ErrnoException,
  socket: HttpSocket,
  logger: Logger,
  onMalformed?: (status: number, code: string) => void,
): void {
  if (refusing.has(socket)) return;
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  refusing.add(socket);
  const refusal = refusalOf(error.code);
  const response = clientErrorResponse(error.code);
  const last = lastResponses.get(socket);
  // Whether or not the application had answered it already (a 401 before reading the body, say).
  const midBody = last !== undefined && !last.req.complete;
  // A client that closed its side in the middle of a body left: that request's own line says so (499,
  // aborted), and it is answered nothing. Any other such request never reaches the request line
  // (request-context.ts): this line and the counter are its only trace.
  if (!(midBody && error.code === 'HPE_INVALID_EOF_STATE')) {
    logger.info(
      {
        status: refusal.status,
        code: refusal.code,
        parserCode: error.code,
        remoteAddress: socket.remoteAddress,
      },
      'malformed HTTP request refused',
    );
    onMalformed?.(refusal.status, refusal.code);
  }
  if (last === undefined || last.req.complete) {
    afterResponse(last, () => answerAndClose(socket, response));
    return;
  }
  if (last.headersSent) {
    afterResponse(last, () => socket.destroy());
    return;
  }
  takenByTheServer.add(last);
  const answer = () => {
    // The client there to read it is answered; one that closed its side mid-body left (499).
    if (error.code !== 'HPE_INVALID_EOF_STATE') {
      answeredByTheServer.set(last, clientErrorStatus(error.code));
      noteErrorCode(last, refusalOf(error.code).code); // for its request line (request-context.ts)
    }
    answerAndClose(socket, response);
  };
  if (last.socket) answer();
  else last.once('socket', answer);
}

/**
 * Hands a CONNECT request to the application on a connection Node has let go of (see the module's comment): a
 * response of ours, which takes the connection once the response before it has gone out, and closes it when
 * it is complete. The connection's errors are ours to handle now, and so is its 'drain' (a response before the
 * CONNECT that is still being written waits for it).
 */
function passConnectOn(server: Server, req: IncomingMessage, socket: HttpSocket): void {
  socket.on('error', () => socket.destroy());
  socket.on('drain', () => {
    const inFlight = socket._httpMessage;
    if (inFlight?.writableNeedDrain) inFlight.emit('drain');
  });
  const before = lastResponses.get(socket);
  // The usual target of a CONNECT, `host:port` (RFC 9112 §3.2.3), is no path: Express would not route it at all
  // (its bare HTML 404, no log line). As `/` it names no resource of the API, and is refused as such.
  if (!req.url?.startsWith('/')) req.url = '/';
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false; // `Connection: close`
  res.once('finish', () => {
    const cut = setTimeout(() => socket.destroy(), CLOSE_TIMEOUT_MS).unref();
    socket.once('close', () => clearTimeout(cut));
    socket.destroySoon();
  });
  server.emit('request', req, res);
  afterResponse(before, () => {
    if (socket.writable && !socket._httpMessage) res.assignSocket(socket);
    else socket.destroy();
  });
}

export function installServerHooks(
  server: Server,
  keys: ApiKeys,
  logger: Logger,
  onMalformed?: (status: number, code: string) => void,
): void {
  // A request without Host reaches the application, which refuses it with the §5 body (above).
  (server as Server & { requireHostHeader: boolean }).requireHostHeader = false;
  // Read per connection: a request that reaches it is refused (above).
  server.maxHeadersCount = MAX_HEADER_LINES;
  // First of the 'request' listeners: the requests the server hooks pass on themselves come through here too.
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    if (!socket) return;
    lastResponses.set(socket, res);
    res.once('close', () => forgetLastResponse(socket, res));
    // Node drops what came after an upgrade request in the same read (see the module's comment).
    if (asksForUpgrade(req)) upgradeRequests.set(socket, { req, res });
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: HttpSocket) =>
    refuseMalformed(error, socket, logger, onMalformed),
  );
  server.on('connect', (req: IncomingMessage, socket: HttpSocket) => passConnectOn(server, req, socket));
  // After Node's own 'connection' listener, which gives the connection its parser.
  server.on('connection', (socket: Socket) => watchUpgradeReads(socket, logger));
  // Without `100 Continue` the client sends no body: the application answers without it (a 401 before reading
  // any, a 413 for the declared length, json-body.middleware.ts).
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (mayContinue(req, keys)) {
      if (waitsForBodyBudget(req) !== undefined) holdContinue(req);
      else res.writeContinue();
    }
    server.emit('request', req, res);
  });
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    unmetExpectations.add(req);
    server.emit('request', req, res);
  });
}
