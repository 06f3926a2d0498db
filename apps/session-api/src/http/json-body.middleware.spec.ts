import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { IntegrationAuthGuard, type AuthenticatedRequest } from '../auth/integration-auth.guard';
import { ApiKeys } from '../config/api-keys.provider';
import { ApiError } from '../errors/api-error';
import { MetricsService } from '../operations/metrics.service';
import {
  contentEncodingRefusal,
  inspectBody,
  JsonBodyMiddleware,
  MAX_ARRAY_ENTRIES,
  MAX_BODY_BYTES,
  MAX_BODY_DEPTH,
  MAX_BODY_VALUES,
  MAX_OUTSIDE_VALUES,
  MAX_SET_ASIDE_VALUES,
  MAX_OBJECT_MEMBERS,
  mediaTypeRefusal,
  parseJsonBody,
  printableExcerpt,
  readJsonBody,
  waitsForBodyBudget,
} from './json-body.middleware';
import { BODY_BUDGET_EXEMPT_BYTES } from './body-budget';

/** The refusal `inspectBody` finds, if any. */
const findBodyProblem = (value: unknown, maxDepth?: number) => inspectBody(value, maxDepth).problem;

const nestedArrays = (levels: number) => JSON.parse(`${'['.repeat(levels)}${']'.repeat(levels)}`);
const nestedObjects = (levels: number) => JSON.parse(`${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`);

function summary(error: ApiError | undefined) {
  const entry = error?.entries[0];
  return entry && { status: error.status, code: entry.title, pointer: entry.pointer };
}

function request(chunks: (string | Buffer)[], headers: IncomingHttpHeaders = {}): IncomingMessage {
  const stream = Readable.from(chunks.map((chunk) => Buffer.from(chunk)));
  // rawHeaders as Node keeps them beside `headers` (every copy, name then value).
  const rawHeaders = Object.entries(headers).flatMap(([name, value]) => [name, String(value)]);
  return Object.assign(stream, { headers, rawHeaders, method: 'PUT' }) as unknown as IncomingMessage;
}

async function refusal(promise: Promise<unknown>) {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApiError);
  return summary(error as ApiError);
}

describe('findBodyProblem', () => {
  it.each([
    ['null', null],
    ['a number', 1.5],
    ['a string', 'text'],
    ['an empty object', {}],
    [
      'a typical session body',
      { customerSession: { profileId: 'p', cartItems: [{ sku: 'a', quantity: 1 }] } },
    ],
    ['emoji and U+FFFD (well-formed)', { 'k😀': ['😀', '\ufffd', '\ud83d\ude00'] }],
  ])('accepts %s', (_name, value) => {
    expect(findBodyProblem(value)).toBeUndefined();
  });

  it(`accepts ${MAX_BODY_DEPTH} levels and refuses ${MAX_BODY_DEPTH + 1} with LIMIT_EXCEEDED`, () => {
    expect(findBodyProblem(nestedArrays(MAX_BODY_DEPTH))).toBeUndefined();
    expect(findBodyProblem(nestedObjects(MAX_BODY_DEPTH))).toBeUndefined();
    const error = findBodyProblem(nestedObjects(MAX_BODY_DEPTH + 1));
    expect(summary(error)).toEqual({
      status: 400,
      code: 'LIMIT_EXCEEDED',
      pointer: '/a'.repeat(MAX_BODY_DEPTH),
    });
    expect(error?.message).toContain(`more than ${MAX_BODY_DEPTH} levels`);
  });

  it('refuses nesting deep enough to overflow a recursive walk (1,000,000 arrays, 100,000 objects)', () => {
    expect(summary(findBodyProblem(nestedArrays(1_000_000)))).toEqual({
      status: 400,
      code: 'LIMIT_EXCEEDED',
      pointer: '/0'.repeat(MAX_BODY_DEPTH),
    });
    expect(summary(findBodyProblem(nestedObjects(100_000)))?.code).toBe('LIMIT_EXCEEDED');
  });

  it('walks any depth without recursion when unbounded', () => {
    // In free-form attributes, as a whole, where no object or array is bounded on its own (30,000 levels overflow
    // a recursive walk's stack).
    expect(findBodyProblem({ attributes: nestedArrays(30_000) }, Infinity)).toBeUndefined();
  });

  it('bounds members and entries outside free-form attributes only', () => {
    const members = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
    const entries = (n: number) => Array.from({ length: n }, (_, i) => i);
    expect(
      findBodyProblem({ a: members(MAX_OBJECT_MEMBERS), b: entries(MAX_ARRAY_ENTRIES) }),
    ).toBeUndefined();
    expect(findBodyProblem({ a: { b: members(MAX_OBJECT_MEMBERS + 1) } })).toMatchObject({
      status: 400,
      entries: [{ title: 'LIMIT_EXCEEDED', pointer: '/a/b' }],
    });
    expect(findBodyProblem({ a: [entries(MAX_ARRAY_ENTRIES + 1)] })).toMatchObject({
      entries: [{ title: 'LIMIT_EXCEEDED', pointer: '/a/0' }],
    });
    const wide = { attributes: { many: members(20_000), long: entries(12_000) } };
    expect(
      findBodyProblem({
        customerSession: wide,
        cartItems: [wide, { prices: members(MAX_OBJECT_MEMBERS * 10) }],
      }),
    ).toBeUndefined();
  });

  it('bounds each value set aside (attributes, read-only fields) as a whole, and the whole body', () => {
    const members = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
    const entries = (n: number) => Array.from({ length: n }, (_, i) => i);
    const attributes = { a: members(MAX_SET_ASIDE_VALUES / 2 - 1), b: entries(MAX_SET_ASIDE_VALUES / 2 - 1) };
    expect(findBodyProblem({ customerSession: { attributes } })).toBeUndefined();
    const over = { ...attributes, c: [1, 2, 3] };
    expect(findBodyProblem({ customerSession: { cartItems: [{}, { attributes: over }] } })).toMatchObject({
      message:
        'attributes must be at most 65536 bytes serialized (/customerSession/cartItems/1/attributes holds more than 32768 members and entries)',
      entries: [{ title: 'INVALID_FIELD', pointer: '/customerSession/cartItems/1/attributes' }],
    });
    expect(findBodyProblem({ cartItems: [{ prices: members(MAX_SET_ASIDE_VALUES + 1) }] })).toMatchObject({
      entries: [{ title: 'LIMIT_EXCEEDED', pointer: '/cartItems/0/prices' }],
    });
    const rows = (count: number) => Array.from({ length: count }, () => entries(1000));
    expect(findBodyProblem({ a: rows(MAX_OUTSIDE_VALUES / 1000 - 1) })).toBeUndefined();
    expect(findBodyProblem({ a: rows(MAX_OUTSIDE_VALUES / 1000) })).toMatchObject({
      entries: [{ title: 'LIMIT_EXCEEDED', pointer: undefined }],
    });
    const full = { attributes: entries(MAX_SET_ASIDE_VALUES) };
    const items = (count: number) => Array.from({ length: count }, () => full);
    const many = Math.floor(MAX_BODY_VALUES / MAX_SET_ASIDE_VALUES);
    expect(findBodyProblem({ cartItems: items(many) })).toBeUndefined();
    expect(findBodyProblem({ cartItems: items(many + 1) })).toMatchObject({
      entries: [{ title: 'LIMIT_EXCEEDED', pointer: undefined }],
    });
  });

  it('finds the deep branch next to shallow ones', () => {
    const body = { customerSession: { cartItems: [{ sku: 'a' }, { attributes: nestedObjects(200) }] } };
    expect(summary(findBodyProblem(body))?.pointer).toBe(
      `/customerSession/cartItems/1/attributes${'/a'.repeat(MAX_BODY_DEPTH - 4)}`,
    );
  });

  it.each([
    ['a value', { customerSession: { profileId: 'sur\ud800' } }, '/customerSession/profileId'],
    ['an array item', { cartItems: [{ sku: 'a' }, 'x\udbff'] }, '/cartItems/1'],
    ['a reversed pair', { v: '\ude00\ud83d' }, '/v'],
    ['an escaped key', { 'a/b~c': { d: '\ud800' } }, '/a~1b~0c/d'],
  ])('refuses a lone surrogate in %s with INVALID_FIELD and its pointer', (_name, body, pointer) => {
    const error = findBodyProblem(body);
    expect(summary(error)).toEqual({ status: 400, code: 'INVALID_FIELD', pointer });
    expect(error?.message).toContain(printableExcerpt(pointer));
    expect(error?.message).toMatch(/^[\x20-\x7e]+$/);
  });

  it.each([
    ['an object', { customerSession: { attributes: { 'k\udc00': 1 } } }, '/customerSession/attributes'],
    ['the body', { 'a\ud800': { b: 1 } }, undefined],
  ])(
    'refuses a lone surrogate in a key of %s at that object, never echoing the key',
    (_name, body, pointer) => {
      const error = findBodyProblem(body);
      expect(summary(error)).toEqual({ status: 400, code: 'INVALID_FIELD', pointer });
      expect(error?.message).toBe(
        `A key in the request body is not well-formed Unicode: it holds a lone surrogate (of ${pointer ?? 'the body'})`,
      );
      expect(JSON.stringify(error?.entries)).not.toMatch(/\\ud[89a-f]/);
    },
  );

  it('refuses a lone surrogate as the whole body, without a pointer', () => {
    expect(summary(findBodyProblem('\ud800'))).toEqual({
      status: 400,
      code: 'INVALID_FIELD',
      pointer: undefined,
    });
  });

  it('leaves out a pointer longer than 1000 characters', () => {
    const key = 'k'.repeat(600);
    const error = findBodyProblem({ [key]: { [key]: '\ud800' } });
    expect(summary(error)).toEqual({ status: 400, code: 'INVALID_FIELD', pointer: undefined });
    expect(error?.message.length).toBeLessThan(200);
  });
});

describe('mediaTypeRefusal', () => {
  it.each([
    undefined,
    'application/json',
    'application/json; charset=utf-8',
    'application/json;charset=UTF-8',
    'Application/JSON ; Charset="utf-8"',
    'application/json; charset=utf8',
    'application/json; boundary=x',
    'application/merge-patch+json',
    'application/vnd.api+json; charset=utf-8',
  ])('accepts %s', (contentType) => {
    expect(mediaTypeRefusal(contentType)).toBeUndefined();
  });

  it.each([
    '',
    'text/plain',
    'text/plain; charset=utf-8',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/octet-stream',
    'text/json',
    'application/jsonp',
    'application/+json',
    'json',
    'application/json; charset=iso-8859-1',
    'application/json; charset="utf-16"',
  ])('refuses %j with 415', (contentType) => {
    const error = mediaTypeRefusal(contentType);
    expect(summary(error)).toEqual({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', pointer: undefined });
    expect(error?.message).toContain('application/json');
  });
});

describe('contentEncodingRefusal', () => {
  it.each([undefined, '', 'identity', 'Identity', 'identity, identity'])('accepts %j', (coding) => {
    expect(contentEncodingRefusal(coding)).toBeUndefined();
  });

  it.each(['gzip', 'br', 'deflate', 'identity, gzip', 'x-gzip', 'compress'])(
    'refuses %j with 415',
    (coding) => {
      const error = contentEncodingRefusal(coding);
      expect(summary(error)).toEqual({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', pointer: undefined });
      expect(error?.message).toContain(coding);
    },
  );
});

describe('printableExcerpt', () => {
  it('escapes everything outside printable ASCII and caps the length', () => {
    expect(printableExcerpt('ok "x"')).toBe('ok "x"');
    expect(printableExcerpt('\u0000\u001fé\ud800')).toBe('\\u0000\\u001f\\u00e9\\ud800');
    expect(printableExcerpt('y'.repeat(120))).toBe('y'.repeat(120));
    expect(printableExcerpt('y'.repeat(5000))).toBe(`${'y'.repeat(120)}...`);
    expect(printableExcerpt('\u0001'.repeat(5000))).toMatch(/^[\x20-\x7e]{1,123}$/);
  });
});

describe('parseJsonBody', () => {
  const json = Buffer.from('{"customerSession":{}}');

  it('leaves an empty or blank body undefined, whatever its headers', () => {
    const headers = { 'content-type': 'text/plain', 'content-encoding': 'gzip' };
    for (const text of ['', '  \n\t']) {
      expect(parseJsonBody(Buffer.from(text), headers)).toEqual({ body: undefined, clientBody: undefined });
    }
  });

  it('parses JSON with or without Content-Type', () => {
    for (const headers of [{}, { 'content-type': 'application/json; charset=utf-8' }]) {
      expect(parseJsonBody(json, headers).body).toEqual({ customerSession: {} });
    }
  });

  it('reads a body that starts with a UTF-8 byte order mark as the JSON after it (RFC 8259 §8.1 allows that)', () => {
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), json]);
    expect(parseJsonBody(withBom, { 'content-type': 'application/json' })).toEqual({
      body: { customerSession: {} },
      clientBody: { customerSession: {} },
    });
    // Only one, and only in front.
    expect(() => parseJsonBody(Buffer.concat([Buffer.from('\ufeff\ufeff'), json]), {})).toThrow(
      /not valid JSON/,
    );
  });

  it('refuses a non-JSON media type or a content coding with 415 before parsing', () => {
    expect(() => parseJsonBody(json, { 'content-type': 'text/plain' })).toThrow(/application\/json/);
    expect(() => parseJsonBody(Buffer.from([0x1f, 0x8b, 0x08]), { 'content-encoding': 'gzip' })).toThrow(
      /Content-Encoding "gzip"/,
    );
  });

  it('refuses bytes that are not UTF-8 with INVALID_JSON, quoting none of them', () => {
    let error: unknown;
    try {
      parseJsonBody(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), {});
    } catch (e) {
      error = e;
    }
    expect(summary(error as ApiError)?.code).toBe('INVALID_JSON');
    expect((error as Error).message).toBe('The request body is not valid JSON: it is not UTF-8 text');
  });

  it.each([
    ['control characters', '\u0000\u0001\u0002 garbage \u001b[31m'],
    ['a long line', `x${'y'.repeat(100_000)}`],
    ['non-ASCII text', `"${'é'.repeat(5)}`],
  ])('quotes only a short printable excerpt of %s in INVALID_JSON', (_name, text) => {
    let error: unknown;
    try {
      parseJsonBody(Buffer.from(text), {});
    } catch (e) {
      error = e;
    }
    expect(summary(error as ApiError)?.code).toBe('INVALID_JSON');
    expect((error as Error).message).toMatch(/^The request body is not valid JSON: [\x20-\x7e]{1,123}$/);
  });

  it('refuses deep nesting and lone surrogates after parsing', () => {
    const deep = Buffer.from(`{"cartItems":${'['.repeat(5000)}${']'.repeat(5000)}}`);
    expect(() => parseJsonBody(deep, {})).toThrow(/nested more than 100 levels/);
    expect(() => parseJsonBody(Buffer.from('{"customerSession":{"profileId":"\\ud800"}}'), {})).toThrow(
      /\/customerSession\/profileId/,
    );
  });

  it('parses a body with keys the validation pipe strips twice, so the client body is untouched', () => {
    const parsed = parseJsonBody(Buffer.from('{"attributes":{"__proto__":{"x":1}}}'), {});
    expect(parsed.clientBody).not.toBe(parsed.body);
    expect(JSON.stringify(parsed.clientBody)).toBe('{"attributes":{"__proto__":{"x":1}}}');
    const plain = parseJsonBody(json, {});
    expect(plain.clientBody).toBe(plain.body);
  });
});

describe('readJsonBody', () => {
  it('pauses a body of unknown size once it grows past the given bytes, until the wait is over', async () => {
    let admit!: () => void;
    const wait = jest.fn(() => new Promise<void>((resolve) => (admit = resolve)));
    const chunks = ['{"a":"', 'x'.repeat(10), 'y'.repeat(10), 'z'.repeat(10), '"}'];
    const req = request(chunks);
    let read: unknown;
    const reading = readJsonBody(req, 1000, { bytes: 20, wait }).then((parsed) => (read = parsed));
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Past 20 bytes after the third chunk: paused there, once.
    expect(wait).toHaveBeenCalledTimes(1);
    expect(req.isPaused()).toBe(true);
    expect(read).toBeUndefined();
    admit();
    await reading;
    expect(read).toEqual({
      body: { a: `${'x'.repeat(10)}${'y'.repeat(10)}${'z'.repeat(10)}` },
      clientBody: { a: `${'x'.repeat(10)}${'y'.repeat(10)}${'z'.repeat(10)}` },
    });
    expect(wait).toHaveBeenCalledTimes(1);
  });

  it('never pauses a body that stays within the given bytes', async () => {
    const wait = jest.fn(() => new Promise<void>(() => undefined));
    await expect(readJsonBody(request(['{"a":', '1}']), 1000, { bytes: 7, wait })).resolves.toEqual({
      body: { a: 1 },
      clientBody: { a: 1 },
    });
    expect(wait).not.toHaveBeenCalled();
  });

  it('reads a body sent in chunks', async () => {
    await expect(readJsonBody(request(['{"a":', '[1,', '2]}']))).resolves.toEqual({
      body: { a: [1, 2] },
      clientBody: { a: [1, 2] },
    });
  });

  it('refuses a body declared over the limit with 413 at once, unread; a streamed one after reading it to the end', async () => {
    const declared = request(['{"a":1}'], { 'content-length': '11' });
    expect(await refusal(readJsonBody(declared, 10))).toEqual({
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
      pointer: undefined,
    });
    expect(declared.readableFlowing).toBeNull();
    expect(declared.readableEnded).toBe(false);
    const streamed = request(['{"a":"', 'x'.repeat(20), '"}'], { 'content-type': 'text/plain' });
    expect((await refusal(readJsonBody(streamed, 10)))?.status).toBe(413);
    expect(streamed.readableEnded).toBe(true);
  });

  it('refuses with 415, 400 INVALID_JSON and 400 LIMIT_EXCEEDED', async () => {
    expect((await refusal(readJsonBody(request(['{}'], { 'content-type': 'text/plain' }))))?.status).toBe(
      415,
    );
    expect((await refusal(readJsonBody(request(['{']))))?.code).toBe('INVALID_JSON');
    expect((await refusal(readJsonBody(request(['['.repeat(200), ']'.repeat(200)]))))?.code).toBe(
      'LIMIT_EXCEEDED',
    );
  });
});

describe('waitsForBodyBudget', () => {
  const req = (method: string, headers: IncomingHttpHeaders) => ({ method, headers }) as IncomingMessage;

  it('given a body declared over the exempt bytes and within the limit, then it waits for that many bytes', () => {
    const large = String(BODY_BUDGET_EXEMPT_BYTES + 1);
    expect(waitsForBodyBudget(req('POST', { 'content-length': large }))).toBe(BODY_BUDGET_EXEMPT_BYTES + 1);
    expect(waitsForBodyBudget(req('PUT', { 'content-length': String(MAX_BODY_BYTES) }))).toBe(MAX_BODY_BYTES);
  });

  it.each([
    ['a body within the exempt bytes', 'POST', { 'content-length': String(BODY_BUDGET_EXEMPT_BYTES) }],
    ['no body', 'POST', {}],
    [
      'a body declared over the limit (refused unread at once)',
      'PUT',
      { 'content-length': String(MAX_BODY_BYTES + 1) },
    ],
    ['a chunked body (read up to the exempt bytes first)', 'PUT', { 'transfer-encoding': 'chunked' }],
    ['a GET', 'GET', { 'content-length': String(BODY_BUDGET_EXEMPT_BYTES + 1) }],
  ])('given %s, then it does not wait', (_name, method, headers) => {
    expect(waitsForBodyBudget(req(method, headers))).toBeUndefined();
  });
});

describe('JsonBodyMiddleware', () => {
  const KEY = 'integration-key-1';
  const keys = new ApiKeys(
    new Map([[KEY, { keyId: 'key-1', applicationId: 1 }]]),
    new Map([['management-key-1', { keyId: 'key-m', applications: '*' as const }]]),
  );
  const middleware = () => new JsonBodyMiddleware(new IntegrationAuthGuard(keys), new MetricsService());
  const authorized = { authorization: `ApiKey-v1 ${KEY}` };

  function response() {
    const headers: Record<string, string> = {};
    const res = { setHeader: (name: string, value: string) => (headers[name] = value) };
    return { res: res as unknown as ServerResponse, headers };
  }

  it('sets req.body, req.clientBody and the principal', async () => {
    const req = request(['{"a":1}'], authorized) as AuthenticatedRequest & {
      body?: unknown;
      clientBody?: unknown;
    };
    const next = jest.fn();
    await middleware().use(req, response().res, next);
    expect(next).toHaveBeenCalled();
    expect(req.body).toEqual({ a: 1 });
    expect(req.clientBody).toBe(req.body);
    expect(req.principal).toEqual({ applicationId: 1, keyId: 'key-1' });
  });

  it.each([
    ['different values', ['application/json', 'text/plain']],
    ['the same value', ['application/json', 'application/json']],
  ])('refuses a Content-Type given twice (%s) with 400 INVALID_HEADER, unread', async (_name, types) => {
    const req = request(['{"a":1}'], authorized);
    req.rawHeaders.push(...types.flatMap((type) => ['Content-Type', type]));
    const next = jest.fn();
    expect(await refusal(middleware().use(req, response().res, next))).toEqual({
      status: 400,
      code: 'INVALID_HEADER',
      pointer: undefined,
    });
    expect(next).not.toHaveBeenCalled();
    expect(req.readableFlowing).toBeNull();
  });

  it('refuses a large body its headers refuse with 415 before reading a byte of it', async () => {
    const size = BODY_BUDGET_EXEMPT_BYTES + 1;
    const req = request([' '.repeat(size)], {
      ...authorized,
      'content-type': 'text/plain',
      'content-length': String(size),
    });
    const next = jest.fn();
    expect(await refusal(middleware().use(req, response().res, next))).toEqual({
      status: 415,
      code: 'UNSUPPORTED_MEDIA_TYPE',
      pointer: undefined,
    });
    expect(next).not.toHaveBeenCalled();
    expect(req.readableFlowing).toBeNull();
  });

  it('names identity as the one accepted coding when it refuses one', async () => {
    const { res, headers } = response();
    const req = request(['{}'], { ...authorized, 'content-encoding': 'gzip' });
    await expect(middleware().use(req, res, jest.fn())).rejects.toThrow(/gzip/);
    expect(headers).toEqual({ 'Accept-Encoding': 'identity' });
  });

  it.each([
    ['no Authorization header', {}],
    ['an unknown key', { authorization: 'ApiKey-v1 unknown-key-1' }],
    ['a management key', { authorization: 'ManagementKey-v1 management-key-1' }],
    ['the integration key under another scheme', { authorization: `Bearer ${KEY}` }],
  ])('refuses %s with 401 before reading a byte of the body', async (_name, auth) => {
    const { res, headers } = response();
    const req = request(['{not json'], { ...auth, 'content-encoding': 'gzip', 'content-length': '1e9' });
    const next = jest.fn();
    expect(await refusal(middleware().use(req, res, next))).toEqual({
      status: 401,
      code: 'UNAUTHORIZED',
      pointer: undefined,
    });
    expect(next).not.toHaveBeenCalled();
    expect(req.readableFlowing).toBeNull();
    expect(req.readableEnded).toBe(false);
    expect(headers).toEqual({});
  });
});
