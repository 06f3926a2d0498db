/**
 * HTTP semantics over the wire: a known path asked with a method it does not answer is 405 with `Allow`
 * (RFC 9110 §15.5.6), OPTIONS lists the methods, unknown paths stay 404; and the Integration API authenticates
 * before it reads a body, so a caller without a valid key gets 401 whatever its body, before sending all of it.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import { gzipSync } from 'node:zlib';
import {
  ApiHarness,
  client,
  KEY_APP1,
  MANAGEMENT_KEY,
  sessionNotFoundReply,
  sessionSnapshot,
  sessionUrl,
  startWithSession,
  type CallOptions,
  type Reply,
} from './support/harness';

jest.setTimeout(60_000);

let harness: ApiHarness;
let call: ReturnType<typeof client>;
const id = `http-${Date.now()}`;

beforeAll(async () => {
  ({ harness, call } = await startWithSession(id));
});

afterAll(async () => {
  await harness.dispose();
});

/** The SPEC §5 body with one error `code` at no one place of the request (`source: {}`). */
function expectErrorBody(reply: Reply, status: number, code: string): void {
  expect({ status: reply.status, code: reply.body?.errors?.[0]?.title }).toEqual({ status, code });
  expect(reply.body).toEqual({
    message: expect.any(String),
    errors: [{ title: code, details: expect.any(String), source: {} }],
    StatusCode: status,
  });
}

const GET_ONLY = 'GET, HEAD, OPTIONS';
const POST_ONLY = 'OPTIONS, POST';

/** Every path the API serves, with the `Allow` it answers. */
const KNOWN_PATHS: [path: string, allow: string][] = [
  [sessionUrl('a'), 'GET, HEAD, OPTIONS, PUT'],
  [sessionUrl('a', '/cart_items'), POST_ONLY],
  [sessionUrl('a', '/close'), POST_ONLY],
  [sessionUrl('a', '/cancel'), POST_ONLY],
  [sessionUrl('a', '/returns'), POST_ONLY],
  [sessionUrl('a', '/reopen'), 'OPTIONS, PUT'],
  ['/v1/applications/1/sessions', GET_ONLY],
  ['/v1/applications/1/sessions/7', GET_ONLY],
  ['/v1/applications/1/customer_profiles/p', GET_ONLY],
  ['/v1/applications/1/analytics/daily', GET_ONLY],
  ['/v1/applications/1/analytics/skus', GET_ONLY],
  ['/health/live', GET_ONLY],
  ['/health/ready', GET_ONLY],
  ['/metrics', GET_ONLY],
  ['/openapi.json', GET_ONLY],
  ['/docs', GET_ONLY],
];

const ALL_METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH'];
const wrongMethods = KNOWN_PATHS.flatMap(([path, allow]) =>
  ALL_METHODS.filter((method) => !allow.split(', ').includes(method)).map(
    (method) => [method, path, allow] as const,
  ),
);

describe('405 Method Not Allowed', () => {
  it.each(wrongMethods)('%s %s → 405 METHOD_NOT_ALLOWED, Allow: %s', async (method, path, allow) => {
    const reply = await call(method, path, { key: null });
    expectErrorBody(reply, 405, 'METHOD_NOT_ALLOWED');
    expect(reply.headers.get('allow')).toBe(allow);
    expect(reply.body.message).toContain(method);
  });

  it('answers HEAD as GET where there is a GET, and 405 where there is none', async () => {
    const live = await call('HEAD', '/health/live');
    expect({ status: live.status, body: live.body }).toEqual({ status: 200, body: undefined });
    const session = await call('HEAD', sessionUrl(id));
    expect(session.status).toBe(200);
    expect(session.headers.get('etag')).toBe((await call('GET', sessionUrl(id))).headers.get('etag'));
    const close = await call('HEAD', sessionUrl(id, '/close'));
    expect({ status: close.status, allow: close.headers.get('allow'), body: close.body }).toEqual({
      status: 405,
      allow: POST_ONLY,
      body: undefined,
    });
  });

  it.each(KNOWN_PATHS)('OPTIONS %s → 204 with Allow: %s, without a key', async (path, allow) => {
    const reply = await call('OPTIONS', path, { key: null });
    expect({ status: reply.status, allow: reply.headers.get('allow'), body: reply.body }).toEqual({
      status: 204,
      allow,
      body: undefined,
    });
  });

  it('names exactly the methods the OpenAPI document lists for each of its paths', async () => {
    const document = (await call('GET', '/openapi.json')).body as { paths: Record<string, object> };
    const paths = Object.entries(document.paths);
    expect(paths.length).toBeGreaterThanOrEqual(12);
    for (const [template, operations] of paths) {
      const methods = Object.keys(operations)
        .filter((key) => ['get', 'put', 'post', 'delete', 'patch'].includes(key))
        .map((key) => key.toUpperCase());
      const allow = [...methods, ...(methods.includes('GET') ? ['HEAD'] : []), 'OPTIONS'].sort().join(', ');
      const path = template.replace(/\{[^}]+\}/g, '1');
      const options = await call('OPTIONS', path, { key: null });
      expect({ path, status: options.status, allow: options.headers.get('allow') }).toEqual({
        path,
        status: 204,
        allow,
      });
      const wrong = ALL_METHODS.find((method) => !methods.includes(method))!;
      const refused = await call(wrong, path, { key: null });
      expect({ path, status: refused.status, allow: refused.headers.get('allow') }).toEqual({
        path,
        status: 405,
        allow,
      });
    }
  });

  it('matches paths as the router does: a trailing slash and any letter case', async () => {
    for (const path of ['/health/live/', '/HEALTH/Live', `${sessionUrl(id)}/`]) {
      expect((await call('GET', path)).status).toBe(200);
      expect((await call('DELETE', path)).status).toBe(405);
    }
  });

  it.each([
    ['DELETE', '/v2/nothing-here'],
    ['GET', '/v2/customer_sessions'],
    ['DELETE', '/v2/customer_sessions/'],
    ['POST', sessionUrl('a', '/unknown')],
    ['PUT', '/v1/applications/1'],
    ['OPTIONS', '/v2/nothing-here'],
    ['OPTIONS', '/v1/applications/1/unknown'],
  ])('keeps %s %s an unknown path: 404 NOT_FOUND, no Allow', async (method, path) => {
    const reply = await call(method, path);
    expectErrorBody(reply, 404, 'NOT_FOUND');
    expect(reply.headers.get('allow')).toBeNull();
  });

  it('refuses a wrong method before looking at key or body, and changes nothing', async () => {
    const before = await sessionSnapshot(harness, id);
    for (const options of [
      { body: { customerSession: { state: 'closed' } } },
      { key: null, rawBody: '{not json' },
      { key: MANAGEMENT_KEY, rawBody: 'x'.repeat(1000), headers: { 'content-type': 'text/plain' } },
    ] as CallOptions[]) {
      for (const method of ['DELETE', 'PATCH', 'POST']) {
        const reply = await call(method, sessionUrl(id), options);
        expectErrorBody(reply, 405, 'METHOD_NOT_ALLOWED');
      }
    }
    expect(await sessionSnapshot(harness, id)).toEqual(before);
  });
});

/** Bodies every one of which the JSON body reader refuses when the key is valid. */
const BAD_BODIES: [name: string, options: CallOptions, status: number, code: string][] = [
  ['invalid JSON', { rawBody: '{"customerSession": {' }, 400, 'INVALID_JSON'],
  ['binary bytes', { rawBody: Buffer.from([0x1f, 0x8b, 0xff, 0xfe, 0x00]) }, 400, 'INVALID_JSON'],
  [
    'nesting 3,000 levels',
    { rawBody: `{"customerSession":{"attributes":${'{"a":'.repeat(3000)}1${'}'.repeat(3000)}}}` },
    400,
    'LIMIT_EXCEEDED',
  ],
  ['a lone surrogate', { rawBody: '{"customerSession":{"profileId":"\\ud800"}}' }, 400, 'INVALID_FIELD'],
  [
    'text/plain',
    { rawBody: '{"customerSession":{}}', headers: { 'content-type': 'text/plain' } },
    415,
    'UNSUPPORTED_MEDIA_TYPE',
  ],
  [
    'gzip',
    { rawBody: gzipSync('{"customerSession":{}}'), headers: { 'content-encoding': 'gzip' } },
    415,
    'UNSUPPORTED_MEDIA_TYPE',
  ],
];

const BAD_CREDENTIALS: [name: string, options: CallOptions][] = [
  ['no Authorization header', { key: null }],
  ['an unknown key', { key: 'not-a-configured-key' }],
  ['a management key', { key: MANAGEMENT_KEY }],
  [
    'the ManagementKey-v1 scheme',
    { key: null, headers: { authorization: `ManagementKey-v1 ${MANAGEMENT_KEY}` } },
  ],
  ['a malformed header', { key: null, headers: { authorization: `ApiKey-v1${KEY_APP1}` } }],
];

interface RawReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: { errors?: { title: string }[] };
  socketClosed: Promise<void>;
  reusedSocket: boolean;
}

/**
 * Sends `method url` with `prefix` as its body, or — given `declared` and `finish: false` — declaring more
 * bytes than `prefix` and never sending the rest; resolves with the response as soon as it is complete.
 */
function rawRequest(
  method: string,
  url: string,
  headers: Record<string, string>,
  prefix: Buffer,
  options: { declared?: number; finish?: boolean; agent?: http.Agent } = {},
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const length =
      'transfer-encoding' in headers ? {} : { 'content-length': String(options.declared ?? prefix.length) };
    const request = http.request(`${harness.baseUrl}${url}`, {
      method,
      agent: options.agent ?? false,
      headers: { ...length, ...headers },
    });
    const socketClosed = new Promise<void>((closed) =>
      request.on('socket', (socket) => socket.once('close', () => closed())),
    );
    // A connection the server closes while the body is still unsent fails the rest of the upload (EPIPE,
    // ECONNRESET); only a failure before the response counts.
    let answered = false;
    request.on('error', (error) => {
      if (!answered) reject(error);
    });
    request.on('response', (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => {
        answered = true;
        resolve({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body: JSON.parse(text),
          socketClosed,
          reusedSocket: request.reusedSocket,
        });
      });
    });
    request.write(prefix);
    if (options.finish ?? true) request.end();
  });
}

describe('authentication before the body', () => {
  const cases = BAD_BODIES.flatMap(([body, bodyOptions]) =>
    BAD_CREDENTIALS.map(([credentials, credentialOptions]) => {
      const headers = { ...bodyOptions.headers, ...credentialOptions.headers };
      return [body, credentials, { ...bodyOptions, ...credentialOptions, headers }] as const;
    }),
  );

  it.each(cases)('%s with %s → 401 UNAUTHORIZED, session unchanged', async (_body, _credentials, options) => {
    const before = await harness.streamLength(`session-1-${id}`);
    for (const [method, suffix] of [
      ['PUT', ''],
      ['POST', '/cart_items'],
      ['POST', '/close'],
    ]) {
      const reply = await call(method!, sessionUrl(id, suffix), options);
      expectErrorBody(reply, 401, 'UNAUTHORIZED');
      expect(reply.headers.get('accept-encoding')).toBeNull();
    }
    expect(await harness.streamLength(`session-1-${id}`)).toBe(before);
  });

  it.each(BAD_BODIES.map(([name, options, status, code]) => [name, status, code, options] as const))(
    '%s with a valid key is still %i %s',
    async (_name, status, code, options) => {
      const reply = await call('PUT', sessionUrl(id), options);
      expect({ status: reply.status, code: reply.body?.errors?.[0]?.title }).toEqual({ status, code });
    },
  );

  it('answers 401 to a 6 MiB body without waiting for it, and closes that connection', async () => {
    const declared = 6 * 1024 * 1024;
    const reply = await rawRequest(
      'PUT',
      sessionUrl(id),
      { 'content-type': 'application/json' },
      Buffer.from(`{"customerSession":{"attributes":{"blob":"${'x'.repeat(1000)}`),
      { declared, finish: false },
    );
    expect({ status: reply.status, code: reply.body.errors?.[0]?.title }).toEqual({
      status: 401,
      code: 'UNAUTHORIZED',
    });
    // Only the first kilobyte of the 6 MiB was ever sent: the 401 did not wait for the body.
    expect(reply.headers.connection).toBe('close');
    await reply.socketClosed;
    // The same with a valid key is refused for its declared size (413), just as early, and closes too.
    const authorized = await rawRequest(
      'PUT',
      sessionUrl(id),
      { authorization: `ApiKey-v1 ${KEY_APP1}` },
      Buffer.alloc(declared, 0x20),
    );
    expect({
      status: authorized.status,
      code: authorized.body.errors?.[0]?.title,
      connection: authorized.headers.connection,
    }).toEqual({ status: 413, code: 'PAYLOAD_TOO_LARGE', connection: 'close' });
    // A new connection works.
    expect((await call('GET', sessionUrl(id))).status).toBe(200);
    // fetch too gets the 401 of a body it is still uploading, then goes on on a new connection.
    const fetched = await call('PUT', sessionUrl(id), { key: null, rawBody: Buffer.alloc(declared, 0x20) });
    expectErrorBody(fetched, 401, 'UNAUTHORIZED');
    expect(fetched.headers.get('connection')).toBe('close');
    expect((await call('GET', sessionUrl(id))).status).toBe(200);
  }, 15_000);

  it('closes the connection after refusing a chunked body it did not read', async () => {
    const reply = await rawRequest(
      'POST',
      sessionUrl(id, '/cart_items'),
      { 'transfer-encoding': 'chunked' },
      Buffer.from('{"cartItems":['),
      { finish: false },
    );
    expect(reply.status).toBe(401);
    expect(reply.headers.connection).toBe('close');
    await reply.socketClosed;
  }, 15_000);

  it('drains a small refused body and keeps the connection for the next request', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const refused = await rawRequest('PUT', sessionUrl(id), {}, Buffer.from('{not json at all'), { agent });
      expect(refused.status).toBe(401);
      expect(refused.headers.connection).toBe('keep-alive');
      const next = await rawRequest(
        'POST',
        sessionUrl(id, '/cart_items'),
        { authorization: `ApiKey-v1 ${KEY_APP1}`, 'content-type': 'application/json' },
        Buffer.from('{"cartItems":[{"sku":"kept-alive","quantity":1}]}'),
        { agent },
      );
      expect({ status: next.status, reusedSocket: next.reusedSocket }).toEqual({
        status: 200,
        reusedSocket: true,
      });
    } finally {
      agent.destroy();
    }
  });

  it('authenticates a Management API request before anything else; it reads no body', async () => {
    const url = '/v1/applications/1/sessions?pageSize=1';
    const body = Buffer.from('{not json');
    for (const authorization of [undefined, `ApiKey-v1 ${KEY_APP1}`, 'ManagementKey-v1 unknown-key']) {
      const refused = await rawRequest('GET', url, authorization ? { authorization } : {}, body);
      expect({ status: refused.status, code: refused.body.errors?.[0]?.title }).toEqual({
        status: 401,
        code: 'UNAUTHORIZED',
      });
    }
    const large = await rawRequest('GET', url, {}, body, { declared: 10 * 1024 * 1024, finish: false });
    expect({ status: large.status, connection: large.headers.connection }).toEqual({
      status: 401,
      connection: 'close',
    });
    await large.socketClosed;
    const ignored = await rawRequest(
      'GET',
      url,
      { authorization: `ManagementKey-v1 ${MANAGEMENT_KEY}`, 'content-type': 'text/plain' },
      body,
    );
    expect(ignored.status).toBe(200);
  }, 15_000);
});

/**
 * Writes `request` (raw HTTP/1.1) on a new connection, and `body` too once the server sends `100 Continue`;
 * resolves with everything the server sent when it closes the connection or, once `complete` says what was
 * received is all that is expected, when this side has closed it (or after 20 s of silence).
 */
function exchange(request: string, body?: string, complete?: (received: string) => boolean): Promise<string> {
  const url = new URL(harness.baseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => socket.write(request));
    let received = '';
    socket.setEncoding('utf8');
    // A connection nobody ends (a server that neither answers nor closes) must not outlive the test.
    socket.setTimeout(20_000, () => socket.destroy());
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (body !== undefined && received.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
        socket.write(body);
        body = undefined;
      }
      if (complete?.(received)) socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
  });
}

/**
 * Whether `raw` holds a whole final response (after an interim `100 Continue`, if any): its head and the body its
 * Content-Length (or the last chunk) says it has. Waiting for that, not for the server to fall silent for a
 * while, holds however long the command takes on a slow machine.
 */
function finalResponseIn(raw: string): boolean {
  const interim = 'HTTP/1.1 100 Continue\r\n\r\n';
  const start = raw.startsWith(interim) ? raw.indexOf('HTTP/1.1 ', interim.length) : 0;
  if (start < 0) return false;
  const headEnd = raw.indexOf('\r\n\r\n', start);
  if (headEnd < 0) return false;
  const head = raw.slice(start, headEnd);
  const rest = raw.slice(headEnd + 4);
  if (/^transfer-encoding: *chunked/im.test(head)) return rest.endsWith('0\r\n\r\n');
  const length = /^content-length: *(\d+)/im.exec(head);
  return length !== null && Buffer.byteLength(rest) >= Number(length[1]);
}

/** The status, headers and JSON body of the last response in `raw`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function lastResponse(raw: string): { status: number; headers: string; body: any } {
  const start = raw.lastIndexOf('HTTP/1.1 ');
  const [head, body] = [
    raw.slice(start, raw.indexOf('\r\n\r\n', start)),
    raw.slice(raw.indexOf('\r\n\r\n', start) + 4),
  ];
  return {
    status: Number(head.slice(9, 12)),
    headers: head.toLowerCase(),
    body: body ? JSON.parse(body) : undefined,
  };
}

describe('pipelined requests', () => {
  /** One raw HTTP/1.1 request with a JSON body (or none), keeping the connection open. */
  const raw = (method: string, path: string, body?: unknown, close = false) => {
    const text = body === undefined ? '' : JSON.stringify(body);
    return (
      `${method} ${path} HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey-v1 ${KEY_APP1}\r\n` +
      (body === undefined
        ? ''
        : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n`) +
      (close ? 'Connection: close\r\n' : '') +
      `\r\n${text}`
    );
  };
  /** Every response in `raw`, in order: status and JSON body. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const responses = (text: string): { status: number; etag: string | undefined; body: any }[] =>
    text
      .split(/(?=HTTP\/1\.1 \d{3} )/)
      .filter(Boolean)
      .map((one) => {
        const [head, body] = [one.slice(0, one.indexOf('\r\n\r\n')), one.slice(one.indexOf('\r\n\r\n') + 4)];
        return {
          status: Number(head.slice(9, 12)),
          etag: /^etag: (.*)$/im.exec(head)?.[1]?.trim(),
          body: body ? JSON.parse(body) : undefined,
        };
      });

  it('runs each request after the one before it on the connection: a GET sees the write sent just before it', async () => {
    const pipelined = `pipe-${Date.now()}`;
    const url = sessionUrl(pipelined);
    const replies = responses(
      await exchange(
        raw('PUT', url, { customerSession: { cartItems: [{ sku: 'A', quantity: 1, price: 2 }] } }) +
          raw('GET', url) +
          raw('POST', `${url}/cart_items`, { cartItems: [{ sku: 'B', quantity: 2, price: 1.5 }] }) +
          raw('GET', url) +
          raw('POST', `${url}/close`) +
          raw('GET', url, undefined, true),
      ),
    );
    expect(replies.map((reply) => reply.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(replies.map((reply) => reply.etag)).toEqual(['"0"', '"0"', '"1"', '"1"', '"2"', '"2"']);
    expect(replies[3]!.body.customerSession).toMatchObject({ total: 5, updateCount: 2 });
    expect(replies[5]!.body.customerSession).toEqual(replies[4]!.body.customerSession);
    expect(replies[5]!.body.customerSession.state).toBe('closed');
  });

  it('processes nothing pipelined behind a response that closed the connection (RFC 9112 §9.6)', async () => {
    // The first request has no Host: 400 with Connection: close. The PUT sent behind it on the same connection
    // gets no answer, so it must not be applied either (a client would send it again).
    const behind = `pipe-behind-${Date.now()}`;
    const put = raw('PUT', sessionUrl(behind), { customerSession: { profileId: 'p' } });
    const first = raw('PUT', sessionUrl(behind), { customerSession: { profileId: 'q' } }).replace(
      'Host: x\r\n',
      '',
    );
    const replies = responses(await exchange(first + put));
    expect(replies.map((reply) => reply.status)).toEqual([400]);
    expect((await call('GET', sessionUrl(behind))).status).toBe(404);
    expect(await harness.streamLength(`session-1-${behind}`)).toBe(0);
  });
});

describe('header details', () => {
  it('takes the scheme name in any letter case (RFC 9110 §11.1), never the key', async () => {
    for (const scheme of ['apikey-v1', 'APIKEY-V1', 'ApiKey-V1']) {
      const reply = await call('GET', sessionUrl(id), {
        key: null,
        headers: { authorization: `${scheme} ${KEY_APP1}` },
      });
      expect({ scheme, status: reply.status }).toEqual({ scheme, status: 200 });
    }
    const wrongCase = await call('GET', sessionUrl(id), { key: KEY_APP1.toUpperCase() });
    expect(wrongCase.status).toBe(401);
    const management = await call('GET', '/v1/applications/1/sessions?pageSize=1', {
      key: null,
      headers: { authorization: `managementkey-v1 ${MANAGEMENT_KEY}` },
    });
    expect(management.status).toBe(200);
  });

  it("keeps an idle keep-alive connection open past Node's 5 s, for a load balancer's 60 s idle timeout", async () => {
    const url = new URL(harness.baseUrl);
    const socket = net.connect(Number(url.port), url.hostname);
    socket.setEncoding('utf8');
    let received = '';
    let closed = false;
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('close', () => (closed = true));
    const answered = async (count: number) => {
      while (received.split('HTTP/1.1 200').length - 1 < count) {
        if (closed) throw new Error(`connection closed after ${received.length} bytes`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    try {
      socket.write(`GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n`);
      await answered(1);
      expect(received.toLowerCase()).toContain('keep-alive: timeout=65');
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      expect(closed).toBe(false);
      socket.write(`GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n`);
      await answered(2);
    } finally {
      socket.destroy();
    }
  }, 20_000);

  it('refuses a repeated Authorization (401) or Idempotency-Key (400), and appends nothing', async () => {
    const before = await sessionSnapshot(harness, id);
    const body = JSON.stringify({ cartItems: [{ sku: 'R', quantity: 1 }] });
    const post = (headers: string) =>
      `POST ${sessionUrl(id, '/cart_items')} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n${headers}\r\n${body}`;
    const twoKeys = lastResponse(
      await exchange(
        post(`Authorization: ApiKey-v1 ${KEY_APP1}\r\nAuthorization: ApiKey-v1 someone-else-key\r\n`),
      ),
    );
    expect({ status: twoKeys.status, code: twoKeys.body.errors[0].title }).toEqual({
      status: 401,
      code: 'UNAUTHORIZED',
    });
    const twoIdempotencyKeys = lastResponse(
      await exchange(
        post(
          `Authorization: ApiKey-v1 ${KEY_APP1}\r\nIdempotency-Key: one-${id}\r\nIdempotency-Key: two-${id}\r\n`,
        ),
      ),
    );
    expect({ status: twoIdempotencyKeys.status, code: twoIdempotencyKeys.body.errors[0].title }).toEqual({
      status: 400,
      code: 'INVALID_HEADER',
    });
    expect(await sessionSnapshot(harness, id)).toEqual(before);
  });

  it('evaluates If-Match on a GET (412 when stale) before If-None-Match (304 when current)', async () => {
    const fresh = `cond-get-${Date.now()}`;
    await call('PUT', sessionUrl(fresh), { body: { customerSession: {} } });
    await call('POST', sessionUrl(fresh, '/cart_items'), {
      body: { cartItems: [{ sku: 'A', quantity: 1, price: 1 }] },
    });
    // node:http as curl sends it: fetch adds Cache-Control: no-cache to a conditional request, which turns
    // the cache validator off (RFC 9111 §5.2.1.4).
    const get = (headers: Record<string, string>, method = 'GET') =>
      new Promise<{
        status: number;
        body: { errors?: { title: string; details: string }[] } | undefined;
        headers: http.IncomingHttpHeaders;
      }>((resolve, reject) => {
        const request = http.request(`${harness.baseUrl}${sessionUrl(fresh)}`, {
          method,
          agent: false,
          headers: { authorization: `ApiKey-v1 ${KEY_APP1}`, ...headers },
        });
        request.on('error', reject);
        request.on('response', (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          response.on('end', () =>
            resolve({
              status: response.statusCode ?? 0,
              body: text === '' ? undefined : JSON.parse(text),
              headers: response.headers,
            }),
          );
        });
        request.end();
      });
    const outcome = async (headers: Record<string, string>, method = 'GET') => {
      const reply = await get(headers, method);
      return { status: reply.status, code: reply.body?.errors?.[0]?.title, etag: reply.headers.etag ?? null };
    };
    const ok = { status: 200, code: undefined, etag: '"1"' };
    const stale = { status: 412, code: 'PRECONDITION_FAILED', etag: null };
    expect(await outcome({ 'if-match': '"1"' })).toEqual(ok);
    expect(await outcome({ 'if-match': '"0", "1"' })).toEqual(ok);
    expect(await outcome({ 'if-match': '*' })).toEqual(ok);
    expect(await outcome({ 'if-match': '"0"' })).toEqual(stale);
    expect(await outcome({ 'if-match': 'W/"1"' })).toEqual(stale);
    expect(await outcome({ 'if-match': 'not-a-tag' })).toEqual(stale);
    expect((await get({ 'if-match': '"0", "7"' })).body?.errors?.[0]?.details).toBe(
      'If-Match expected revision 0 or 7, the session is at revision 1',
    );
    expect((await get({ 'if-match': '"0"' }, 'HEAD')).status).toBe(412);
    // If-Match holds, then If-None-Match is the cache validator; a stale If-Match wins over it.
    const notModified = await get({ 'if-match': '"1"', 'if-none-match': '"1"' });
    expect({ status: notModified.status, body: notModified.body }).toEqual({ status: 304, body: undefined });
    expect((await get({ 'if-none-match': '"0"' })).status).toBe(200);
    expect((await get({ 'if-match': '"0"', 'if-none-match': '"1"' })).status).toBe(412);
    expect((await get({ 'if-none-match': '"1"', 'cache-control': 'no-cache' })).status).toBe(200);
    // A missing session is 404 whatever If-Match says (RFC 9110 §13.2.1).
    const missing = await call('GET', sessionUrl(`${fresh}-missing`), { headers: { 'if-match': '"0"' } });
    expect({ status: missing.status, code: missing.body.errors[0].title }).toEqual({
      status: 404,
      code: 'SESSION_NOT_FOUND',
    });
  });

  it('compares If-Match strongly: "00" is not the tag "0"', async () => {
    const fresh = `etag-${Date.now()}`;
    expect(
      (await call('PUT', sessionUrl(fresh), { body: { customerSession: {} } })).headers.get('etag'),
    ).toBe('"0"');
    const padded = await call('POST', sessionUrl(fresh, '/close'), { headers: { 'if-match': '"00"' } });
    expect({ status: padded.status, code: padded.body.errors[0].title }).toEqual({
      status: 412,
      code: 'PRECONDITION_FAILED',
    });
    expect((await call('POST', sessionUrl(fresh, '/close'), { headers: { 'if-match': '"0"' } })).status).toBe(
      200,
    );
  });

  it('refuses a minPosition past the largest commit position at once (400), rather than waiting for it', async () => {
    const reply = await call('GET', '/v1/applications/1/sessions?minPosition=18446744073709551616', {
      key: null,
      headers: { authorization: `ManagementKey-v1 ${MANAGEMENT_KEY}` },
    });
    expect({ status: reply.status, code: reply.body.errors[0].title }).toEqual({
      status: 400,
      code: 'INVALID_FIELD',
    });
  });
});

describe('before the application: malformed HTTP and Expect: 100-continue', () => {
  it.each([
    [
      'headers over 16 KiB',
      431,
      'HEADERS_TOO_LARGE',
      `GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    ],
    ['a malformed request line', 400, 'MALFORMED_REQUEST', 'NOT HTTP AT ALL\r\n\r\n'],
    [
      'a malformed header',
      400,
      'MALFORMED_REQUEST',
      'GET /health/live HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n',
    ],
    [
      'a bad chunk size',
      400,
      'MALFORMED_REQUEST',
      `PUT ${sessionUrl(id)} HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey-v1 ${KEY_APP1}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`,
    ],
  ])('%s → %p %s in the SPEC §5 body, connection closed', async (_name, status, code, request) => {
    const before = await harness.streamLength(`session-1-${id}`);
    const reply = lastResponse(await exchange(request));
    expect({ status: reply.status, code: reply.body?.errors?.[0]?.title }).toEqual({ status, code });
    expect(reply.body).toEqual({
      message: expect.any(String),
      errors: [{ title: code, details: expect.any(String), source: {} }],
      StatusCode: status,
    });
    expect(reply.headers).toContain('connection: close');
    expect(reply.headers).toContain('content-type: application/json; charset=utf-8');
    expect(await harness.streamLength(`session-1-${id}`)).toBe(before);
  });

  it('answers a malformed second request on a keep-alive connection too (431 after a 200)', async () => {
    const url = new URL(harness.baseUrl);
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(url.port), url.hostname, () =>
        socket.write('GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n'),
      );
      let received = '';
      let sent = false;
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        received += chunk;
        // The first response is complete (its JSON body closed): the second request goes on the same connection.
        if (!sent && received.endsWith('}')) {
          sent = true;
          socket.write(`GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
        }
      });
      socket.on('error', reject);
      socket.on('close', () => resolve(received));
    });
    expect(raw.startsWith('HTTP/1.1 200 OK')).toBe(true);
    const reply = lastResponse(raw);
    expect({ status: reply.status, code: reply.body?.errors?.[0]?.title }).toEqual({
      status: 431,
      code: 'HEADERS_TOO_LARGE',
    });
  });

  it('closes the connection after the refusal even when the client keeps its side open', async () => {
    const url = new URL(harness.baseUrl);
    const closed = await new Promise<{ answer: string; closedBy: string }>((resolve) => {
      // allowHalfOpen: this client never ends its side; only the server can close the connection.
      const socket = net.connect({ port: Number(url.port), host: url.hostname, allowHalfOpen: true });
      let answer = '';
      socket.setEncoding('utf8');
      socket.on('connect', () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
      socket.on('data', (chunk: string) => (answer += chunk));
      // After the server's FIN, a write reaches a closed socket: the kernel answers it with a reset, and the
      // write after that fails (EPIPE). A socket the server still held would take both writes silently.
      socket.on('end', () => {
        socket.write('more\r\n');
        setTimeout(() => socket.write('again\r\n'), 200);
      });
      socket.on('error', (error: NodeJS.ErrnoException) =>
        resolve({ answer, closedBy: error.code ?? 'error' }),
      );
      // Cleared once the socket is closed ('close' follows 'error' too): left running, it kept jest's process
      // alive for up to 10 s after the file's last test.
      const watchdog = setTimeout(() => {
        resolve({ answer, closedBy: 'still open' });
        socket.destroy();
      }, 10_000);
      socket.on('close', () => {
        clearTimeout(watchdog);
        resolve({ answer, closedBy: 'close' });
      });
    });
    expect(lastResponse(closed.answer).status).toBe(400);
    expect(['ECONNRESET', 'EPIPE', 'close']).toContain(closed.closedBy);
  });

  const addItem = JSON.stringify({ cartItems: [{ sku: 'continued', quantity: 1, price: 2 }] });
  const expecting = (authorization: string, length = Buffer.byteLength(addItem)) =>
    `POST ${sessionUrl(id, '/cart_items')} HTTP/1.1\r\nHost: x\r\n${authorization}Content-Type: application/json\r\n` +
    `Content-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`;

  it('sends 100 Continue to a valid key, then applies the body', async () => {
    const before = await harness.streamLength(`session-1-${id}`);
    const raw = await exchange(
      expecting(`Authorization: ApiKey-v1 ${KEY_APP1}\r\n`),
      addItem,
      finalResponseIn,
    );
    expect(raw.startsWith('HTTP/1.1 100 Continue\r\n\r\n')).toBe(true);
    const reply = lastResponse(raw);
    expect(reply.status).toBe(200);
    expect(reply.body.customerSession.cartItems.map((item: { sku: string }) => item.sku)).toContain(
      'continued',
    );
    expect(await harness.streamLength(`session-1-${id}`)).toBe(before + 1);
  });

  it.each([
    ['no key', 401, 'UNAUTHORIZED', '', undefined],
    ['an unknown key', 401, 'UNAUTHORIZED', 'Authorization: ApiKey-v1 not-a-key-of-ours\r\n', undefined],
    [
      'a management key',
      401,
      'UNAUTHORIZED',
      `Authorization: ManagementKey-v1 ${MANAGEMENT_KEY}\r\n`,
      undefined,
    ],
    [
      'a valid key and a body declared over 5 MiB',
      413,
      'PAYLOAD_TOO_LARGE',
      `Authorization: ApiKey-v1 ${KEY_APP1}\r\n`,
      6 * 1024 * 1024,
    ],
  ])(
    'refuses %s without 100 Continue: %p %s, the body never sent',
    async (_name, status, code, authorization, length) => {
      const before = await harness.streamLength(`session-1-${id}`);
      // The body is written only if 100 Continue comes; the server answers without it and closes.
      const raw = await exchange(expecting(authorization, length), addItem);
      expect(raw).not.toContain('100 Continue');
      const reply = lastResponse(raw);
      expect({ status: reply.status, code: reply.body?.errors?.[0]?.title }).toEqual({ status, code });
      expect(reply.headers).toContain('connection: close');
      expect(await harness.streamLength(`session-1-${id}`)).toBe(before);
    },
  );
});

describe("an error at no one place of the request: source {} (Talon.One's APIError requires source)", () => {
  it('a 401, a 404 SESSION_NOT_FOUND, a 409 ILLEGAL_STATE_TRANSITION and a 400 of the HTTP parser each carry source {}', async () => {
    const missing = `${id}-missing`;
    const before = await sessionSnapshot(harness, id);
    const unauthorized = await call('GET', sessionUrl(id), { key: null });
    const notFound = await call('GET', sessionUrl(missing));
    // The session is open: reopening it is a refused transition.
    const refused = await call('PUT', sessionUrl(id, '/reopen'));
    // A header name with a space: Node's parser refuses it before the application sees the request.
    const parser = lastResponse(
      await exchange('GET /health/live HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n'),
    );
    const replies = [unauthorized, notFound, refused, parser];
    expect(replies.map((reply) => ({ status: reply.status, body: reply.body }))).toEqual([
      {
        status: 401,
        body: {
          message: expect.any(String),
          errors: [{ title: 'UNAUTHORIZED', details: expect.any(String), source: {} }],
          StatusCode: 401,
        },
      },
      sessionNotFoundReply(missing),
      {
        status: 409,
        body: {
          message: expect.any(String),
          errors: [{ title: 'ILLEGAL_STATE_TRANSITION', details: expect.any(String), source: {} }],
          StatusCode: 409,
        },
      },
      {
        status: 400,
        body: {
          message: expect.any(String),
          errors: [{ title: 'MALFORMED_REQUEST', details: expect.any(String), source: {} }],
          StatusCode: 400,
        },
      },
    ]);
    // What the error models of Talon.One's SDKs read: no pointer, rather than a failure on a missing source.
    for (const reply of replies) expect(reply.body.errors[0].source.pointer).toBeUndefined();
    expect(await sessionSnapshot(harness, id)).toEqual(before);
    expect(await harness.streamLength(`session-1-${missing}`)).toBe(0);
  });
});
