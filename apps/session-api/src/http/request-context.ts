/**
 * Per-request id, structured access log and HTTP metrics, as a plain middleware installed before routing.
 * The request id is the caller's `X-Request-Id` when it is sane, otherwise a new UUID; it is echoed back and
 * becomes the correlation id of the events the request appends.
 *
 * It also handles pipelined requests one after the other: Node's HTTP server hands the application every
 * request it has parsed from a connection at once and only orders the responses, so a GET pipelined behind a
 * PUT would run while the PUT is still appending and miss it (RFC 9112 §9.3.2 allows that only when every
 * request is safe). A request waits until the response of the one before it on its connection has finished.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { MetricsService } from '../operations/metrics.service';

export interface RequestWithContext extends IncomingMessage {
  id?: string;
  body?: unknown;
  /** The JSON body as the client sent it (see JsonBodyMiddleware); `body` is what the validation pipe saw. */
  clientBody?: unknown;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

const SESSION_ROUTE = /^\/v2\/customer_sessions\/[^/]+(\/(?:cart_items|close|cancel|returns|reopen))?\/?$/;
const MANAGEMENT_ROUTE =
  /^\/v1\/applications\/[^/]+\/(sessions(\/[^/]+)?|customer_profiles\/[^/]+|analytics\/(?:daily|skus))\/?$/;
const FIXED_ROUTES = new Set(['/health/live', '/health/ready', '/metrics', '/openapi.json']);

/**
 * Route templates for metric labels and the access log (bounded cardinality: ids never become labels). Every
 * path the API serves has one; anything else is `unmatched`.
 */
export function routeOf(url: string): string {
  const path = url.split('?')[0] ?? '';
  const session = SESSION_ROUTE.exec(path);
  if (session) return `/v2/customer_sessions/:id${session[1] ?? ''}`;
  const management = MANAGEMENT_ROUTE.exec(path);
  if (management) {
    const [, resource, sessionId] = management;
    const template = sessionId
      ? 'sessions/:id'
      : resource!.startsWith('customer_profiles/')
        ? 'customer_profiles/:profileId'
        : resource!;
    return `/v1/applications/:applicationId/${template}`;
  }
  if (FIXED_ROUTES.has(path)) return path;
  if (path === '/docs' || path.startsWith('/docs/')) return '/docs';
  return 'unmatched';
}

const PIPELINE = Symbol('requests in progress on this connection');

interface Pipeline {
  busy: boolean;
  waiting: (() => void)[];
}

/**
 * Runs `handle` once every earlier request of the same connection has its response finished (or the response
 * was abandoned by a closed connection). A request alone on its connection runs at once.
 */
export function inConnectionOrder(req: IncomingMessage, res: ServerResponse, handle: () => void): void {
  const socket = req.socket as (Socket & { [PIPELINE]?: Pipeline }) | null;
  if (!socket) return handle();
  const pipeline = (socket[PIPELINE] ??= { busy: false, waiting: [] });
  const start = () => {
    pipeline.busy = true;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      res.off('finish', release);
      res.off('close', release);
      pipeline.busy = false;
      pipeline.waiting.shift()?.();
    };
    res.once('finish', release);
    res.once('close', release);
    handle();
  };
  if (pipeline.busy) pipeline.waiting.push(start);
  else start();
}

export function requestContext(logger: Logger, metrics: MetricsService) {
  return (req: RequestWithContext, res: ServerResponse, next: () => void): void => {
    const started = process.hrtime.bigint();
    const incoming = req.headers['x-request-id'];
    req.id = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', req.id);
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = routeOf(req.url ?? '/');
      metrics.observeHttp(req.method ?? 'GET', route, res.statusCode, seconds);
      if (route === '/metrics' || route.startsWith('/health')) return;
      logger.info(
        {
          requestId: req.id,
          method: req.method,
          route,
          status: res.statusCode,
          ms: Math.round(seconds * 1e4) / 10,
        },
        'request',
      );
    });
    inConnectionOrder(req, res, next);
  };
}
