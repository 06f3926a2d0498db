import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { forwardedForOf, inConnectionOrder, methodLabel, routeOf } from './request-context';

describe('routeOf: the route template a request is logged and measured under', () => {
  it.each([
    ['/v2/customer_sessions/cart-1', '/v2/customer_sessions/:id'],
    ['/v2/customer_sessions/cart-1/', '/v2/customer_sessions/:id'],
    ['/v2/customer_sessions/cart-1?dry=true', '/v2/customer_sessions/:id'],
    ['/v2/customer_sessions/cart-1/cart_items', '/v2/customer_sessions/:id/cart_items'],
    ['/v2/customer_sessions/cart-1/returns?dry=true', '/v2/customer_sessions/:id/returns'],
    ['/v2/customer_sessions/cart-1/reopen', '/v2/customer_sessions/:id/reopen'],
    ['/v1/applications/1/sessions', '/v1/applications/:applicationId/sessions'],
    ['/v1/applications/1/sessions?profile=alice&limit=5', '/v1/applications/:applicationId/sessions'],
    ['/v1/applications/1/sessions/cart-1', '/v1/applications/:applicationId/sessions/:id'],
    [
      '/v1/applications/12/customer_profiles/alice',
      '/v1/applications/:applicationId/customer_profiles/:profileId',
    ],
    ['/v1/applications/1/analytics/daily?from=2026-01-01', '/v1/applications/:applicationId/analytics/daily'],
    ['/v1/applications/1/analytics/skus', '/v1/applications/:applicationId/analytics/skus'],
    ['/health/live', '/health/live'],
    ['/metrics', '/metrics'],
    ['/openapi.json', '/openapi.json'],
    ['/docs/swagger-ui.css', '/docs'],
    // As the router matches them: any letter case, a trailing slash, a target in absolute form.
    ['/V2/Customer_Sessions/cart-1/CLOSE', '/v2/customer_sessions/:id/close'],
    ['/V1/applications/1/Analytics/Daily', '/v1/applications/:applicationId/analytics/daily'],
    [
      '/V1/APPLICATIONS/1/CUSTOMER_PROFILES/Ann',
      '/v1/applications/:applicationId/customer_profiles/:profileId',
    ],
    ['/METRICS', '/metrics'],
    ['/metrics/', '/metrics'],
    ['/Health/Ready/?x=1', '/health/ready'],
    ['http://shop.example/v2/customer_sessions/cart-1', '/v2/customer_sessions/:id'],
    [
      'HTTP://shop.example:8080/v2/customer_sessions/cart-1/returns?dry=true',
      '/v2/customer_sessions/:id/returns',
    ],
    ['http://shop.example/metrics', '/metrics'],
  ])('%s → %s', (url, route) => {
    expect(routeOf(url)).toBe(route);
  });

  it.each([
    '/',
    '/v2/customer_sessions',
    '/v2/customer_sessions/a/b',
    '/v2/customer_sessions/a/unknown',
    '/v1/applications/1',
    '/v1/applications/1/analytics/weekly',
    '/v1/applications/1/customer_profiles',
    '/v1/applications/1/sessions/a/b',
    '/healthz',
    '//metrics',
    'http://shop.example',
    'http://shop.example/',
    'http://shop.example/v2/customer_sessions',
  ])('%s is unmatched (no id ever becomes a label)', (url) => {
    expect(routeOf(url)).toBe('unmatched');
  });
});

describe('methodLabel: the method a request is measured under', () => {
  it.each(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])('%s as it is', (method) => {
    expect(methodLabel(method)).toBe(method);
  });

  it.each(['PROPFIND', 'MKCOL', 'PURGE', 'SEARCH', 'get', undefined])('%s as other', (method) => {
    expect(methodLabel(method)).toBe('other');
  });
});

describe('inConnectionOrder: pipelined requests run one after the other', () => {
  /** A response as Node hands it over: with its socket, or held back behind the one before it. */
  const response = (socket: object | null, connection = new EventEmitter()) =>
    Object.assign(new EventEmitter(), {
      socket,
      req: { socket: connection },
      destroy: jest.fn(),
    }) as unknown as ServerResponse & {
      destroy: jest.Mock;
    };
  /** What Node's `assignSocket` does once the response before has finished. */
  const handOver = (res: ServerResponse, socket: object) => {
    Object.assign(res, { socket });
    res.emit('socket', socket);
  };
  const never = () => {
    throw new Error('dropped');
  };

  it('runs a request whose response has its socket at once (not pipelined, or first in line)', () => {
    const started: string[] = [];
    inConnectionOrder(response({ writable: true }), () => started.push('first'), never);
    expect(started).toEqual(['first']);
  });

  it('runs a held-back request only when Node hands its response the socket', () => {
    const started: string[] = [];
    const second = response(null);
    inConnectionOrder(second, () => started.push('second'), never);
    expect(started).toEqual([]);
    handOver(second, { writable: true });
    expect(started).toEqual(['second']);
    handOver(second, { writable: true });
    expect(started).toEqual(['second']);
  });

  it('drops a held-back request when the connection closes before its turn', () => {
    const connection = new EventEmitter();
    const events: string[] = [];
    inConnectionOrder(
      response(null, connection),
      () => events.push('handled'),
      () => events.push('dropped'),
    );
    connection.emit('close');
    expect(events).toEqual(['dropped']);
  });

  it('drops the request after one that closed the connection (the socket it is handed has ended)', () => {
    const events: string[] = [];
    const connection = new EventEmitter();
    const next = response(null, connection);
    inConnectionOrder(
      next,
      () => events.push('handled'),
      () => events.push('dropped'),
    );
    handOver(next, { writable: false });
    connection.emit('close');
    expect(events).toEqual(['dropped']);
    expect(next.destroy).toHaveBeenCalled();
  });
});

describe('forwardedForOf: the X-Forwarded-For a request line keeps', () => {
  it.each<[string | string[] | undefined, string | undefined]>([
    [undefined, undefined],
    ['', undefined],
    ['  ', undefined],
    ['203.0.113.7', '203.0.113.7'],
    [' 203.0.113.7, 10.0.0.1 ', '203.0.113.7, 10.0.0.1'],
    [['203.0.113.7', '10.0.0.1'], '203.0.113.7, 10.0.0.1'],
    // Too long: the end is kept, where the proxies' own entries are.
    [`${'9'.repeat(500)}, 203.0.113.7`, `…${'9'.repeat(186)}, 203.0.113.7`],
  ])('%j → %j', (header, logged) => {
    expect(forwardedForOf(header)).toBe(logged);
  });
});
