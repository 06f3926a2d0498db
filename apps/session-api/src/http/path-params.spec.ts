import { ApiError } from '../errors/api-error';
import type { RouteLayer } from './method-not-allowed';
import { isUndecodableParam, undecodableParam, undecodableParamError } from './path-params';

/**
 * A layer matching `template` (`:name` stands for one segment) as the router's does: case-insensitive, an
 * optional trailing slash, and each parameter decoded, throwing the router's URIError on a bad escape.
 */
const layer = (template: string, end = true): RouteLayer => {
  const names: string[] = [];
  const source = template.replace(/:(\w+)/g, (_match, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  const regex = new RegExp(`^${source}${end ? '/?$' : '(?:/|$)'}`, 'i');
  return {
    route: end ? { methods: { get: true } } : undefined,
    match(path) {
      const found = regex.exec(path);
      if (!found) return false;
      const params: Record<string, string> = {};
      names.forEach((name, i) => {
        const value = found[i + 1]!;
        try {
          params[name] = value.includes('%') ? decodeURIComponent(value) : value;
        } catch {
          throw Object.assign(new URIError(`Failed to decode param '${value}'`), { status: 400 });
        }
      });
      return { params, path: found[0] };
    },
  };
};

const layers: RouteLayer[] = [
  layer('/', false),
  layer('/v2/customer_sessions/:customerSessionId/cart_items', false), // a body middleware's layer
  layer('/v2/customer_sessions/:customerSessionId'),
  layer('/v2/customer_sessions/:customerSessionId/cart_items'),
  layer('/v1/applications/:applicationId/sessions/:id'),
  layer('/v1/applications/:applicationId/customer_profiles/:profileId'),
];

describe('undecodableParam', () => {
  it.each([
    ['/v2/customer_sessions/%zz', 'customerSessionId', '%zz'],
    ['/v2/customer_sessions/%', 'customerSessionId', '%'],
    ['/V2/Customer_Sessions/%FF/', 'customerSessionId', '%FF'],
    ['/v2/customer_sessions/%ED%A0%80/cart_items', 'customerSessionId', '%ED%A0%80'],
    ['/v1/applications/%zz/sessions/7', 'applicationId', '%zz'],
    ['/v1/applications/1/sessions/a%2', 'id', 'a%2'],
    ['/v1/applications/1/customer_profiles/%C3', 'profileId', '%C3'],
  ])('names the parameter of %s', (path, name, segment) => {
    expect(undecodableParam(layers, path)).toEqual({ name, segment });
  });

  it.each(['/v2/customer_sessions/a%20b', '/v2/customer_sessions/%zz/unknown', '/v2/%zz', '/health/live'])(
    'finds none in %s (nothing undecodable, or in no parameter of a route)',
    (path) => {
      expect(undecodableParam(layers, path)).toBeUndefined();
    },
  );

  it('is what the router fails on: the same layers throw its URIError for the same path', () => {
    let thrown: unknown;
    try {
      layers[2]!.match('/v2/customer_sessions/%zz');
    } catch (error) {
      thrown = error;
    }
    expect(isUndecodableParam(thrown)).toBe(true);
    expect(isUndecodableParam(new URIError('x'))).toBe(false);
    expect(isUndecodableParam(new Error('x'))).toBe(false);
  });
});

describe('undecodableParamError', () => {
  it('is 400 INVALID_FIELD at the parameter, quoting the segment printably', () => {
    const error = undecodableParamError(layers, { path: '/v2/customer_sessions/%FF\u00e9' } as never);
    expect(error).toBeInstanceOf(ApiError);
    expect({ status: error.status, entries: error.entries }).toEqual({
      status: 400,
      entries: [
        {
          title: 'INVALID_FIELD',
          details: expect.stringMatching(/^customerSessionId "%FF\\u00e9" is not valid percent-encoding/),
          pointer: '/customerSessionId',
        },
      ],
    });
  });

  it('is 400 MALFORMED_REQUEST without a pointer when no route names the segment', () => {
    const error = undecodableParamError(layers, { url: '/v9/%zz?x=1' } as never);
    expect({
      status: error.status,
      title: error.entries[0]!.title,
      pointer: error.entries[0]!.pointer,
    }).toEqual({
      status: 400,
      title: 'MALFORMED_REQUEST',
      pointer: undefined,
    });
  });
});
