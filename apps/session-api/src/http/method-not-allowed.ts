/**
 * RFC 9110 §15.5.6: a path the API knows, asked with a method it does not answer there, is 405 Method Not
 * Allowed with an `Allow` header (METHOD_NOT_ALLOWED in the SPEC §5 body), not 404. OPTIONS on a known path is
 * 204 No Content with the same `Allow`. Paths no route has stay 404 NOT_FOUND, whatever the method.
 *
 * The methods come from the routes Express actually holds (what Nest registered: controllers, /openapi.json and
 * the /docs page; the UI's static files are middleware, not routes, and stay 404 for other methods), read when a request matched no route, so a new endpoint is covered without a list to keep:
 * every route layer whose path matches, by the router's own matcher (same case, trailing-slash and decoding
 * rules), adds its methods. A GET route answers HEAD too (Express runs the GET handler, Node drops the body),
 * and OPTIONS is answered on every known path, so both are listed. Routed requests never come here: the check
 * runs in place of Nest's not-found handler, behind every route.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, ErrorCode } from '../errors/api-error';
import { closeIfLargeBodyUnread } from './unread-body';

/** What is read of an Express 5 router layer (`router` 2.x): its route's methods and its path matcher. */
export interface RouteLayer {
  /** Set on a route's layer (app.get, app.post, ...); absent on middleware (app.use). */
  route?: { methods: Readonly<Record<string, boolean | undefined>> };
  /** The match of the pathname, or false (may throw on a malformed %-escape). */
  match(path: string): unknown;
}

/**
 * The methods `path` answers, sorted, as `Allow` lists them; undefined when no route has that path. A route
 * for all methods (`app.all`) names none: a request that fell through it is not refused for its method.
 */
export function allowedMethods(layers: readonly RouteLayer[], path: string): string[] | undefined {
  const methods = new Set<string>();
  for (const layer of layers) {
    if (layer.route === undefined) continue;
    let matched: unknown;
    try {
      matched = layer.match(path);
    } catch {
      continue; // a malformed %-escape in a parameter: the router sent the request to the error handler
    }
    if (!matched) continue;
    for (const [method, handled] of Object.entries(layer.route.methods)) {
      if (handled && !method.startsWith('_')) methods.add(method.toUpperCase());
    }
  }
  if (methods.size === 0) return undefined;
  if (methods.has('GET')) methods.add('HEAD');
  methods.add('OPTIONS');
  return [...methods].sort();
}

/**
 * The 405 refusing `method` (an HTTP token: Node's parser admits nothing else) on a path that allows `allowed`.
 * CONNECT asks for a tunnel, which is a proxy's business: it is refused on every target, with the methods of the
 * path when it names one the API serves, and an empty `Allow` otherwise (RFC 9110 §10.2.1: none).
 */
export function methodNotAllowed(method: string, allowed: readonly string[]): ApiError {
  const allow = allowed.join(', ');
  const details =
    method === 'CONNECT'
      ? `CONNECT is not supported: this server is not a proxy${allow ? ` (allowed on this path: ${allow})` : ''}`
      : `${method} is not allowed on this path (allowed: ${allow})`;
  return new ApiError(405, [{ title: ErrorCode.MethodNotAllowed, details }], undefined, { Allow: allow });
}

type ExpressRequest = IncomingMessage & { path: string };
type Handler = (req: ExpressRequest, res: ServerResponse, next: (error?: unknown) => void) => unknown;

/**
 * Wraps Nest's not-found handler: on a known path, OPTIONS is answered 204 and any other method goes on as
 * the 405 error (to Nest's error handler, i.e. ApiExceptionFilter, which sets `Allow`); else the 404 as before,
 * but for CONNECT, which is 405 on any target (`methodNotAllowed`).
 */
export function methodAwareNotFound(layers: () => readonly RouteLayer[], notFound: Handler): Handler {
  return (req, res, next) => {
    const allowed = allowedMethods(layers(), req.path);
    if (allowed === undefined) {
      return req.method === 'CONNECT' ? next(methodNotAllowed('CONNECT', [])) : notFound(req, res, next);
    }
    if (req.method === 'OPTIONS') {
      res.statusCode = 204;
      res.setHeader('Allow', allowed.join(', '));
      closeIfLargeBodyUnread(req, res);
      res.end();
      return;
    }
    next(methodNotAllowed(req.method ?? 'GET', allowed));
  };
}
