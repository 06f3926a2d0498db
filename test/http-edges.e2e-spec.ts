/**
 * HTTP edges found in review: `dry` (and `partialMatch`) in any letter case, as Talon.One's Python SDK sends
 * them (`dry=True`); query parameters named like Object.prototype members refused like any unknown one; the
 * SPEC §5 body on the refusals Node would answer bare (`Expect` other than 100-continue, HTTP/1.1 without
 * `Host`); `WWW-Authenticate` on every 401; and a client that hangs up mid-upload logged as one routine line,
 * not as an error; the Swagger UI's files measured under their route. The API runs here with a logger whose
 * lines the tests read, and its own metrics.
 */
import type { INestApplication } from '@nestjs/common';
import type * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createSessionApi } from '../apps/session-api/src/app.factory';
import { ApiKeys } from '../apps/session-api/src/config/api-keys.provider';
import { parseConfig } from '../apps/session-api/src/config/config';
import { MetricsService } from '../apps/session-api/src/operations/metrics.service';
import {
  ApiHarness,
  client,
  KEY_APP1,
  KEY_APP2,
  MANAGEMENT_KEY,
  sessionUrl,
  type LogLine,
  type Reply,
} from './support/harness';

jest.setTimeout(60_000);

let harness: ApiHarness;
let baseUrl: string;
let call: ReturnType<typeof client>;
const lines: LogLine[] = [];
const metrics = new MetricsService();
const run = `edge-${Date.now()}`;
const stream = (id: string) => `session-1-${id}`;
const MANAGEMENT_KEY_APP2 = 'edge-management-key-app2';
const asManagement = { key: null, headers: { authorization: `ManagementKey-v1 ${MANAGEMENT_KEY}` } };

beforeAll(async () => {
  harness = await ApiHarness.start({
    env: { MANAGEMENT_API_KEYS: `${MANAGEMENT_KEY}=*,${MANAGEMENT_KEY_APP2}=2` },
    log: lines,
    metrics,
  });
  baseUrl = harness.baseUrl;
  call = client(harness);
});

afterAll(async () => {
  await harness?.dispose();
});

/**
 * The SPEC §5 body with one error `code`, at the query parameter `parameter` when given (no pointer), else at no
 * one place (`source: {}`).
 */
function expectError(reply: Reply, status: number, code: string, parameter?: string): void {
  expect({ status: reply.status, code: reply.body?.errors?.[0]?.title }).toEqual({ status, code });
  expect(reply.body).toEqual({
    message: expect.any(String),
    errors: [
      {
        title: code,
        details: expect.any(String),
        source: parameter === undefined ? {} : { parameter },
      },
    ],
    StatusCode: status,
  });
}

/**
 * Writes `request` (raw HTTP/1.1) on a new connection; resolves with everything the server sent once it closes
 * the connection, or once `done` says what arrived is enough (then this side closes it).
 */
function exchange(request: string, done?: (received: string) => boolean): Promise<string> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => socket.write(request));
    let received = '';
    socket.setEncoding('utf8');
    socket.setTimeout(10_000, () => socket.destroy());
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (done?.(received)) socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
  });
}

/** Every response in `raw`, in order: status, lower-case head and JSON body. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function responses(raw: string): { status: number; head: string; body: any }[] {
  return raw
    .split(/(?=HTTP\/1\.1 \d{3} )/)
    .filter(Boolean)
    .map((one) => {
      const end = one.indexOf('\r\n\r\n');
      const body = one.slice(end + 4);
      return {
        status: Number(one.slice(9, 12)),
        head: one.slice(0, end).toLowerCase(),
        body: body ? JSON.parse(body) : undefined,
      };
    });
}

/** Whether `raw` ends with `count` complete responses (each with a Content-Length). */
function completeResponses(raw: string, count: number): boolean {
  let rest = raw;
  for (let i = 0; i < count; i++) {
    const end = rest.indexOf('\r\n\r\n');
    const length = /^content-length: *(\d+)/im.exec(rest.slice(0, end));
    if (end < 0 || length === null || Buffer.byteLength(rest.slice(end + 4)) < Number(length[1]))
      return false;
    rest = rest.slice(end + 4 + Number(length[1]));
  }
  return true;
}

describe('dry in any letter case (Talon.One SDKs send dry=True)', () => {
  it.each(['True', 'TRUE', 'tRuE', 'true'])('PUT ?dry=%s evaluates and stores nothing', async (dry) => {
    const id = `${run}-dry-${dry}`;
    const reply = await call('PUT', `${sessionUrl(id)}?dry=${dry}`, {
      body: { customerSession: { cartItems: [{ sku: 'a', quantity: 2, price: 3 }] } },
    });
    expect(reply.status).toBe(200);
    expect(reply.body.customerSession).toMatchObject({ integrationId: id, total: 6 });
    expect(reply.headers.get('x-event-position')).toBeNull();
    expect(await harness.streamLength(stream(id))).toBe(0);
    expect((await call('GET', sessionUrl(id))).status).toBe(404);
  });

  it.each(['False', 'FALSE', 'false'])('PUT ?dry=%s stores the session', async (dry) => {
    const id = `${run}-wet-${dry}`;
    const reply = await call('PUT', `${sessionUrl(id)}?dry=${dry}`, { body: { customerSession: {} } });
    expect(reply.status).toBe(200);
    expect(reply.headers.get('x-event-position')).toMatch(/^\d+$/);
    expect(await harness.streamLength(stream(id))).toBe(1);
  });

  it('POST …/returns?dry=True stores nothing, ?dry=False stores the return', async () => {
    const id = `${run}-returns`;
    expect(
      (
        await call('PUT', sessionUrl(id), {
          body: { customerSession: { cartItems: [{ sku: 'a', quantity: 2, price: 3 }] } },
        })
      ).status,
    ).toBe(200);
    expect((await call('POST', sessionUrl(id, '/close'))).status).toBe(200);
    const body = { return: { returnedCartItems: [{ position: 0, quantity: 1 }] } };
    const before = await harness.streamLength(stream(id));
    const dry = await call('POST', `${sessionUrl(id, '/returns')}?dry=True`, { body });
    expect(dry.status).toBe(200);
    expect(dry.body.customerSession.cartItems[0]).toMatchObject({ returnedQuantity: 1 });
    expect(await harness.streamLength(stream(id))).toBe(before);
    const wet = await call('POST', `${sessionUrl(id, '/returns')}?dry=False`, { body });
    expect(wet.status).toBe(200);
    expect(await harness.streamLength(stream(id))).toBe(before + 1);
  });

  it.each(['yes', '1', '', 'truee', 'True&dry=True'])(
    'refuses ?dry=%s with 400 INVALID_FIELD at the parameter dry, naming the accepted values',
    async (dry) => {
      const id = `${run}-bad-dry`;
      const reply = await call('PUT', `${sessionUrl(id)}?dry=${dry}`, { body: { customerSession: {} } });
      expectError(reply, 400, 'INVALID_FIELD', 'dry');
      expect(reply.body.errors[0].details).toMatch(/true or false/);
      expect(await harness.streamLength(stream(id))).toBe(0);
    },
  );

  it('reads partialMatch in any letter case too', async () => {
    const list = (query: string) => call('GET', `/v1/applications/1/sessions?${query}`, asManagement);
    // A text filter under 3 characters is refused only when partialMatch is on: True is on, FALSE is off.
    for (const on of ['True', 'TRUE', 'true']) {
      expectError(await list(`profile=ab&partialMatch=${on}`), 400, 'INVALID_FIELD', 'profile');
    }
    for (const off of ['False', 'FALSE', 'false']) {
      expect((await list(`profile=ab&partialMatch=${off}`)).status).toBe(200);
    }
    const bad = await list('partialMatch=yes');
    expectError(bad, 400, 'INVALID_FIELD', 'partialMatch');
    expect(bad.body.errors[0].details).toMatch(/true or false/);
  });
});

describe('query parameters named like Object.prototype members', () => {
  const NAMES = [
    '__proto__',
    'toString',
    'constructor',
    'hasOwnProperty',
    'valueOf',
    'isPrototypeOf',
    '__defineGetter__',
  ];
  const id = `${run}-proto`;
  const ROUTES: [method: string, path: string, body?: unknown][] = [
    ['PUT', sessionUrl(id), { customerSession: { cartItems: [{ sku: 'p', quantity: 1 }] } }],
    ['POST', sessionUrl(id, '/returns'), { return: { returnedCartItems: [{ position: 0, quantity: 1 }] } }],
    ['POST', sessionUrl(id, '/cart_items'), { cartItems: [{ sku: 'p', quantity: 1 }] }],
    ['POST', sessionUrl(id, '/close')],
    ['GET', sessionUrl(id)],
    ['GET', '/v1/applications/1/sessions'],
    ['GET', '/v1/applications/1/sessions/1'],
    ['GET', '/v1/applications/1/customer_profiles/p'],
    ['GET', '/v1/applications/1/analytics/daily?from=2026-01-01&to=2026-01-02'],
  ];
  const cases = ROUTES.flatMap(([method, path, body]) =>
    NAMES.map((name) => [method, `${path}${path.includes('?') ? '&' : '?'}${name}=1`, name, body] as const),
  );

  beforeAll(async () => {
    const created = await call('PUT', sessionUrl(id), {
      body: { customerSession: { cartItems: [{ sku: 'a', quantity: 1, price: 1 }] } },
    });
    expect(created.status).toBe(200);
  });

  it.each(cases)(
    '%s %s → 400 UNKNOWN_FIELD at parameter %s, nothing stored',
    async (method, url, name, body) => {
      const before = await harness.streamLength(stream(id));
      const reply = await call(method, url, {
        body,
        ...(url.startsWith('/v1/') ? asManagement : {}),
      });
      expectError(reply, 400, 'UNKNOWN_FIELD', name);
      expect(await harness.streamLength(stream(id))).toBe(before);
    },
  );

  it('still takes the parameters a route names, with no prototype-named one among them', async () => {
    expect((await call('PUT', `${sessionUrl(id)}?dry=true`, { body: { customerSession: {} } })).status).toBe(
      200,
    );
    expect(
      (await call('GET', '/v1/applications/1/sessions?pageSize=1&sort=-created', asManagement)).status,
    ).toBe(200);
  });
});

describe('errors before the application: the SPEC §5 body where Node would answer bare', () => {
  const put = (headers: string, body = '{"customerSession":{}}') =>
    `PUT ${sessionUrl(`${run}-expect`)} HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey-v1 ${KEY_APP1}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${headers}\r\n${body}`;

  // Node hands anything that contains the token 100-continue to 'checkContinue' ("100-continue, foo" too).
  it.each(['foo', 'gzip', '200-ok'])(
    'Expect: %s → 417 EXPECTATION_FAILED, nothing stored, and the connection goes on',
    async (expectation) => {
      const raw = await exchange(
        put(`Expect: ${expectation}\r\n`) +
          'GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      );
      const [refused, next] = responses(raw);
      expect(refused!.status).toBe(417);
      expect(refused!.head).toContain('content-type: application/json; charset=utf-8');
      expect(refused!.head).toMatch(/^x-request-id: \S+/m);
      expect(refused!.body).toEqual({
        message: expect.stringContaining('100-continue'),
        errors: [{ title: 'EXPECTATION_FAILED', details: expect.any(String), source: {} }],
        StatusCode: 417,
      });
      expect(next?.status).toBe(200);
      expect(await harness.streamLength(stream(`${run}-expect`))).toBe(0);
    },
  );

  it('logs and counts the 417 like any request', async () => {
    const requestId = `${run}-417`;
    await exchange(put(`Expect: foo\r\nX-Request-Id: ${requestId}\r\nConnection: close\r\n`));
    expect(lines.filter((line) => line.requestId === requestId)).toEqual([
      expect.objectContaining({ level: 30, msg: 'request', status: 417, method: 'PUT' }),
    ]);
  });

  it('an HTTP/1.1 request without Host → 400 MALFORMED_REQUEST, connection closed; HTTP/1.0 needs none', async () => {
    const [refused] = responses(
      await exchange(
        `PUT ${sessionUrl(`${run}-nohost`)} HTTP/1.1\r\n` +
          `Authorization: ApiKey-v1 ${KEY_APP1}\r\nContent-Type: application/json\r\nContent-Length: 22\r\n\r\n` +
          '{"customerSession":{}}',
      ),
    );
    expect(refused!.status).toBe(400);
    expect(refused!.head).toContain('connection: close');
    expect(refused!.body).toEqual({
      message: expect.stringContaining('Host'),
      errors: [{ title: 'MALFORMED_REQUEST', details: expect.any(String), source: {} }],
      StatusCode: 400,
    });
    expect(await harness.streamLength(stream(`${run}-nohost`))).toBe(0);
    const [old] = responses(await exchange('GET /health/live HTTP/1.0\r\n\r\n'));
    expect(old!.status).toBe(200);
  });
});

describe("an upgrade request (h2c from Java's HttpClient and curl --http2, a WebSocket handshake)", () => {
  const upgrade =
    'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n';
  const put = (id: string, headers = '') => {
    const body = '{"customerSession":{"cartItems":[{"sku":"a","quantity":1,"price":2}]}}';
    return (
      `PUT ${sessionUrl(id)} HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey-v1 ${KEY_APP1}\r\n${headers}` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
    );
  };

  /**
   * Writes `requests` on one connection, each once the answer to the one before has arrived (as Java's client
   * does, sending the upgrade on every request); resolves with everything received once the server closes it
   * or the last answer is in (then this side closes it).
   */
  function oneByOne(requests: string[]): Promise<string> {
    const url = new URL(baseUrl);
    return new Promise((resolve, reject) => {
      const socket = net.connect(Number(url.port), url.hostname, () => socket.write(requests[0]!));
      let received = '';
      let sent = 1;
      socket.setEncoding('utf8');
      socket.setTimeout(10_000, () => socket.destroy());
      socket.on('data', (chunk: string) => {
        received += chunk;
        if (!completeResponses(received, sent)) return;
        if (sent === requests.length) socket.end();
        else socket.write(requests[sent++]!);
      });
      socket.on('error', reject);
      socket.on('close', () => resolve(received));
    });
  }

  it('is answered in HTTP/1.1 as if it named none, applied, and the connection kept', async () => {
    const ids = [`${run}-h2c-1`, `${run}-h2c-2`];
    const answers = responses(await oneByOne(ids.map((id) => put(id, upgrade))));
    expect(answers.map((one) => one.status)).toEqual([200, 200]);
    for (const answer of answers) {
      expect(answer.head).toMatch(/^http\/1\.1 200/);
      expect(answer.head).toContain('connection: keep-alive');
      expect(answer.body.customerSession.cartItems).toHaveLength(1);
    }
    for (const id of ids) expect(await harness.streamLength(stream(id))).toBe(1);
  });

  // Node's parser stops at the end of an upgrade request and drops the rest of that read: the request behind it
  // was never answered, and the connection stayed open until the keep-alive timeout.
  it.each([
    [
      'a GET',
      `GET ${sessionUrl(`${run}-h2c-get`)} HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey-v1 ${KEY_APP1}\r\n${upgrade}\r\n`,
      'get',
    ],
    ['a PUT with a body', put(`${run}-h2c-first`, upgrade), 'put'],
    [
      'a GET asking for it in Proxy-Connection',
      `GET ${sessionUrl(`${run}-h2c-proxy`)} HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey-v1 ${KEY_APP1}\r\n` +
        'Proxy-Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n',
      'proxy-get',
    ],
  ])('pipelined behind %s: not processed, and the connection closes at once', async (_name, first, after) => {
    const behind = `${run}-h2c-behind-${after}`;
    const started = Date.now();
    const raw = await exchange(first + put(behind));
    expect(Date.now() - started).toBeLessThan(5_000);
    const [answer, ...more] = responses(raw);
    expect(answer!.status).toBe(first.startsWith('GET') ? 404 : 200);
    expect(answer!.head).toContain('connection: close');
    expect(more).toEqual([]);
    expect(await harness.streamLength(stream(behind))).toBe(0);
  });

  it('whose body ends in a later read, with a request behind it: the same', async () => {
    const id = `${run}-h2c-staged`;
    const request = put(id, upgrade);
    const split = request.indexOf('\r\n\r\n') + 4;
    const url = new URL(baseUrl);
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(url.port), url.hostname, () => socket.write(request.slice(0, split)));
      let received = '';
      socket.setEncoding('utf8');
      socket.setTimeout(10_000, () => socket.destroy());
      setTimeout(() => socket.write(request.slice(split) + put(`${run}-h2c-staged-behind`)), 100);
      socket.on('data', (chunk: string) => (received += chunk));
      socket.on('error', reject);
      socket.on('close', () => resolve(received));
    });
    const [answer, ...more] = responses(raw);
    expect(answer!.status).toBe(200);
    expect(answer!.head).toContain('connection: close');
    expect(more).toEqual([]);
    expect(await harness.streamLength(stream(id))).toBe(1);
    expect(await harness.streamLength(stream(`${run}-h2c-staged-behind`))).toBe(0);
  });

  it('without the upgrade token in Connection is no upgrade: the connection goes on', async () => {
    const raw = await exchange(
      `GET /health/live HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n\r\n` +
        'GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(responses(raw).map((one) => one.status)).toEqual([200, 200]);
  });
});

describe('WWW-Authenticate on every 401 (RFC 9110 §11.6.1)', () => {
  const id = `${run}-auth`;

  it.each([
    ['GET without a key', 'GET', sessionUrl(id), { key: null }],
    ['PUT with an unknown key (refused before the body is read)', 'PUT', sessionUrl(id), { key: 'nope' }],
    ['POST with a management key', 'POST', sessionUrl(id, '/close'), { key: MANAGEMENT_KEY }],
    [
      'an Authorization holding two credentials',
      'POST',
      sessionUrl(id, '/cart_items'),
      { key: null, headers: { authorization: `ApiKey-v1 ${KEY_APP1}, ApiKey-v1 ${KEY_APP2}` } },
    ],
  ] as const)('Integration API, %s → ApiKey-v1', async (_name, method, url, options) => {
    const reply = await call(method, url, {
      ...(method === 'GET' ? {} : { body: { customerSession: {} } }),
      ...options,
    });
    expectError(reply, 401, 'UNAUTHORIZED');
    expect(reply.headers.get('www-authenticate')).toBe('ApiKey-v1');
  });

  it('Integration API, Expect: 100-continue without a key → 401 with ApiKey-v1, body never sent', async () => {
    const raw = await exchange(
      `POST ${sessionUrl(id, '/cart_items')} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        'Content-Length: 40\r\nExpect: 100-continue\r\n\r\n',
      (received) => completeResponses(received, 1),
    );
    const [reply] = responses(raw);
    expect(reply!.status).toBe(401);
    expect(reply!.head).toMatch(/^www-authenticate: ApiKey-v1$/im);
  });

  it.each([
    ['without a key', { key: null }],
    ['with an integration key', { key: KEY_APP1 }],
    ['with an unknown management key', { key: null, headers: { authorization: 'ManagementKey-v1 nope' } }],
  ])('Management API %s → ManagementKey-v1', async (_name, options) => {
    const reply = await call('GET', '/v1/applications/1/sessions', options);
    expectError(reply, 401, 'UNAUTHORIZED');
    expect(reply.headers.get('www-authenticate')).toBe('ManagementKey-v1');
  });

  it('sends no challenge with a 403 or a 200', async () => {
    const forbidden = await call('GET', '/v1/applications/1/sessions', {
      key: null,
      headers: { authorization: `ManagementKey-v1 ${MANAGEMENT_KEY_APP2}` },
    });
    expectError(forbidden, 403, 'FORBIDDEN');
    expect(forbidden.headers.get('www-authenticate')).toBeNull();
    const ok = await call('GET', '/v1/applications/1/sessions?pageSize=1', asManagement);
    expect({ status: ok.status, challenge: ok.headers.get('www-authenticate') }).toEqual({
      status: 200,
      challenge: null,
    });
  });
});

describe('a client that hangs up mid-upload', () => {
  /** Sends the head of a PUT declaring 1000 bytes and 100 of them, then closes (`reset`: with an RST). */
  const abortUpload = (id: string, requestId: string, reset: boolean) =>
    new Promise<void>((resolve) => {
      const url = new URL(baseUrl);
      const socket = net.connect(Number(url.port), url.hostname, () => {
        socket.write(
          `PUT ${sessionUrl(id)} HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey-v1 ${KEY_APP1}\r\n` +
            `X-Request-Id: ${requestId}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n` +
            `{"customerSession":{"attributes":{"x":"${'y'.repeat(70)}`,
        );
        // Long enough for the server to be reading the body when the client goes.
        setTimeout(() => (reset ? socket.resetAndDestroy() : socket.destroy()), 150);
      });
      socket.on('error', () => undefined);
      socket.on('close', () => resolve());
    });

  async function linesOf(requestId: string): Promise<LogLine[]> {
    for (let waited = 0; waited < 5_000; waited += 50) {
      if (lines.some((line) => line.requestId === requestId)) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // Anything else the abort would log (an error, in particular) comes in the same turn or not at all.
    await new Promise((resolve) => setTimeout(resolve, 200));
    return lines.filter((line) => line.requestId === requestId);
  }

  it.each([
    ['closes its side (FIN)', false],
    ['resets the connection (RST)', true],
  ])(
    'that %s: one info line (status 499, aborted), no error, no 5xx, nothing stored',
    async (_name, reset) => {
      const id = `${run}-abort-${reset ? 'rst' : 'fin'}`;
      const requestId = `${id}-request`;
      const from = lines.length;
      await abortUpload(id, requestId, reset);
      expect(await linesOf(requestId)).toEqual([
        {
          level: 30,
          time: expect.any(Number),
          pid: expect.any(Number),
          hostname: expect.any(String),
          msg: 'request',
          requestId,
          method: 'PUT',
          route: '/v2/customer_sessions/:id',
          status: 499,
          aborted: true,
          keyId: expect.stringMatching(/^key-[0-9a-f]{16}$/),
          applicationId: 1,
          ms: expect.any(Number),
          remoteAddress: '127.0.0.1',
        },
      ]);
      expect(lines.slice(from).filter((line) => line.level >= 40)).toEqual([]);
      const measured = (await metrics.render()).body
        .split('\n')
        .filter((line) => line.startsWith('http_request_duration_seconds_count{method="PUT"'));
      expect(measured.some((line) => line.includes('status="499"'))).toBe(true);
      expect(measured.filter((line) => /status="5\d\d"/.test(line))).toEqual([]);
      expect(await harness.streamLength(stream(id))).toBe(0);
    },
  );

  it('a request answered in full still gets its one line, without `aborted`', async () => {
    const requestId = `${run}-complete`;
    const reply = await call('GET', sessionUrl(`${run}-none`), { headers: { 'x-request-id': requestId } });
    expect(reply.status).toBe(404);
    expect(await linesOf(requestId)).toEqual([
      expect.objectContaining({ level: 30, msg: 'request', status: 404, method: 'GET' }),
    ]);
    expect(lines.find((line) => line.requestId === requestId)).not.toHaveProperty('aborted');
  });
});
describe('a request whose body does not arrive within requestTimeout', () => {
  let slowApp: INestApplication;
  let slowPort: number;
  const REQUEST_TIMEOUT_MS = 1_000;

  beforeAll(async () => {
    const config = parseConfig({
      PORT: '0',
      DATA_DIR: harness.dataDir,
      INTEGRATION_API_KEYS: `${KEY_APP1}=1`,
      MANAGEMENT_API_KEYS: `${MANAGEMENT_KEY}=*`,
      LOG_LEVEL: 'info',
    });
    slowApp = await createSessionApi({
      config,
      keys: new ApiKeys(config.integrationKeys!, config.managementKeys!),
      store: harness.store,
      metrics,
      logger: pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) }),
    });
    // Node's defaults: 5 minutes for the whole request, 1 minute for its headers, checked every 30 s. The
    // checking interval is read when the server starts listening; headersTimeout must not exceed requestTimeout.
    const server = slowApp.getHttpServer() as http.Server & { connectionsCheckingInterval: number };
    server.requestTimeout = REQUEST_TIMEOUT_MS;
    server.headersTimeout = REQUEST_TIMEOUT_MS;
    server.connectionsCheckingInterval = 100;
    await slowApp.listen(0, '127.0.0.1');
    slowPort = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await slowApp?.close();
  });

  it('is answered 408 REQUEST_TIMEOUT, and logged and measured under 408, not as a client that left (499)', async () => {
    const id = `${run}-request-timeout`;
    const requestId = `${id}-request`;
    const received = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(slowPort, '127.0.0.1', () =>
        socket.write(
          `PUT ${sessionUrl(id)} HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey-v1 ${KEY_APP1}\r\n` +
            `X-Request-Id: ${requestId}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"cust`,
        ),
      );
      let text = '';
      socket.setEncoding('utf8');
      socket.setTimeout(30_000, () => socket.destroy());
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('error', reject);
      socket.on('close', () => resolve(text));
    });
    expect(responses(received)).toEqual([
      expect.objectContaining({ status: 408, body: expect.objectContaining({ StatusCode: 408 }) }),
    ]);
    expect(responses(received)[0]!.body.errors[0].title).toBe('REQUEST_TIMEOUT');

    let logged: LogLine[] = [];
    for (let waited = 0; waited < 5_000 && logged.length === 0; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      logged = lines.filter((line) => line.requestId === requestId);
    }
    expect(logged).toEqual([
      expect.objectContaining({ level: 30, msg: 'request', method: 'PUT', status: 408 }),
    ]);
    expect(logged[0]).not.toHaveProperty('aborted');
    const measured = (await metrics.render()).body
      .split('\n')
      .filter((line) => line.startsWith('http_request_duration_seconds_count{method="PUT"'));
    expect(measured.some((line) => line.includes('status="408"'))).toBe(true);
    expect(await harness.streamLength(stream(id))).toBe(0);
  });
});

describe('route labels', () => {
  it("the Swagger UI's files are measured under /docs, not as unmatched requests", async () => {
    const page = await fetch(`${baseUrl}/docs`);
    const html = await page.text();
    const asset = /(?:href|src)="\.?\/?(?:docs\/)?([\w.-]+\.(?:css|js))"/.exec(html)?.[1];
    expect(asset).toBeDefined();
    const before = (await metrics.render()).body;
    const reply = await fetch(`${baseUrl}/docs/${asset}`);
    await reply.arrayBuffer();
    expect(reply.status).toBe(200);
    const count = (text: string, route: string) =>
      Number(
        new RegExp(
          `^http_request_duration_seconds_count\\{method="GET",route="${route}",status="200"\\} (\\d+)`,
          'm',
        ).exec(text)?.[1] ?? 0,
      );
    // Measured on the response's 'close', which may come just after the client has the whole body.
    let after = (await metrics.render()).body;
    for (let i = 0; i < 100 && count(after, '/docs') === count(before, '/docs'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      after = (await metrics.render()).body;
    }
    expect(count(after, '/docs') - count(before, '/docs')).toBe(1);
    expect(count(after, 'unmatched')).toBe(count(before, 'unmatched'));
  });
});
