/**
 * What refusals say, and a precondition on a session that does not exist:
 * - a command that needs the session (cart_items, close, cancel, returns, reopen, dry runs) answers a missing
 *   one 404 SESSION_NOT_FOUND whatever If-Match says (RFC 9110 §13.2.1), as it answers a session deleted for
 *   good; a PUT, which creates a missing session, keeps its preconditions (412, If-None-Match: * creates);
 * - a body that is JSON but no object is told so, not "customerSession should not be null or undefined";
 * - a return entry with neither position nor sku is told it needs one of them;
 * - an integer beyond Number.MAX_SAFE_INTEGER is told so, not "must be an integer ≥ 1";
 * - a refusal of the domain's own checks names its field in the message, after "Invalid request: ";
 * - `dry` given twice is told it is given more than once.
 * Every refusal changes nothing.
 */
import {
  ApiHarness,
  client,
  sessionSnapshot,
  sessionUrl,
  type CallOptions,
  type Reply,
  type SessionSnapshot,
} from './support/harness';

jest.setTimeout(60_000);

let harness: ApiHarness;
let call: ReturnType<typeof client>;
const run = `${Date.now()}`;
const sid = (name: string) => `messages-${name}-${run}`;
const stream = (id: string) => `session-1-${id}`;

beforeAll(async () => {
  harness = await ApiHarness.start();
  call = client(harness);
});

afterAll(async () => {
  await harness.dispose();
});

async function closedSession(id: string): Promise<void> {
  const created = await call('PUT', sessionUrl(id), {
    body: { customerSession: { cartItems: [{ sku: 'a', quantity: 2, price: 5 }] } },
  });
  const closed = await call('POST', sessionUrl(id, '/close'));
  if (created.status !== 200 || closed.status !== 200) throw new Error(`setting up ${id}`);
}

interface Expected {
  status: number;
  code: string;
  /** Where the error is: a JSON pointer (body, path), or a query parameter's name. At most one of the two. */
  pointer?: string;
  parameter?: string;
  details: string | RegExp;
  message?: string | RegExp;
}

const matching = (expected: string | RegExp) =>
  typeof expected === 'string' ? expected : expect.stringMatching(expected);

/** One error entry as expected, the message as expected (or the details after "Invalid request: "). */
function expectError(reply: Reply, expected: Expected): void {
  expect({
    status: reply.status,
    StatusCode: reply.body?.StatusCode,
    errors: reply.body?.errors,
    message: reply.body?.message,
  }).toEqual({
    status: expected.status,
    StatusCode: expected.status,
    errors: [
      {
        title: expected.code,
        details: matching(expected.details),
        source:
          expected.parameter !== undefined
            ? { parameter: expected.parameter }
            : expected.pointer !== undefined
              ? { pointer: expected.pointer }
              : {},
      },
    ],
    message: matching(
      expected.message ??
        (typeof expected.details === 'string'
          ? `Invalid request: ${expected.details}`
          : new RegExp(`^Invalid request: ${expected.details.source.replace(/^\^/, '')}`)),
    ),
  });
  expect(reply.headers.get('x-event-position')).toBeNull();
}

/** Sends a request that must be refused as `expected`, and checks that it changed nothing. */
async function refused(
  id: string,
  method: string,
  url: string,
  options: CallOptions,
  expected: Expected,
): Promise<void> {
  const before: SessionSnapshot = await sessionSnapshot(harness, id);
  expectError(await call(method, url, options), expected);
  expect(await sessionSnapshot(harness, id)).toEqual(before);
}

describe('a precondition on a session that does not exist', () => {
  const commands: { name: string; method: string; suffix: string; body?: unknown }[] = [
    {
      name: 'cart_items',
      method: 'POST',
      suffix: '/cart_items',
      body: { cartItems: [{ sku: 'a', quantity: 1 }] },
    },
    { name: 'close', method: 'POST', suffix: '/close' },
    { name: 'cancel', method: 'POST', suffix: '/cancel' },
    { name: 'reopen', method: 'PUT', suffix: '/reopen' },
    {
      name: 'returns',
      method: 'POST',
      suffix: '/returns',
      body: { return: { returnedCartItems: [{ position: 0 }] } },
    },
    {
      name: 'returns dry run',
      method: 'POST',
      suffix: '/returns?dry=true',
      body: { return: { returnedCartItems: [{ position: 0 }] } },
    },
  ];
  const preconditions: Record<string, string>[] = [
    { 'If-Match': '"0"' },
    { 'If-Match': '*' },
    { 'If-Match': '"3", "0"' },
    { 'If-Match': 'W/"0"' },
    { 'If-Match': '"not-a-revision"' },
    { 'If-Match': '"0"', 'Idempotency-Key': `key-${run}` },
    { 'If-None-Match': '*' },
  ];

  it.each(commands)(
    '$name: 404 SESSION_NOT_FOUND whatever If-Match says, and nothing created',
    async ({ method, suffix, body }) => {
      const id = sid(`missing-${method}${suffix}`);
      for (const headers of preconditions) {
        const reply = await call(method, sessionUrl(id, suffix), { headers, body });
        expect({ headers, ...reply.body }).toEqual({
          headers,
          message: `No customer session ${JSON.stringify(id)}`,
          errors: [
            { title: 'SESSION_NOT_FOUND', details: `No customer session ${JSON.stringify(id)}`, source: {} },
          ],
          StatusCode: 404,
        });
        expect(reply.status).toBe(404);
      }
      expect((await call('GET', sessionUrl(id))).status).toBe(404);
      expect(await harness.streamLength(stream(id))).toBe(0);
    },
  );

  it('a PUT (create-or-update) keeps its preconditions: If-Match is 412 on a missing session, If-None-Match: * creates', async () => {
    const id = sid('missing-put');
    const body = { customerSession: { profileId: '' } };
    for (const ifMatch of ['"0"', '*', '"3", "0"', 'W/"0"']) {
      for (const url of [sessionUrl(id), `${sessionUrl(id)}?dry=true`]) {
        const reply = await call('PUT', url, { headers: { 'If-Match': ifMatch }, body });
        expect({ ifMatch, url, status: reply.status, code: reply.body.errors[0].title }).toEqual({
          ifMatch,
          url,
          status: 412,
          code: 'PRECONDITION_FAILED',
        });
      }
    }
    expect(await harness.streamLength(stream(id))).toBe(0);
    const created = await call('PUT', sessionUrl(id), { headers: { 'If-None-Match': '*' }, body });
    expect({ status: created.status, etag: created.headers.get('etag') }).toEqual({
      status: 200,
      etag: '"0"',
    });
  });

  it('an existing session still gets its 412 for an If-Match that does not match', async () => {
    const id = sid('existing');
    await closedSession(id);
    for (const ifMatch of ['"0"', 'W/"1"', '"not-a-revision"', '"5", "0"']) {
      const before = await sessionSnapshot(harness, id);
      const reply = await call('PUT', sessionUrl(id, '/reopen'), { headers: { 'If-Match': ifMatch } });
      expect({ ifMatch, status: reply.status, code: reply.body.errors[0].title }).toEqual({
        ifMatch,
        status: 412,
        code: 'PRECONDITION_FAILED',
      });
      expect(await sessionSnapshot(harness, id)).toEqual(before);
    }
    expect((await call('PUT', sessionUrl(id, '/reopen'), { headers: { 'If-Match': '*' } })).status).toBe(200);
  });
});

describe('a body that is JSON but not an object', () => {
  const bodies: [string, string][] = [
    ['[]', 'an array'],
    ['[{"sku":"a","quantity":1}]', 'an array'],
    ['5', 'a number'],
    ['"x"', 'a string'],
    ['null', 'null'],
    ['true', 'a boolean'],
  ];

  it.each([
    ['PUT', ''],
    ['POST', '/cart_items'],
    ['POST', '/returns'],
    ['POST', '/returns?dry=true'],
    ['PUT', '?dry=true'],
  ])('%s %s: "the request body must be a JSON object", no pointer', async (method, suffix) => {
    const id = sid(`body-${method}${suffix}`);
    await closedSession(id);
    for (const [rawBody, kind] of bodies) {
      await refused(
        id,
        method,
        sessionUrl(id, suffix),
        { rawBody },
        {
          status: 400,
          code: 'INVALID_FIELD',
          details: `The request body must be a JSON object, not ${kind}`,
        },
      );
    }
  });
});

describe('what a refusal of a field says', () => {
  const id = sid('fields');
  beforeAll(() => closedSession(id));
  const put = (customerSession: Record<string, unknown>) =>
    ['PUT', sessionUrl(id), { body: { customerSession } }] as const;
  const returns = (entry: string) =>
    ['POST', sessionUrl(id, '/returns'), { rawBody: `{"return":{"returnedCartItems":[${entry}]}}` }] as const;
  const SAFE = '9007199254740991 (the largest safe integer: larger ones lose precision in JSON)';

  it.each([
    {
      name: 'a return entry with neither position nor sku',
      request: returns('{}'),
      pointer: '/return/returnedCartItems/0/position',
      details: /^a returned item needs position or sku: /,
    },
    {
      name: 'a return entry with a quantity alone',
      request: returns('{"quantity":1}'),
      pointer: '/return/returnedCartItems/0/position',
      details: /^a returned item needs position or sku: /,
    },
    {
      name: 'a returned quantity beyond the safe integers',
      request: returns('{"position":0,"quantity":9007199254740993}'),
      pointer: '/return/returnedCartItems/0/quantity',
      details: `quantity must be at most ${SAFE}`,
    },
    {
      name: 'a position of 1e300',
      request: returns('{"position":1e300}'),
      pointer: '/return/returnedCartItems/0/position',
      details: `position must be at most ${SAFE}`,
    },
    {
      name: 'a cart item quantity beyond the safe integers (PUT)',
      request: [
        'PUT',
        sessionUrl(id),
        { rawBody: '{"customerSession":{"cartItems":[{"sku":"a","quantity":9007199254740993}]}}' },
      ] as const,
      pointer: '/customerSession/cartItems/0/quantity',
      details: `quantity must be at most ${SAFE}`,
    },
    {
      name: 'a cart item quantity beyond the safe integers (cart_items)',
      request: [
        'POST',
        sessionUrl(id, '/cart_items'),
        { rawBody: '{"cartItems":[{"sku":"a","quantity":9007199254740993}]}' },
      ] as const,
      pointer: '/cartItems/0/quantity',
      details: `quantity must be at most ${SAFE}`,
    },
    {
      name: 'a price over the money limit',
      request: put({ cartItems: [{ sku: 'a', quantity: 1, price: 1e16 }] }),
      pointer: '/customerSession/cartItems/0/price',
      details: 'price must be at most 1000000000000000',
    },
    {
      name: 'a NUL in profileId',
      request: put({ profileId: 'a\u0000b' }),
      pointer: '/customerSession/profileId',
      details: 'profileId must not contain the NUL character (U+0000)',
    },
    {
      name: 'a NUL in a coupon code (named by its pointer: an array entry)',
      request: put({ couponCodes: ['ok', 'a\u0000'] }),
      pointer: '/customerSession/couponCodes/1',
      details: '/customerSession/couponCodes/1 must not contain the NUL character (U+0000)',
    },
    {
      name: 'a NUL in an attribute (named by its pointer: free-form data)',
      request: put({ attributes: { gift: { note: 'x\u0000' } } }),
      pointer: '/customerSession/attributes/gift/note',
      details: '/customerSession/attributes/gift/note must not contain the NUL character (U+0000)',
    },
    {
      name: 'quantities of one request over 10,000',
      request: put({
        cartItems: [
          { sku: 'a', quantity: 6000 },
          { sku: 'b', quantity: 6000 },
        ],
      }),
      code: 'LIMIT_EXCEEDED',
      pointer: '/customerSession/cartItems',
      details: 'cartItems must have quantities adding up to at most 10000 per request',
    },
  ])('$name', async ({ request: [method, url, options], pointer, details, code }) => {
    await refused(id, method, url, options, { status: 400, code: code ?? 'INVALID_FIELD', pointer, details });
  });

  it.each([
    ['PUT', sessionUrl(id), { customerSession: {} }],
    ['POST', sessionUrl(id, '/returns'), { return: { returnedCartItems: [{ position: 0 }] } }],
  ])('%s: dry given twice is said to be given more than once', async (method, url, body) => {
    for (const query of ['dry=true&dry=false', 'dry=true&dry=true', 'dry=false&dry=false&dry=false']) {
      const times = query.split('&').length;
      await refused(
        id,
        method,
        `${url}?${query}`,
        { body },
        {
          status: 400,
          code: 'INVALID_FIELD',
          parameter: 'dry',
          details: `dry is given more than once (${times} times): send it once, true or false`,
        },
      );
    }
  });
});
