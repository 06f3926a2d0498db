/**
 * What a hostile client probe found at the HTTP layer, sent over raw sockets: header lines past Node's count
 * limit that used to be dropped without a word (`If-Match`, `Idempotency-Key`, `Content-Type` after a flood), a
 * raw `#` in the request target, a malformed request or a CONNECT pipelined behind a valid command (answered in
 * order, never in the command's place), a repeated or invalid `Host`, a repeated `Content-Type`, a declared body
 * over 5 MiB, and path parameters that are not valid percent-encoding. Every refusal has the SPEC §5 body and
 * changes nothing. The API runs with a logger whose lines the tests read.
 */
import * as net from 'node:net';
import { ApiHarness, client, KEY_APP1, MANAGEMENT_KEY, sessionUrl, type LogLine } from './support/harness';

jest.setTimeout(60_000);

let harness: ApiHarness;
let baseUrl: string;
let call: ReturnType<typeof client>;
const lines: LogLine[] = [];
const run = `hostile-${Date.now()}`;
const stream = (id: string) => `session-1-${id}`;

beforeAll(async () => {
  harness = await ApiHarness.start({
    env: { INTEGRATION_API_KEYS: `${KEY_APP1}=1`, MANAGEMENT_API_KEYS: `${MANAGEMENT_KEY}=*` },
    log: lines,
  });
  baseUrl = harness.baseUrl;
  call = client(harness);
});

afterAll(async () => {
  await harness?.dispose();
});

/** Creates session `id` of application 1 with one cart line; returns its stream length (1). */
async function createSession(id: string): Promise<number> {
  const created = await call('PUT', sessionUrl(id), {
    body: { customerSession: { cartItems: [{ sku: 'a', quantity: 1, price: 1 }] } },
  });
  expect(created.status).toBe(200);
  return harness.streamLength(stream(id));
}

/**
 * Writes `request` (raw bytes, in one write) on a new connection; resolves with everything the server sent once
 * it closes the connection, or once `done` says what arrived is enough (then this side closes it), or after
 * `silenceMs` without a close (then the test sees what had arrived).
 */
function exchange(
  request: string,
  options: { done?: (received: string) => boolean; silenceMs?: number } = {},
): Promise<string> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => socket.write(request));
    let received = '';
    socket.setEncoding('utf8');
    socket.setTimeout(options.silenceMs ?? 15_000, () => socket.destroy());
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (options.done?.(received)) socket.end();
    });
    socket.on('error', (error: NodeJS.ErrnoException) =>
      // A reset after the answers arrived (the server closed with our bytes unread) ends the exchange.
      error.code === 'ECONNRESET' ? resolve(received) : reject(error),
    );
    socket.on('close', () => resolve(received));
  });
}

interface RawResponse {
  status: number;
  /** The head, lower case. */
  head: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

/** Every response in `raw`, in order. */
function responses(raw: string): RawResponse[] {
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

const header = (response: RawResponse, name: string): string | undefined =>
  new RegExp(`^${name}: *(.*)$`, 'm').exec(response.head)?.[1]?.trim();

/** The SPEC §5 body with one error `code` at its pointer, when given, else at no one place (`source: {}`). */
function expectRefusal(response: RawResponse | undefined, status: number, code: string, pointer?: string) {
  expect({ status: response?.status, code: response?.body?.errors?.[0]?.title }).toEqual({ status, code });
  expect(response!.body).toEqual({
    message: expect.any(String),
    errors: [
      {
        title: code,
        details: expect.any(String),
        source: pointer === undefined ? {} : { pointer },
      },
    ],
    StatusCode: status,
  });
  expect(response!.head).toContain('content-type: application/json; charset=utf-8');
}

/** A raw HTTP/1.1 request with the integration key; `extra` header lines go last, before the blank line. */
function raw(method: string, target: string, options: { body?: unknown; extra?: string } = {}): string {
  const text = options.body === undefined ? '' : JSON.stringify(options.body);
  return (
    `${method} ${target} HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey-v1 ${KEY_APP1}\r\n` +
    (options.body === undefined
      ? ''
      : `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n`) +
    `${options.extra ?? ''}\r\n${text}`
  );
}

const addItem = (sku: string) => ({ cartItems: [{ sku, quantity: 1, price: 2 }] });

/** `count` header lines `x:1` (Node joins them into one `x`), sent before the header that matters. */
const flood = (count: number) => 'x:1\r\n'.repeat(count);

describe('header lines past Node’s count limit (maxHeadersCount): refused, never dropped silently', () => {
  it('a stale If-Match after 997 header lines: 431 HEADERS_TOO_LARGE, nothing appended (it was 200)', async () => {
    const id = `${run}-flood-if-match`;
    const before = await createSession(id);
    const [reply] = responses(
      await exchange(
        raw('POST', sessionUrl(id, '/cart_items'), {
          body: addItem('flooded'),
          extra: `${flood(997)}If-Match: "999"\r\nConnection: close\r\n`,
        }),
      ),
    );
    expectRefusal(reply, 431, 'HEADERS_TOO_LARGE');
    expect(reply!.head).toContain('connection: close');
    expect(await harness.streamLength(stream(id))).toBe(before);
  });

  it('an Idempotency-Key after the flood: 431 both times, nothing appended (it was applied twice)', async () => {
    const id = `${run}-flood-key`;
    const before = await createSession(id);
    const send = async () =>
      responses(
        await exchange(
          raw('POST', sessionUrl(id, '/cart_items'), {
            body: addItem('once'),
            extra: `${flood(1200)}Idempotency-Key: flood-${run}\r\nConnection: close\r\n`,
          }),
        ),
      )[0];
    expectRefusal(await send(), 431, 'HEADERS_TOO_LARGE');
    expectRefusal(await send(), 431, 'HEADERS_TOO_LARGE');
    expect(await harness.streamLength(stream(id))).toBe(before);
  });

  it('a Content-Type: text/plain after the flood: 431, nothing appended (it was 200)', async () => {
    const id = `${run}-flood-type`;
    const before = await createSession(id);
    const body = JSON.stringify(addItem('typed'));
    const [reply] = responses(
      await exchange(
        `POST ${sessionUrl(id, '/cart_items')} HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey-v1 ${KEY_APP1}\r\n` +
          `Content-Length: ${body.length}\r\nConnection: close\r\n${flood(2000)}Content-Type: text/plain\r\n\r\n${body}`,
      ),
    );
    expectRefusal(reply, 431, 'HEADERS_TOO_LARGE');
    expect(await harness.streamLength(stream(id))).toBe(before);
  });

  it('a request of 1,000 header lines — as many as Node keeps — is 431 HEADERS_TOO_LARGE; 999 are read', async () => {
    // Host and 998 filler lines: 999. One more and Node may have dropped some.
    const [read] = responses(await exchange(`GET /health/live HTTP/1.1\r\nHost: x\r\n${flood(998)}\r\n`));
    expect(read!.status).toBe(200);
    const requestId = `${run}-lines`;
    const [refused, ...more] = responses(
      await exchange(
        `GET /health/live HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${requestId}\r\n${flood(998)}\r\n` +
          'GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n',
      ),
    );
    expectRefusal(refused, 431, 'HEADERS_TOO_LARGE');
    expect(refused!.head).toContain('connection: close');
    expect(header(refused!, 'x-request-id')).toBe(requestId);
    expect(more).toEqual([]);
  });
});

describe('a fragment (#) in the request target (RFC 9112 §3.2)', () => {
  it.each([
    ['PUT', `/v2/customer_sessions/${run}-frag#12?dry=true`, { customerSession: {} }],
    ['PUT', `/v2/customer_sessions/${run}-frag2?dry=true#x`, { customerSession: {} }],
    ['POST', `/v2/customer_sessions/${run}-frag3/cart_items#`, addItem('f')],
    ['GET', '/health/live#x', undefined],
  ])('%s %s → 400 MALFORMED_REQUEST, nothing created, connection closed', async (method, target, body) => {
    const [reply, ...more] = responses(
      await exchange(raw(method, target, { body }) + raw('GET', '/health/live')),
    );
    expectRefusal(reply, 400, 'MALFORMED_REQUEST');
    expect(reply!.head).toContain('connection: close');
    expect(more).toEqual([]);
    for (const id of [`${run}-frag`, `${run}-frag2`, `${run}-frag3`]) {
      expect(await harness.streamLength(stream(id))).toBe(0);
    }
  });
});

describe('a malformed request pipelined behind a valid one', () => {
  it('a POST followed by GARBAGE in the same write: the POST gets its 200, then the 400, then the close', async () => {
    const id = `${run}-garbage`;
    const before = await createSession(id);
    const replies = responses(
      await exchange(
        raw('POST', sessionUrl(id, '/cart_items'), { body: addItem('g'), extra: `X-Request-Id: ${id}\r\n` }) +
          'GARBAGE\r\n\r\n',
      ),
    );
    expect(replies.map((reply) => reply.status)).toEqual([200, 400]);
    expect(replies[0]!.body.customerSession.cartItems.map((item: { sku: string }) => item.sku)).toEqual([
      'a',
      'g',
    ]);
    expectRefusal(replies[1], 400, 'MALFORMED_REQUEST');
    expect(replies[1]!.head).toContain('connection: close');
    expect(await harness.streamLength(stream(id))).toBe(before + 1);
    // Logged as answered (it was 499 "aborted": the 400 went out in its place and cut it off).
    expect(lines.filter((line) => line.requestId === id)).toEqual([
      expect.objectContaining({ msg: 'request', method: 'POST', status: 200 }),
    ]);
  });

  it('GET /health/live followed by GARBAGE: 200 then 400', async () => {
    const replies = responses(await exchange('GET /health/live HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n'));
    expect(replies.map((reply) => reply.status)).toEqual([200, 400]);
    expect(replies[0]!.body).toEqual({ status: 'ok' });
  });

  it('headers over 16 KiB behind two commands: both answered in order, then the 431', async () => {
    const id = `${run}-overflow`;
    const before = await createSession(id);
    const replies = responses(
      await exchange(
        raw('POST', sessionUrl(id, '/cart_items'), { body: addItem('o1') }) +
          raw('POST', sessionUrl(id, '/cart_items'), { body: addItem('o2') }) +
          `GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      ),
    );
    expect(replies.map((reply) => reply.status)).toEqual([200, 200, 431]);
    expect(replies.map((reply) => header(reply, 'etag'))).toEqual(['"1"', '"2"', undefined]);
    expect(await harness.streamLength(stream(id))).toBe(before + 2);
  });

  it('a bad chunk in the body of a request queued behind a command: the command is answered, the broken one is 400 and not applied', async () => {
    const id = `${run}-bad-chunk`;
    const before = await createSession(id);
    const replies = responses(
      await exchange(
        raw('POST', sessionUrl(id, '/cart_items'), {
          body: addItem('c1'),
          extra: `X-Request-Id: ${id}-1\r\n`,
        }) +
          `POST ${sessionUrl(id, '/cart_items')} HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey-v1 ${KEY_APP1}\r\n` +
          `X-Request-Id: ${id}-2\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n` +
          '5\r\n{"car\r\nzz\r\n',
      ),
    );
    expect(replies.map((reply) => reply.status)).toEqual([200, 400]);
    expectRefusal(replies[1], 400, 'MALFORMED_REQUEST');
    expect(await harness.streamLength(stream(id))).toBe(before + 1);
    for (let waited = 0; waited < 2_000 && !lines.some((line) => line.requestId === `${id}-2`); waited += 50)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(lines.filter((line) => String(line.requestId).startsWith(id))).toEqual([
      expect.objectContaining({ requestId: `${id}-1`, msg: 'request', status: 200 }),
      expect.objectContaining({ requestId: `${id}-2`, msg: 'request', status: 400 }),
    ]);
  });
});

describe('CONNECT (this is an origin server, not a proxy)', () => {
  it('CONNECT on a path the API serves → 405 METHOD_NOT_ALLOWED with Allow, logged, connection closed', async () => {
    const requestId = `${run}-connect`;
    const [reply, ...more] = responses(
      await exchange(
        `CONNECT /v2/customer_sessions/s1 HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${requestId}\r\n\r\n`,
      ),
    );
    expectRefusal(reply, 405, 'METHOD_NOT_ALLOWED');
    expect(header(reply!, 'allow')).toBe('get, head, options, put');
    expect(reply!.head).toContain('connection: close');
    expect(header(reply!, 'x-request-id')).toBe(requestId);
    expect(more).toEqual([]);
    expect(lines.filter((line) => line.requestId === requestId)).toEqual([
      expect.objectContaining({ level: 30, msg: 'request', method: 'CONNECT', status: 405 }),
    ]);
  });

  it('CONNECT host:port (a tunnel) → 405 with an empty Allow: no resource here takes CONNECT', async () => {
    const [reply] = responses(
      await exchange('CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'),
    );
    expectRefusal(reply, 405, 'METHOD_NOT_ALLOWED');
    expect(header(reply!, 'allow')).toBe('');
    expect(reply!.head).toContain('connection: close');
  });

  it('a POST pipelined before a CONNECT is answered first (applied once), then the 405', async () => {
    const id = `${run}-connect-behind`;
    const before = await createSession(id);
    const replies = responses(
      await exchange(
        raw('POST', sessionUrl(id, '/cart_items'), { body: addItem('k') }) +
          `CONNECT ${sessionUrl(id)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      ),
    );
    expect(replies.map((reply) => reply.status)).toEqual([200, 405]);
    expect(header(replies[0]!, 'etag')).toBe('"1"');
    expect(await harness.streamLength(stream(id))).toBe(before + 1);
  });
});

describe('Host (RFC 9112 §3.2): exactly one, and a valid one', () => {
  it.each([
    ['two Host lines', 'Host: x\r\nHost: y\r\n'],
    ['the same Host twice', 'Host: x\r\nHost: x\r\n'],
    ['Host: a b', 'Host: a b\r\n'],
    ['Host: a/b', 'Host: a/b\r\n'],
    ['Host: x:port', 'Host: x:port\r\n'],
    ['Host: a@b', 'Host: a@b\r\n'],
  ])('%s → 400 MALFORMED_REQUEST, nothing applied, connection closed', async (_name, hosts) => {
    const id = `${run}-host`;
    const before = (await harness.streamLength(stream(id))) || (await createSession(id));
    const request = raw('POST', sessionUrl(id, '/cart_items'), { body: addItem('h') }).replace(
      'Host: x\r\n',
      hosts,
    );
    const [reply, ...more] = responses(await exchange(request + raw('GET', '/health/live')));
    expectRefusal(reply, 400, 'MALFORMED_REQUEST');
    expect(reply!.head).toContain('connection: close');
    expect(more).toEqual([]);
    expect(await harness.streamLength(stream(id))).toBe(before);
  });

  it.each([
    'example.com',
    'example.com:8080',
    '127.0.0.1:1',
    '[::1]:3000',
    '[fe80::1%25eth0]',
    'a_b.example.',
    '',
  ])('takes Host: %s', async (host) => {
    const [reply] = responses(
      await exchange(`GET /health/live HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
    );
    expect(reply!.status).toBe(200);
  });
});

describe('a repeated Content-Type', () => {
  it.each([
    ['different values', 'Content-Type: application/json\r\nContent-Type: text/plain\r\n'],
    ['the JSON one second', 'Content-Type: text/plain\r\nContent-Type: application/json\r\n'],
    ['the same value twice', 'Content-Type: application/json\r\nContent-Type: application/json\r\n'],
  ])('with %s → 400 INVALID_HEADER, nothing applied', async (_name, types) => {
    const id = `${run}-types`;
    const before = (await harness.streamLength(stream(id))) || (await createSession(id));
    const request = raw('POST', sessionUrl(id, '/cart_items'), {
      body: addItem('t'),
      extra: 'Connection: close\r\n',
    }).replace('Content-Type: application/json\r\n', types);
    const [reply] = responses(await exchange(request));
    expectRefusal(reply, 400, 'INVALID_HEADER');
    expect(reply!.body.message).toContain('Content-Type');
    expect(await harness.streamLength(stream(id))).toBe(before);
  });
});

describe('a declared body over 5 MiB without Expect: 100-continue', () => {
  it('is answered 413 at once, without waiting for the body, and the connection is closed', async () => {
    const id = `${run}-declared`;
    const before = await createSession(id);
    const started = Date.now();
    const received = await exchange(
      `POST ${sessionUrl(id, '/cart_items')} HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey-v1 ${KEY_APP1}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${6 * 1024 * 1024}\r\n\r\n{"cartItems":[`,
      { silenceMs: 5_000 },
    );
    const [reply, ...more] = responses(received);
    expectRefusal(reply, 413, 'PAYLOAD_TOO_LARGE');
    expect(reply!.head).toContain('connection: close');
    expect(more).toEqual([]);
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(await harness.streamLength(stream(id))).toBe(before);
  });
});

/**
 * Sends `head` and `bodyBytes` bytes of body on a new connection, and reads nothing until all of it is written —
 * as nginx and other proxies that buffer a request body do. Resolves with what the server sent, and the error
 * the upload met (EPIPE, ECONNRESET) if any: a connection the server closes with the body unread is reset, and
 * the reset throws away the answer before it was read.
 */
function uploadThenRead(
  head: string,
  bodyBytes: number,
  after = '',
): Promise<{ received: string; error?: string }> {
  const url = new URL(baseUrl);
  return new Promise((resolve) => {
    // Half-open allowed: the server's FIN does not close this side at once, so whatever the server does with
    // bytes after the refused body happens while the client is still there (the client closes 300 ms later).
    const socket = net.connect({ port: Number(url.port), host: url.hostname, allowHalfOpen: true });
    let received = '';
    let error: string | undefined;
    socket.on('end', () => setTimeout(() => socket.end(), 300));
    socket.pause();
    socket.setEncoding('utf8');
    socket.setTimeout(15_000, () => socket.destroy());
    socket.on('error', (failure: NodeJS.ErrnoException) => (error ??= failure.code));
    socket.on('close', () => resolve({ received, error }));
    socket.write(head);
    socket.write(Buffer.alloc(bodyBytes, 0x20));
    socket.write(after, () => {
      socket.on('data', (chunk: string) => (received += chunk));
      socket.resume();
    });
  });
}

describe('a large body refused unread, sent whole before the answer is read (a proxy that buffers bodies)', () => {
  const target = (id: string) => sessionUrl(id, '/cart_items');

  it('an authenticated body over 5 MiB: the client reads its 413, never a reset (nginx answered 502)', async () => {
    const id = `${run}-buffered-413`;
    const before = await createSession(id);
    const size = 5 * 1024 * 1024 + 300_000;
    for (let attempt = 0; attempt < 3; attempt++) {
      const { received, error } = await uploadThenRead(
        `POST ${target(id)} HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey-v1 ${KEY_APP1}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`,
        size,
      );
      expect({ error, replies: responses(received).length }).toEqual({ error: undefined, replies: 1 });
      const [reply] = responses(received);
      expectRefusal(reply, 413, 'PAYLOAD_TOO_LARGE');
      expect(reply!.head).toContain('connection: close');
    }
    expect(await harness.streamLength(stream(id))).toBe(before);
  });

  it('an unauthenticated body of 4 MB: the client reads its 401; a command pipelined behind it is not run', async () => {
    const id = `${run}-buffered-401`;
    const before = await createSession(id);
    const gone = () => lines.filter((line) => line.msg === 'request' && line.status === 499).length;
    const goneBefore = gone();
    const size = 4_000_000;
    for (let attempt = 0; attempt < 3; attempt++) {
      const { received, error } = await uploadThenRead(
        `POST ${target(id)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`,
        size,
        raw('POST', target(id), { body: addItem(`behind-${attempt}`) }),
      );
      expect(error).toBeUndefined();
      const [reply, ...more] = responses(received);
      expectRefusal(reply, 401, 'UNAUTHORIZED');
      expect(reply!.head).toContain('connection: close');
      // The response said the connection ends with it: what came after is dropped, not applied unanswered.
      expect(more).toEqual([]);
    }
    expect(await harness.streamLength(stream(id))).toBe(before);
    // Nor handed to the application at all: its only trace would be a request line of a client gone (499).
    expect(gone()).toBe(goneBefore);
  });

  it.each([
    ['a CONNECT', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'],
    [
      'an upgrade request',
      'GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n',
    ],
  ])('%s pipelined behind a refused body is dropped like any request', async (_name, after) => {
    const logged = () => lines.filter((line) => line.msg === 'request').length;
    const loggedBefore = logged();
    const { received, error } = await uploadThenRead(
      `POST ${target(`${run}-linger-special`)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        'Content-Length: 200000\r\n\r\n',
      200_000,
      after,
    );
    expect(error).toBeUndefined();
    const [reply, ...more] = responses(received);
    expectRefusal(reply, 401, 'UNAUTHORIZED');
    expect(more).toEqual([]);
    // The 401's own line, and no other: the request behind it never reached the application.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(logged() - loggedBefore).toBe(1);
  });
});

describe('query strings that are not valid percent-encoding', () => {
  const asManagement = `Authorization: ManagementKey-v1 ${MANAGEMENT_KEY}\r\n`;
  const get = async (target: string) =>
    responses(
      await exchange(`GET ${target} HTTP/1.1\r\nHost: x\r\n${asManagement}Connection: close\r\n\r\n`),
    )[0];

  it.each([
    // Latin-1 "été": Express's parser made it U+FFFD t U+FFFD, which matched a profile holding exactly that.
    ['profile', '%E9t%E9'],
    ['coupon', '%FF'],
    ['profile', '%zz1'],
    ['coupon', '100%'],
    ['createdAfter', '2026-01-01T00:00:00%2'],
  ])('a filter %s=%s → 400 INVALID_FIELD at that parameter, not a search for U+FFFD', async (name, value) => {
    const reply = await get(`/v1/applications/1/sessions?pageSize=5&${name}=${value}`);
    expect(reply?.status).toBe(400);
    expect(reply!.body.errors).toEqual([
      {
        title: 'INVALID_FIELD',
        details: expect.stringContaining('percent-encod'),
        source: { parameter: name },
      },
    ]);
  });

  it("leaves the query of /health, /metrics and /openapi.json alone (a probe's cache-buster)", async () => {
    for (const target of ['/health/ready?x=%', '/metrics?x=%', '/openapi.json?%=1', '/health/live?t=%FF']) {
      const reply = await fetch(`${baseUrl}${target}`);
      await reply.arrayBuffer();
      expect({ target, status: reply.status }).toEqual({ target, status: 200 });
    }
  });

  it('a parameter name that does not decode → 400 MALFORMED_REQUEST; valid escapes still decode', async () => {
    const reply = await get('/v1/applications/1/sessions?%FFx=1');
    expectRefusal(reply, 400, 'MALFORMED_REQUEST');
    const fine = await get('/v1/applications/1/sessions?profile=%C3%A9t%C3%A9+x&pageSize=%35');
    expect(fine?.status).toBe(200);
  });

  it('a command with ?dry=%FF is refused and appends nothing', async () => {
    const id = `${run}-dry-escape`;
    const before = await createSession(id);
    const [reply] = responses(
      await exchange(
        raw('PUT', `/v2/customer_sessions/${encodeURIComponent(id)}?dry=%FF`, {
          body: { customerSession: { couponCodes: ['X'] } },
          extra: 'Connection: close\r\n',
        }),
      ),
    );
    expect(reply?.status).toBe(400);
    expect(reply!.body.errors[0]).toMatchObject({ title: 'INVALID_FIELD', source: { parameter: 'dry' } });
    expect(await harness.streamLength(stream(id))).toBe(before);
  });
});

describe('path parameters that are not valid percent-encoding', () => {
  const BAD = ['%zz', '%', '%FF', '%ED%A0%80', 'ok%2'];
  const asManagement = `Authorization: ManagementKey-v1 ${MANAGEMENT_KEY}\r\n`;
  const cases: [method: string, target: (bad: string) => string, pointer: string, auth?: string][] = [
    ['GET', (bad) => `/v2/customer_sessions/${bad}`, '/customerSessionId'],
    ['PUT', (bad) => `/v2/customer_sessions/${bad}`, '/customerSessionId'],
    ['POST', (bad) => `/v2/customer_sessions/${bad}/cart_items`, '/customerSessionId'],
    ['POST', (bad) => `/v2/customer_sessions/${bad}/close`, '/customerSessionId'],
    ['PUT', (bad) => `/v2/customer_sessions/${bad}/reopen?x=1`, '/customerSessionId'],
    ['GET', (bad) => `/v1/applications/${bad}/sessions`, '/applicationId', asManagement],
    ['GET', (bad) => `/v1/applications/1/sessions/${bad}`, '/id', asManagement],
    ['GET', (bad) => `/v1/applications/1/customer_profiles/${bad}`, '/profileId', asManagement],
    ['GET', (bad) => `/v1/applications/${bad}/analytics/daily`, '/applicationId', asManagement],
  ];
  const rows = cases.flatMap(([method, target, pointer, auth]) =>
    BAD.map((bad) => [method, target(bad), pointer, auth] as const),
  );

  it.each(rows)('%s %s → 400 INVALID_FIELD at %s', async (method, target, pointer, auth) => {
    const request =
      `${method} ${target} HTTP/1.1\r\nHost: x\r\n${auth ?? `Authorization: ApiKey-v1 ${KEY_APP1}\r\n`}` +
      (method === 'GET' ? '' : 'Content-Type: application/json\r\nContent-Length: 2\r\n') +
      'Connection: close\r\n\r\n' +
      (method === 'GET' ? '' : '{}');
    const [reply] = responses(await exchange(request));
    expectRefusal(reply, 400, 'INVALID_FIELD', pointer);
    expect(reply!.body.message).toContain('percent-encod');
    expect(reply!.body.message).not.toContain('Failed to decode');
  });

  it('still decodes a valid escape: %41%20b is the session "A b"', async () => {
    const id = `${run}-A b`;
    const created = await call('PUT', sessionUrl(id), { body: { customerSession: {} } });
    expect(created.status).toBe(200);
    const [reply] = responses(
      await exchange(raw('GET', `/v2/customer_sessions/${run}-%41%20b`, { extra: 'Connection: close\r\n' })),
    );
    expect(reply!.status).toBe(200);
    expect(reply!.body.customerSession.integrationId).toBe(id);
  });
});
