/**
 * How the API reads a request body before any validation: nesting bound, well-formed strings, media type and
 * content coding, and error messages that never echo raw bytes. Every refusal leaves the session as it was
 * (same GET body and ETag, same stream length).
 */
import { gzipSync } from 'node:zlib';
import {
  ApiHarness,
  client,
  KEY_APP1,
  sessionSnapshot,
  sessionUrl,
  type RefusalCase,
  type Reply,
  type SessionSnapshot,
} from './support/harness';

jest.setTimeout(120_000);

let harness: ApiHarness;
let call: ReturnType<typeof client>;
const run = `${Date.now()}`;
const sid = (name: string) => `body-${name}-${run}`;
const existing = sid('existing');

const sessionJson = (customerSession: unknown) => JSON.stringify({ customerSession });
const nestedObjects = (levels: number, leaf = '1') => `${'{"a":'.repeat(levels)}${leaf}${'}'.repeat(levels)}`;
const nestedArrays = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

beforeAll(async () => {
  harness = await ApiHarness.start();
  call = client(harness);
  const created = await call('PUT', sessionUrl(existing), {
    body: {
      customerSession: {
        profileId: 'p',
        cartItems: [{ sku: 'a', quantity: 1, price: 1 }],
        attributes: { x: 1 },
      },
    },
  });
  expect(created.status).toBe(200);
});

afterAll(async () => {
  await harness.dispose();
});

type Snapshot = SessionSnapshot;
const snapshot = (id: string): Promise<Snapshot> => sessionSnapshot(harness, id);

/** Sends without the harness's default `Content-Type` (and with exactly the headers given). */
async function send(
  method: string,
  url: string,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const response = await fetch(`${harness.baseUrl}${url}`, {
    method,
    headers: { authorization: `ApiKey-v1 ${KEY_APP1}`, ...headers },
    body,
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text === '' ? undefined : JSON.parse(text),
    headers: response.headers,
  };
}

function expectError(reply: Reply, status: number, code: string): void {
  expect({ status: reply.status, code: reply.body?.errors?.[0]?.title }).toEqual({ status, code });
  expect(reply.body.StatusCode).toBe(status);
  expect(reply.headers.get('x-event-position')).toBeNull();
  expect(JSON.stringify(reply.body)).not.toMatch(/\n\s+at /);
}

/** Only printable ASCII, and short: no raw body bytes in an error message. */
function expectPrintable(reply: Reply): void {
  const texts = [reply.body.message, ...reply.body.errors.map((e: { details: string }) => e.details)];
  for (const text of texts) {
    expect(text).toMatch(/^[\x20-\x7e]*$/);
    expect(text.length).toBeLessThanOrEqual(300);
  }
}

const refusals: RefusalCase[] = [
  {
    name: 'attributes nested 3,000 levels',
    options: { rawBody: `{"customerSession":{"attributes":${nestedObjects(3_000)}}}` },
    status: 400,
    code: 'LIMIT_EXCEEDED',
    pointer: /^\/customerSession\/attributes(\/a){98}$/,
  },
  {
    name: 'attributes nested 100,000 levels',
    options: { rawBody: `{"customerSession":{"attributes":${nestedObjects(100_000)}}}` },
    status: 400,
    code: 'LIMIT_EXCEEDED',
  },
  {
    name: '1,000,000 nested arrays',
    options: { rawBody: nestedArrays(1_000_000) },
    status: 400,
    code: 'LIMIT_EXCEEDED',
  },
  {
    name: 'cartItems nested 3,000 levels',
    method: 'POST',
    suffix: '/cart_items',
    options: { rawBody: `{"cartItems":${nestedArrays(3_000)}}` },
    status: 400,
    code: 'LIMIT_EXCEEDED',
  },
  {
    name: 'a lone high surrogate in profileId',
    options: { rawBody: '{"customerSession":{"profileId":"sur\\ud800"}}' },
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/customerSession/profileId',
  },
  {
    name: 'a lone low surrogate in an attribute key (at the attributes: the key is not echoed)',
    options: { rawBody: '{"customerSession":{"attributes":{"k\\udc00":1}}}' },
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/customerSession/attributes',
  },
  {
    name: 'a lone surrogate in a cart item sku',
    method: 'POST',
    suffix: '/cart_items',
    options: { rawBody: '{"cartItems":[{"sku":"\\udbff","quantity":1}]}' },
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/cartItems/0/sku',
  },
  {
    name: 'a text/plain body',
    options: { rawBody: sessionJson({ profileId: 'plain' }), headers: { 'content-type': 'text/plain' } },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'a form-urlencoded body',
    options: {
      rawBody: sessionJson({ profileId: 'form' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'application/json in ISO-8859-1',
    options: {
      rawBody: sessionJson({ profileId: 'latin' }),
      headers: { 'content-type': 'application/json; charset=iso-8859-1' },
    },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'a gzip body',
    options: {
      rawBody: gzipSync(sessionJson({ profileId: 'zipped' })),
      headers: { 'content-encoding': 'gzip' },
    },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'Content-Encoding br over a plain body',
    options: { rawBody: sessionJson({ profileId: 'brotli' }), headers: { 'content-encoding': 'br' } },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
  {
    name: 'a text/plain body on cart_items',
    method: 'POST',
    suffix: '/cart_items',
    options: {
      rawBody: JSON.stringify({ cartItems: [{ sku: 'b', quantity: 1 }] }),
      headers: { 'content-type': 'text/plain;charset=UTF-8' },
    },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
  },
];

describe('request bodies', () => {
  it.each(refusals)('$name → $status $code, session unchanged', async (row) => {
    const before = await snapshot(existing);
    const reply = await call(row.method ?? 'PUT', sessionUrl(existing, row.suffix), row.options);
    expectError(reply, row.status, row.code);
    expectPrintable(reply);
    // source always: at the pointer the table names, when it does.
    expect(reply.body.errors[0].source).toEqual(expect.any(Object));
    const pointer = reply.body.errors[0].source.pointer;
    if (typeof row.pointer === 'string') expect(pointer).toBe(row.pointer);
    else if (row.pointer !== undefined) expect(pointer).toMatch(row.pointer);
    expect(await snapshot(existing)).toEqual(before);
  });

  it('names the nesting limit in the message', async () => {
    const reply = await call('PUT', sessionUrl(existing), {
      rawBody: `{"customerSession":{"attributes":${nestedObjects(3_000)}}}`,
    });
    expect(reply.body.message).toMatch(/100 levels/);
  });

  it('accepts attributes nested as deep as the domain allows', async () => {
    const id = sid('deep-ok');
    const reply = await call('PUT', sessionUrl(id), {
      rawBody: `{"customerSession":{"attributes":${nestedObjects(60)}}}`,
    });
    expect(reply.status).toBe(200);
  });

  it('creates nothing for a refused body on a new session', async () => {
    for (const [name, options] of [
      ['plain', { rawBody: sessionJson({ profileId: 'x' }), headers: { 'content-type': 'text/plain' } }],
      ['surrogate', { rawBody: '{"customerSession":{"profileId":"sur\\ud800"}}' }],
      ['deep', { rawBody: `{"customerSession":{"attributes":${nestedObjects(3_000)}}}` }],
      ['gzip', { rawBody: gzipSync(sessionJson({})), headers: { 'content-encoding': 'gzip' } }],
    ] as const) {
      const id = sid(`new-${name}`);
      const reply = await call('PUT', sessionUrl(id), options);
      expect(reply.status).toBeGreaterThanOrEqual(400);
      expect(await snapshot(id)).toMatchObject({ status: 404, events: 0 });
    }
  });

  it('keeps profile ids that differ only in ill-formed code units apart: they are refused', async () => {
    const accepted = await call('PUT', sessionUrl(sid('fffd')), {
      rawBody: '{"customerSession":{"profileId":"sur\\ufffd"}}',
    });
    expect(accepted.status).toBe(200);
    expect(accepted.body.customerSession.profileId).toBe('sur\ufffd');
    for (const escape of ['\\ud800', '\\udbff', '\\udfff']) {
      const reply = await call('PUT', sessionUrl(sid(`lone-${escape.slice(1)}`)), {
        rawBody: `{"customerSession":{"profileId":"sur${escape}"}}`,
      });
      expectError(reply, 400, 'INVALID_FIELD');
    }
  });

  it('answers Accept-Encoding: identity when it refuses a content coding', async () => {
    const reply = await call('PUT', sessionUrl(existing), {
      rawBody: gzipSync(sessionJson({})),
      headers: { 'content-encoding': 'gzip' },
    });
    expectError(reply, 415, 'UNSUPPORTED_MEDIA_TYPE');
    expect(reply.headers.get('accept-encoding')).toBe('identity');
    expect(reply.body.message).toMatch(/gzip/);
  });

  it('tells a client that sent text/plain to send application/json', async () => {
    const reply = await call('PUT', sessionUrl(existing), {
      rawBody: sessionJson({}),
      headers: { 'content-type': 'text/plain' },
    });
    expect(reply.body.message).toMatch(/application\/json/);
  });

  it.each([
    ['application/json; charset=utf-8'],
    ['Application/JSON ; Charset="UTF-8"'],
    ['application/merge-patch+json'],
    ['application/vnd.session+json; charset=utf-8'],
  ])('accepts Content-Type %s', async (contentType) => {
    const id = sid(`ct-${contentType.replace(/[^a-z]/gi, '')}`);
    const reply = await call('PUT', sessionUrl(id), {
      rawBody: sessionJson({ profileId: 'typed' }),
      headers: { 'content-type': contentType },
    });
    expect(reply.status).toBe(200);
    expect((await snapshot(id)).body).toMatchObject({ customerSession: { profileId: 'typed' } });
  });

  it('accepts Content-Encoding: identity', async () => {
    const before = await snapshot(existing);
    const reply = await call('POST', sessionUrl(existing, '/cart_items'), {
      body: { cartItems: [{ sku: 'identity', quantity: 1 }] },
      headers: { 'content-encoding': 'identity' },
    });
    expect(reply.status).toBe(200);
    expect((await snapshot(existing)).etag).not.toBe(before.etag);
  });

  it('reads a body without Content-Type as JSON', async () => {
    const id = sid('untyped');
    const reply = await send('PUT', sessionUrl(id), Buffer.from(sessionJson({ profileId: 'untyped' })));
    expect(reply.status).toBe(200);
    expect((await snapshot(id)).body).toMatchObject({ customerSession: { profileId: 'untyped' } });
  });

  it('ignores Content-Type and Content-Encoding when there is no body', async () => {
    const id = sid('empty');
    expect((await call('PUT', sessionUrl(id), { body: { customerSession: {} } })).status).toBe(200);
    const reply = await send('POST', sessionUrl(id, '/close'), Buffer.alloc(0), {
      'content-type': 'text/plain',
      'content-encoding': 'gzip',
    });
    expect(reply.status).toBe(200);
    expect(reply.body.customerSession.state).toBe('closed');
  });

  it('never echoes binary bytes in INVALID_JSON', async () => {
    const before = await snapshot(existing);
    const binary = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe, 0x00, 0x01, 0x7f, 0xc3, 0x28, 0x80]);
    for (const rawBody of [
      binary,
      '\u0000\u0001\u0002 garbage \u001b[31m',
      `{"a":"${'é'.repeat(500)}"\u0007}`,
    ]) {
      const reply = await call('PUT', sessionUrl(existing), { rawBody });
      expectError(reply, 400, 'INVALID_JSON');
      expectPrintable(reply);
    }
    expect(await snapshot(existing)).toEqual(before);
  });

  it('still refuses a body over 5 MiB with 413, whatever its type', async () => {
    const rawBody = `{"customerSession":{"attributes":{"blob":"${'x'.repeat(6 * 1024 * 1024)}"}}}`;
    for (const headers of [{}, { 'content-type': 'text/plain' }] as Record<string, string>[]) {
      const reply = await call('PUT', sessionUrl(existing), { rawBody, headers });
      expectError(reply, 413, 'PAYLOAD_TOO_LARGE');
    }
  });

  it('takes a body of exactly 5 MiB and refuses one byte more with 413, changing nothing', async () => {
    const id = sid('five-mib');
    const json = sessionJson({ couponCodes: ['FIVE'] });
    // JSON allows whitespace between tokens: the same document, padded to the size.
    const padded = (bytes: number) => `${' '.repeat(bytes - json.length)}${json}`;
    const over = await call('PUT', sessionUrl(id), { rawBody: padded(5 * 1024 * 1024 + 1) });
    expectError(over, 413, 'PAYLOAD_TOO_LARGE');
    expect((await snapshot(id)).status).toBe(404);
    const exact = await call('PUT', sessionUrl(id), { rawBody: padded(5 * 1024 * 1024) });
    expect(exact.status).toBe(200);
    expect(exact.body.customerSession.couponCodes).toEqual(['FIVE']);
  });

  it('still keeps __proto__ keys in attributes as the client sent them', async () => {
    const id = sid('proto');
    const reply = await call('PUT', sessionUrl(id), {
      rawBody: '{"customerSession":{"attributes":{"__proto__":{"x":1},"constructor":"c"}}}',
    });
    expect(reply.status).toBe(200);
    const attributes = (await snapshot(id)).body as { customerSession: { attributes: object } };
    expect(JSON.stringify(attributes.customerSession.attributes)).toBe(
      '{"__proto__":{"x":1},"constructor":"c"}',
    );
  });

  it('keeps keys spelt with JSON escapes exactly as the same keys spelt plainly', async () => {
    const escaped =
      '{"customerSession":{"additionalCosts":{"\\u005f_proto__":{"price":7}},' +
      '"attributes":{"\\u0063onstructor":{"a":1},"x":1,"\\u0070rototype":2,"to\\u0053tring":3},' +
      '"cartItems":[{"sku":"a","quantity":1,"attributes":{"__pro\\u0074o__":[1]},' +
      '"additionalCosts":{"c\\u006fnstructor":{"price":1}}}]}}';
    const plain = JSON.stringify(JSON.parse(escaped));
    expect(plain).toContain('"__proto__":{"price":7}');
    const sessions = [];
    for (const [name, rawBody] of [
      ['escaped-keys', escaped],
      ['plain-keys', plain],
    ]) {
      const reply = await call('PUT', sessionUrl(sid(name!)), { rawBody });
      expect(reply.status).toBe(200);
      const { customerSession } = (await snapshot(sid(name!))).body as Reply['body'];
      sessions.push(customerSession);
      expect(JSON.stringify(customerSession.additionalCosts)).toBe('{"__proto__":{"price":7}}');
      expect(JSON.stringify(customerSession.attributes)).toBe(
        '{"constructor":{"a":1},"x":1,"prototype":2,"toString":3}',
      );
      expect(JSON.stringify(customerSession.cartItems[0].attributes)).toBe('{"__proto__":[1]}');
      expect(JSON.stringify(customerSession.cartItems[0].additionalCosts)).toBe(
        '{"constructor":{"price":1}}',
      );
      expect(customerSession.total).toBe(8);
    }
    const comparable = ({ attributes, additionalCosts, cartItems, total }: Record<string, unknown>) =>
      JSON.stringify({ attributes, additionalCosts, cartItems, total });
    expect(comparable(sessions[0])).toBe(comparable(sessions[1]));
  });

  it('keeps an escaped key on /cart_items as the same key spelt plainly', async () => {
    const id = sid('escaped-add');
    expect((await call('PUT', sessionUrl(id), { body: { customerSession: {} } })).status).toBe(200);
    const reply = await call('POST', sessionUrl(id, '/cart_items'), {
      rawBody: '{"cartItems":[{"sku":"a","quantity":1,"attributes":{"\\u005f\\u005fproto__":{"y":2}}}]}',
    });
    expect(reply.status).toBe(200);
    expect(JSON.stringify(reply.body.customerSession.cartItems[0].attributes)).toBe('{"__proto__":{"y":2}}');
  });

  it('treats an escaped and a plain spelling of a key as the same body for an Idempotency-Key', async () => {
    const id = sid('escaped-keyed');
    const headers = { 'Idempotency-Key': `escaped-${run}` };
    const first = await call('PUT', sessionUrl(id), {
      headers,
      rawBody: '{"customerSession":{"attributes":{"__proto__":{"x":1},"constructor":2}}}',
    });
    expect(first.status).toBe(200);
    const after = await snapshot(id);
    for (const rawBody of [
      '{"customerSession":{"attributes":{"\\u005f_proto__":{"x":1},"\\u0063onstructor":2}}}',
      '{"customerSession" : {"attributes":{"constructor":2,"__proto__":{"x":1.0}}}}',
    ]) {
      const retry = await call('PUT', sessionUrl(id), { headers, rawBody });
      expect(retry.status).toBe(200);
      expect(retry.body).toEqual(first.body);
      expect(retry.headers.get('etag')).toBe(first.headers.get('etag'));
    }
    for (const rawBody of [
      '{"customerSession":{"attributes":{"\\u005f_proto__":{"x":2},"constructor":2}}}',
      '{"customerSession":{"attributes":{"constructor":2}}}',
    ]) {
      const other = await call('PUT', sessionUrl(id), { headers, rawBody });
      expectError(other, 422, 'IDEMPOTENCY_KEY_REUSED');
    }
    expect(await snapshot(id)).toEqual(after);
  });
});
