/**
 * Per-request id, structured access log and HTTP metrics, as a plain middleware installed before routing.
 * The request id is the caller's `X-Request-Id` when it is sane, otherwise a new UUID; it is echoed back and
 * becomes the correlation id of the events the request appends. The log line of an error response carries its
 * stable code (`code`, the body's `errors[0].title`, noted by `sendError`).
 *
 * It also handles pipelined requests one after the other: Node's HTTP server hands the application every
 * request it has parsed from a connection at once and only orders the responses, so a GET pipelined behind a
 * PUT would run while the PUT is still appending and miss it (RFC 9112 §9.3.2 allows that only when every
 * request is safe). A request waits until the response of the one before it on its connection has finished.
 *
 * A client that goes away before its response is complete (it closed the connection in the middle of sending its
 * body, or while the command ran) is routine: its request is logged as one `info` line like any other, with
 * `aborted: true` and status 499 (nginx's "client closed request"), and measured under 499 — never as a 5xx.
 * (ClientAbortFilter keeps the request stream's own "aborted" error out of the error log.) A request whose body
 * did not arrive within Node's `requestTimeout` is not one of those: the server answered it 408
 * (server-hooks.ts), and it is logged and measured under 408.
 *
 * It is also where the requests the server hooks let through are refused (server-hooks.ts: an `Expect` other
 * than 100-continue; no `Host` on HTTP/1.1, several, or an invalid one; a `#` in the target; as many header lines
 * as Node keeps), so that they get a request id, a log line and metrics.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ApiError } from '../errors/api-error';
import { errorCodeOf, mapError, sendError } from '../errors/api-exception.filter';
import type { MetricsService } from '../operations/metrics.service';
import { refusalBeforeTheApplication, serverAnswered, takenOverByTheServer } from './server-hooks';

export interface RequestWithContext extends IncomingMessage {
  id?: string;
  /**
   * Who the request's key is, once a guard has resolved it: the key's id (never the key) and the application it
   * acts for. The request line names them, so an operator can tell one tenant's traffic from another's.
   */
  principal?: { keyId: string; applicationId?: number };
  body?: unknown;
  /** The JSON body as the client sent it (see JsonBodyMiddleware); `body` is what the validation pipe saw. */
  clientBody?: unknown;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

const SESSION_ROUTE = /^\/v2\/customer_sessions\/[^/]+(\/(?:cart_items|close|cancel|returns|reopen))?\/?$/i;
const MANAGEMENT_ROUTE =
  /^\/v1\/applications\/[^/]+\/(sessions(\/[^/]+)?|customer_profiles\/[^/]+|analytics\/(?:daily|skus))\/?$/i;
const FIXED_ROUTES = new Set(['/health/live', '/health/ready', '/metrics', '/openapi.json']);
/** `http://host` of a request target in absolute form (RFC 9112 §3.2.2), which the router serves as its path. */
const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\/[^/?]*/i;

/**
 * Route templates for metric labels and the access log (bounded cardinality: ids never become labels). Every
 * path the API serves has one — matched as the router matches it: in any letter case, with or without a
 * trailing slash, and a target in absolute form (`http://host/path`) by its path — and anything else is
 * `unmatched`.
 */
export function routeOf(url: string): string {
  const query = url.indexOf('?');
  let path = query < 0 ? url : url.slice(0, query);
  const absolute = ABSOLUTE_FORM.exec(path);
  if (absolute) path = path.slice(absolute[0].length) || '/';
  const fixed = (path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path).toLowerCase();
  if (FIXED_ROUTES.has(fixed)) return fixed;
  const prefix = fixed.slice(0, 4);
  if (prefix === '/v2/') {
    const session = SESSION_ROUTE.exec(path);
    if (session) return `/v2/customer_sessions/:id${session[1]?.toLowerCase() ?? ''}`;
  } else if (prefix === '/v1/') {
    const management = MANAGEMENT_ROUTE.exec(path);
    if (management) {
      const [, matched, sessionId] = management;
      const resource = matched!.toLowerCase();
      const template = sessionId
        ? 'sessions/:id'
        : resource.startsWith('customer_profiles/')
          ? 'customer_profiles/:profileId'
          : resource;
      return `/v1/applications/:applicationId/${template}`;
    }
  } else if (fixed === '/docs' || fixed.startsWith('/docs/')) return '/docs';
  return 'unmatched';
}

const MEASURED_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * The method a request is measured under: the methods the API answers (or refuses 405 on a route it serves), and
 * `other` for the rest of the ~34 Node accepts — each of which would otherwise be a label set per route and
 * status, a way for anyone, without a key, to grow `/metrics` a hundredfold. The log line keeps the method as sent.
 */
export function methodLabel(method: string | undefined): string {
  return method !== undefined && MEASURED_METHODS.has(method) ? method : 'other';
}

/**
 * Runs `handle` once the response before this one on its connection has finished. Node answers pipelined
 * requests in order by holding back every response but the first: a held-back response has no socket until the
 * one before it finishes, then gets it (`assignSocket`, which emits 'socket'). So a response with its socket
 * runs at once — every request that is not pipelined, at the cost of one property read — and one without waits
 * for it. A request is never handled — and a command it carried never applied — when nobody is left to answer
 * it: the connection closed while it waited (its socket never comes), or the response before it closed the
 * connection (`Connection: close` after a refusal, RFC 9112 §9.6: no later request on it is processed; Node
 * still hands the next response the ended socket). Then `dropped` is called, once. Nor is a request whose body
 * the parser found malformed while it waited: the server hooks answer it in its turn (server-hooks.ts).
 */
export function inConnectionOrder(res: ServerResponse, handle: () => void, dropped: () => void): void {
  const run = () => {
    // Its body broke while it waited: the server hooks answer it in its turn (it is logged when that closes).
    if (takenOverByTheServer(res)) return;
    if (res.socket?.writable === false) {
      dropped();
      res.destroy();
    } else handle();
  };
  if (res.socket) return run();
  const connection = res.req?.socket;
  const closed = () => dropped();
  connection?.once('close', closed);
  res.once('socket', () => {
    connection?.off('close', closed);
    run();
  });
}

/** The longest `X-Forwarded-For` a request line keeps (a chain of proxies; a caller may send anything). */
const FORWARDED_FOR_CHARS = 200;

/**
 * `X-Forwarded-For` as the request line logs it: every such header joined as one list (RFC 9110 §5.3; Node
 * joins repeated lines so), undefined when there is none or it is empty. A longer one keeps its end, after `…`:
 * each proxy appends the address it received from, so the last entries are the ones a trusted proxy wrote,
 * whatever a caller put in front of them.
 */
export function forwardedForOf(header: string | string[] | undefined): string | undefined {
  const joined = (Array.isArray(header) ? header.join(', ') : (header ?? '')).trim();
  if (joined === '') return undefined;
  return joined.length <= FORWARDED_FOR_CHARS ? joined : `…${joined.slice(-(FORWARDED_FOR_CHARS - 1))}`;
}

/** The status a request is logged and measured under when its client left before the response was complete. */
export const CLIENT_CLOSED_REQUEST = 499;

/** Answers `refusal` at once: the application never sees the request, nor reads its body. */
function refuse(req: IncomingMessage, res: ServerResponse, refusal: ApiError): void {
  sendError(req, res, mapError(refusal));
}

export function requestContext(logger: Logger, metrics: MetricsService) {
  return (req: RequestWithContext, res: ServerResponse, next: () => void): void => {
    const started = process.hrtime.bigint();
    // The URL as it arrived: a mounted Express router (the Swagger UI's static files under /docs) strips its
    // mount path from `req.url` and leaves it so when it answers, which would log its files as unmatched.
    const route = routeOf(req.url ?? '/');
    // Read now: once the peer has gone (a 499), the socket no longer knows it.
    const remoteAddress = req.socket?.remoteAddress;
    const forwardedFor = forwardedForOf(req.headers['x-forwarded-for']);
    const incoming = req.headers['x-request-id'];
    const sane = typeof incoming === 'string' && REQUEST_ID.test(incoming);
    req.id = sane ? incoming : randomUUID();
    res.setHeader('X-Request-Id', req.id);
    // 'close' comes after 'finish' for a response that was sent, and alone for one the client did not wait for;
    // a pipelined request dropped before its turn (inConnectionOrder) gets no 'close': it is logged from there.
    let logged = false;
    const done = () => {
      if (logged) return;
      logged = true;
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const answered = serverAnswered(res);
      const aborted = !res.writableFinished && answered === undefined;
      const status = answered ?? (aborted ? CLIENT_CLOSED_REQUEST : res.statusCode);
      metrics.observeHttp(methodLabel(req.method), route, status, seconds);
      if (route === '/metrics' || route.startsWith('/health')) return;
      // An error response's stable code (errors[0].title), as the exception filter answered it.
      const code = aborted ? undefined : errorCodeOf(res);
      const principal = req.principal;
      const line = {
        requestId: req.id,
        method: req.method,
        route,
        status,
        ...(code === undefined ? {} : { code }),
        ...(principal === undefined ? {} : { keyId: principal.keyId }),
        ...(principal?.applicationId === undefined ? {} : { applicationId: principal.applicationId }),
        ms: Math.round(seconds * 1e4) / 10,
        // Where it came from (a proxy's address behind one): who floods 401s or 404s.
        remoteAddress,
        // Who the proxy says it came from, as the request said it: a proxy's client, or whatever a caller that
        // reaches the API directly chose to send (never trusted, never used for anything but this line).
        ...(forwardedFor === undefined ? {} : { forwardedFor }),
        // The caller's own id, when it was not one to pass on (too long, other characters): kept here, cut
        // short, so that the caller's trace still finds this request.
        ...(incoming === undefined || sane ? {} : { refusedRequestId: String(incoming).slice(0, 200) }),
      };
      logger.info(aborted ? { ...line, aborted } : line, 'request');
    };
    res.on('close', done);
    const refusal = refusalBeforeTheApplication(req);
    inConnectionOrder(res, refusal === undefined ? next : () => refuse(req, res, refusal), done);
  };
}
