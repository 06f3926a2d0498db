import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage, Server } from 'node:http';
import pino from 'pino';
import { ApiKeys } from '../config/api-keys.provider';
import { parseIntegrationKeys, parseManagementKeys } from '../config/api-keys';
import {
  asksForUpgrade,
  clientErrorResponse,
  installServerHooks,
  MAX_HEADER_LINES,
  mayContinue,
  refusalBeforeTheApplication,
} from './server-hooks';

describe('clientErrorResponse', () => {
  it.each([
    ['HPE_HEADER_OVERFLOW', 431, 'Request Header Fields Too Large', 'HEADERS_TOO_LARGE'],
    ['HPE_CHUNK_EXTENSIONS_OVERFLOW', 413, 'Payload Too Large', 'PAYLOAD_TOO_LARGE'],
    ['ERR_HTTP_REQUEST_TIMEOUT', 408, 'Request Timeout', 'REQUEST_TIMEOUT'],
    ['HPE_INVALID_METHOD', 400, 'Bad Request', 'MALFORMED_REQUEST'],
    [undefined, 400, 'Bad Request', 'MALFORMED_REQUEST'],
  ])('answers %s with %i and the SPEC §5 body, closing the connection', (code, status, reason, title) => {
    const raw = clientErrorResponse(code);
    const [head, body] = raw.split('\r\n\r\n') as [string, string];
    expect(head.split('\r\n')).toEqual([
      `HTTP/1.1 ${status} ${reason}`,
      'Content-Type: application/json; charset=utf-8',
      `Content-Length: ${Buffer.byteLength(body)}`,
      'Connection: close',
    ]);
    expect(JSON.parse(body)).toEqual({
      message: expect.any(String),
      errors: [{ title, details: expect.any(String), source: {} }],
      StatusCode: status,
    });
  });
});

describe('asksForUpgrade', () => {
  const request = (headers: IncomingHttpHeaders) => ({ headers }) as IncomingMessage;

  it.each<[IncomingHttpHeaders, boolean]>([
    [{ connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c' }, true],
    [{ connection: 'keep-alive, upgrade', upgrade: 'websocket' }, true],
    [{ connection: 'UPGRADE', upgrade: 'h2c' }, true],
    [{ 'proxy-connection': 'Upgrade', upgrade: 'h2c' }, true],
    [{ connection: 'UPGRADE', upgrade: '' }, false],
    [{ upgrade: 'h2c' }, false],
    [{ connection: 'upgrade' }, false],
    [{ connection: 'upgrade-insecure, keep-alive', upgrade: 'h2c' }, false],
    [{}, false],
  ])('%j → %s', (headers, expected) => {
    expect(asksForUpgrade(request(headers))).toBe(expected);
  });
});

describe('mayContinue', () => {
  const errors: string[] = [];
  const keys = new ApiKeys(
    parseIntegrationKeys('integration-key-1=1', errors),
    parseManagementKeys('management-key-1=*', errors),
  );
  /** A request as Node parsed it: `headers` (first Authorization kept) and `rawHeaders` (every copy). */
  const request = (headers: IncomingHttpHeaders, repeated: [string, string][] = []) =>
    ({
      headers,
      rawHeaders: [
        ...Object.entries(headers).flatMap(([name, value]) => [name, String(value)]),
        ...repeated.flat(),
      ],
    }) as IncomingMessage;

  it('lets a known key send a body within 5 MiB', () => {
    expect(errors).toEqual([]);
    expect(mayContinue(request({ authorization: 'ApiKey-v1 integration-key-1' }), keys)).toBe(true);
    expect(
      mayContinue(
        request({ authorization: 'ApiKey-v1 integration-key-1', 'content-length': '5242880' }),
        keys,
      ),
    ).toBe(true);
  });

  it.each([
    ['no key', {}],
    ['an unknown key', { authorization: 'ApiKey-v1 someone-else' }],
    ['a key in the wrong scheme', { authorization: 'ManagementKey-v1 integration-key-1' }],
    [
      'a management key (the Management API reads no body)',
      { authorization: 'ManagementKey-v1 management-key-1' },
    ],
    [
      'a body declared over 5 MiB',
      { authorization: 'ApiKey-v1 integration-key-1', 'content-length': '5242881' },
    ],
  ])('withholds 100 Continue from %s', (_name, headers) => {
    expect(mayContinue(request(headers), keys)).toBe(false);
  });

  it('withholds 100 Continue from a request with two Authorization headers', () => {
    const twice = request({ authorization: 'ApiKey-v1 integration-key-1' }, [
      ['Authorization', 'ApiKey-v1 someone-else'],
    ]);
    expect(mayContinue(twice, keys)).toBe(false);
  });
});

describe('what the server hooks leave to the application to refuse', () => {
  const errors: string[] = [];
  const keys = new ApiKeys(
    parseIntegrationKeys('integration-key-1=1', errors),
    parseManagementKeys('', errors),
  );
  const request = (headers: IncomingHttpHeaders, version = '1.1') =>
    ({
      headers,
      rawHeaders: [],
      httpVersionMajor: Number(version[0]),
      httpVersionMinor: Number(version[2]),
    }) as unknown as IncomingMessage;
  /** A server with the hooks installed, and the requests it passed on to the application. */
  const hooked = () => {
    const server = new EventEmitter() as Server & { requireHostHeader?: boolean };
    const passed: IncomingMessage[] = [];
    server.on('request', (req: IncomingMessage) => passed.push(req));
    installServerHooks(server, keys, pino({ level: 'silent' }));
    return { server, passed };
  };

  it('turns off Node’s bare 400 for a missing Host, and refuses an HTTP/1.1 request without one itself', () => {
    expect(hooked().server.requireHostHeader).toBe(false);
    const refusal = refusalBeforeTheApplication(request({}));
    expect(refusal).toMatchObject({
      status: 400,
      entries: [{ title: 'MALFORMED_REQUEST' }],
      headers: { Connection: 'close' },
    });
    expect(refusalBeforeTheApplication(request({}, '1.0'))).toBeUndefined();
    expect(refusalBeforeTheApplication(request({ host: 'x' }))).toBeUndefined();
  });

  /** A request with `rawHeaders` as Node hands them over (every line), `headers` as Node keeps them. */
  const parsed = (rawHeaders: string[], url = '/health/live') => {
    const headers: IncomingHttpHeaders = {};
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toLowerCase();
      if (name === 'host' && headers.host !== undefined) continue; // Node keeps the first Host
      headers[name] = rawHeaders[i + 1];
    }
    return {
      headers,
      rawHeaders,
      url,
      httpVersionMajor: 1,
      httpVersionMinor: 1,
    } as unknown as IncomingMessage;
  };
  const lines = (count: number) => Array.from({ length: count }, () => ['x', '1']).flat();

  it('refuses a request of as many header lines as Node keeps (1,000) with 431, and lets 999 through', () => {
    expect((hooked().server as Server).maxHeadersCount).toBe(MAX_HEADER_LINES);
    expect(refusalBeforeTheApplication(parsed(['Host', 'x', ...lines(998)]))).toBeUndefined();
    expect(refusalBeforeTheApplication(parsed(['Host', 'x', ...lines(999)]))).toMatchObject({
      status: 431,
      entries: [{ title: 'HEADERS_TOO_LARGE' }],
      headers: { Connection: 'close' },
    });
  });

  it.each([
    ['two Host lines', ['Host', 'x', 'host', 'y'], '/'],
    ['the same Host twice', ['Host', 'x', 'HOST', 'x'], '/'],
    ['a Host with a space', ['Host', 'a b'], '/'],
    ['a Host with a path', ['Host', 'a/b'], '/'],
    ['a Host with userinfo', ['Host', 'u@a'], '/'],
    ['a Host with a port that is no number', ['Host', 'a:b'], '/'],
    ['a fragment in the target', ['Host', 'x'], '/v2/customer_sessions/a#b?dry=true'],
  ])('refuses %s with 400 MALFORMED_REQUEST, closing', (_name, rawHeaders, url) => {
    expect(refusalBeforeTheApplication(parsed(rawHeaders, url))).toMatchObject({
      status: 400,
      entries: [{ title: 'MALFORMED_REQUEST' }],
      headers: { Connection: 'close' },
    });
  });

  it.each([
    'x',
    'example.com:8080',
    '10.0.0.1:80',
    '[::1]:3000',
    '[fe80::1%25eth0]',
    'a_b.example.',
    '',
    'a%41',
  ])('takes Host %p', (host) => {
    expect(
      refusalBeforeTheApplication(parsed(['Host', host], '/v2/customer_sessions/a%23b')),
    ).toBeUndefined();
  });

  it('passes an Expect other than 100-continue on, marked for a 417 that quotes it printably', () => {
    const { server, passed } = hooked();
    const req = request({ host: 'x', expect: 'foo\u00e9' });
    expect(refusalBeforeTheApplication(req)).toBeUndefined();
    server.emit('checkExpectation', req, {});
    expect(passed).toEqual([req]);
    const refusal = refusalBeforeTheApplication(req);
    expect(refusal).toMatchObject({ status: 417, entries: [{ title: 'EXPECTATION_FAILED' }] });
    expect(refusal!.message).toContain('Expect "foo\\u00e9" is not supported');
  });
});
