import type { ServerResponse } from 'node:http';
import { ApiError } from '../errors/api-error';
import { allowedMethods, methodAwareNotFound, methodNotAllowed, type RouteLayer } from './method-not-allowed';

/** A route layer whose path is `pattern` (a `*` stands for one segment), answering `methods`. */
const route = (pattern: string, ...methods: string[]): RouteLayer => {
  const regex = new RegExp(`^${pattern.replace(/\*/g, '[^/]+')}/?$`, 'i');
  return {
    route: { methods: Object.fromEntries(methods.map((method) => [method, true])) },
    match: (path) => regex.test(path) && { params: {}, path },
  };
};
const middleware: RouteLayer = { match: () => ({ params: {}, path: '' }) };

const layers: RouteLayer[] = [
  middleware,
  route('/v2/customer_sessions/*', 'put'),
  route('/v2/customer_sessions/*/cart_items', 'post'),
  route('/v2/customer_sessions/*', 'put'), // the body middleware's layer of the same route
  route('/v2/customer_sessions/*', 'get'),
  route('/v2/customer_sessions/*/cart_items', 'post'),
  route('/health/live', 'get'),
  route('/everything', '_all'),
  {
    route: { methods: { get: true } },
    match: () => {
      throw new URIError('Failed to decode param');
    },
  },
  middleware,
];

describe('allowedMethods', () => {
  it.each([
    ['/v2/customer_sessions/a', ['GET', 'HEAD', 'OPTIONS', 'PUT']],
    ['/v2/customer_sessions/a/', ['GET', 'HEAD', 'OPTIONS', 'PUT']],
    ['/v2/customer_sessions/a/cart_items', ['OPTIONS', 'POST']],
    ['/health/live', ['GET', 'HEAD', 'OPTIONS']],
  ])('lists what the routes of %s answer, with HEAD for GET and OPTIONS', (path, methods) => {
    expect(allowedMethods(layers, path)).toEqual(methods);
  });

  it.each(['/', '/v2/customer_sessions', '/v2/customer_sessions/a/unknown', '/everything'])(
    'knows no methods of %s (no route, or only middleware and app.all)',
    (path) => {
      expect(allowedMethods(layers, path)).toBeUndefined();
    },
  );

  it('reads a route added after the first call (no list kept)', () => {
    const grown = [...layers];
    expect(allowedMethods(grown, '/v2/new')).toBeUndefined();
    grown.push(route('/v2/new', 'delete'));
    expect(allowedMethods(grown, '/v2/new')).toEqual(['DELETE', 'OPTIONS']);
  });
});

describe('methodNotAllowed', () => {
  it('is a 405 METHOD_NOT_ALLOWED carrying its Allow header', () => {
    const error = methodNotAllowed('DELETE', ['GET', 'HEAD', 'OPTIONS', 'PUT']);
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(405);
    expect(error.entries).toEqual([
      {
        title: 'METHOD_NOT_ALLOWED',
        details: 'DELETE is not allowed on this path (allowed: GET, HEAD, OPTIONS, PUT)',
      },
    ]);
    expect(error.headers).toEqual({ Allow: 'GET, HEAD, OPTIONS, PUT' });
  });

  it('says a CONNECT is for a proxy, naming the methods of the path only when it has some', () => {
    expect(methodNotAllowed('CONNECT', ['GET', 'HEAD', 'OPTIONS']).entries[0]!.details).toBe(
      'CONNECT is not supported: this server is not a proxy (allowed on this path: GET, HEAD, OPTIONS)',
    );
    const tunnel = methodNotAllowed('CONNECT', []);
    expect({ details: tunnel.entries[0]!.details, headers: tunnel.headers }).toEqual({
      details: 'CONNECT is not supported: this server is not a proxy',
      headers: { Allow: '' },
    });
  });
});

describe('methodAwareNotFound', () => {
  function call(method: string, path: string) {
    const headers: Record<string, string> = {};
    const res = {
      statusCode: 200,
      ended: false,
      setHeader: (name: string, value: string) => (headers[name] = value),
      end() {
        this.ended = true;
      },
    };
    const req = { method, path, headers: {}, complete: true, readableFlowing: null };
    const notFound = jest.fn();
    const next = jest.fn();
    methodAwareNotFound(() => layers, notFound)(req as never, res as unknown as ServerResponse, next);
    return { res, headers, notFound, next };
  }

  it('passes an unknown path on to the 404 handler', () => {
    const { notFound, next } = call('DELETE', '/v2/nothing');
    expect(notFound).toHaveBeenCalled();
    expect(next).not.toHaveBeenCalled();
  });

  it('hands the 405 of a known path to the error handler', () => {
    const { notFound, next } = call('DELETE', '/health/live');
    expect(notFound).not.toHaveBeenCalled();
    const error = next.mock.calls[0][0] as ApiError;
    expect({ status: error.status, allow: error.headers?.Allow }).toEqual({
      status: 405,
      allow: 'GET, HEAD, OPTIONS',
    });
  });

  it('refuses CONNECT with 405 on an unknown path too, with an empty Allow', () => {
    const { notFound, next } = call('CONNECT', '/');
    expect(notFound).not.toHaveBeenCalled();
    const error = next.mock.calls[0][0] as ApiError;
    expect({ status: error.status, allow: error.headers?.Allow }).toEqual({ status: 405, allow: '' });
    const known = call('CONNECT', '/health/live').next.mock.calls[0][0] as ApiError;
    expect({ status: known.status, allow: known.headers?.Allow }).toEqual({
      status: 405,
      allow: 'GET, HEAD, OPTIONS',
    });
  });

  it('answers OPTIONS on a known path with 204 and Allow', () => {
    const { res, headers, notFound, next } = call('OPTIONS', '/v2/customer_sessions/a/cart_items');
    expect({ status: res.statusCode, ended: res.ended, headers }).toEqual({
      status: 204,
      ended: true,
      headers: { Allow: 'OPTIONS, POST' },
    });
    expect(notFound).not.toHaveBeenCalled();
    expect(next).not.toHaveBeenCalled();
  });
});
