import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { inConnectionOrder, routeOf } from './request-context';

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
  ])('%s is unmatched (no id ever becomes a label)', (url) => {
    expect(routeOf(url)).toBe('unmatched');
  });
});

describe('inConnectionOrder: pipelined requests run one after the other', () => {
  const connection = () => ({});
  const request = (socket: object) => ({ socket }) as unknown as IncomingMessage;
  const response = () => new EventEmitter() as unknown as ServerResponse;

  it('starts a request only when the response before it on its connection has finished', () => {
    const socket = connection();
    const started: string[] = [];
    const first = response();
    const second = response();
    const third = response();
    inConnectionOrder(request(socket), first, () => started.push('first'));
    inConnectionOrder(request(socket), second, () => started.push('second'));
    inConnectionOrder(request(socket), third, () => started.push('third'));
    expect(started).toEqual(['first']);
    first.emit('finish');
    expect(started).toEqual(['first', 'second']);
    second.emit('finish');
    second.emit('close'); // both events of one response release once
    expect(started).toEqual(['first', 'second', 'third']);
  });

  it('moves on when a response is abandoned (connection closed before it finished)', () => {
    const socket = connection();
    const started: string[] = [];
    const first = response();
    inConnectionOrder(request(socket), first, () => started.push('first'));
    inConnectionOrder(request(socket), response(), () => started.push('second'));
    first.emit('close');
    expect(started).toEqual(['first', 'second']);
  });

  it('never makes requests of different connections wait for each other', () => {
    const started: string[] = [];
    inConnectionOrder(request(connection()), response(), () => started.push('a'));
    inConnectionOrder(request(connection()), response(), () => started.push('b'));
    expect(started).toEqual(['a', 'b']);
  });
});
