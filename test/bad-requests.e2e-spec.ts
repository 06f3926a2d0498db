import {
  ApiHarness,
  client,
  MANAGEMENT_KEY,
  sessionUrl,
  startWithSession,
  type CallOptions,
  type RefusalCase,
} from './support/harness';

jest.setTimeout(60_000);

let harness: ApiHarness;
let call: ReturnType<typeof client>;
const id = `bad-${Date.now()}`;
const streamName = `session-1-${id}`;

beforeAll(async () => {
  ({ harness, call } = await startWithSession(id));
});

afterAll(async () => {
  await harness.dispose();
});

const session = (customerSession: unknown): CallOptions => ({ body: { customerSession } });
const item = (fields: Record<string, unknown>) => ({ sku: 'a', quantity: 1, ...fields });
const withItem = (fields: Record<string, unknown>) => session({ cartItems: [item(fields)] });
const post = (suffix: string, body: unknown): Pick<RefusalCase, 'method' | 'suffix' | 'options'> => ({
  method: 'POST',
  suffix,
  options: { body },
});

/**
 * A row of the table; `details`, when given, is what the first error must say; `parameter`, the query parameter
 * the first error must name (`source.parameter`, and no pointer), as `pointer` is the body's (and no parameter).
 */
type Row = RefusalCase & { details?: string | RegExp; parameter?: string };

/** Said of a return entry's field sent as null (it is refused, not read as omitted). */
const NOT_UNDONE =
  /must not be null: .*\(a return cannot be undone, so null is not read as a field not given\)$/;

const rows: Row[] = [
  { name: 'customerSession missing', options: { body: {} }, status: 400, code: 'INVALID_FIELD' },
  {
    name: 'customerSession not an object',
    options: { body: { customerSession: 5 } },
    status: 400,
    code: 'INVALID_FIELD',
  },
  {
    name: 'unknown top-level field',
    options: { body: { customerSession: {}, extra: 1 } },
    status: 400,
    code: 'UNKNOWN_FIELD',
  },
  { name: 'unknown session field', options: session({ colour: 'red' }), status: 400, code: 'UNKNOWN_FIELD' },
  { name: 'unknown cart item field', options: withItem({ discount: 1 }), status: 400, code: 'UNKNOWN_FIELD' },
  {
    name: 'profileId of the wrong type',
    options: session({ profileId: 42 }),
    status: 400,
    code: 'INVALID_FIELD',
  },
  {
    name: 'profileId of 1001 characters',
    options: session({ profileId: 'p'.repeat(1001) }),
    status: 400,
    code: 'INVALID_FIELD',
  },
  {
    name: 'NUL in profileId',
    options: session({ profileId: 'p\u0000q' }),
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/customerSession/profileId',
  },
  {
    name: 'NUL in a sku',
    options: withItem({ sku: 'a\u0000' }),
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/customerSession/cartItems/0/sku',
  },
  {
    name: 'NUL in a nested attribute value',
    options: session({ attributes: { gift: { note: ['ok', 'x\u0000'] } } }),
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/customerSession/attributes/gift/note/1',
  },
  {
    name: 'NUL in an attribute key',
    options: session({ attributes: { 'a\u0000b': 1 } }),
    status: 400,
    code: 'INVALID_FIELD',
  },
  {
    name: 'NUL in an added item',
    ...post('/cart_items', { cartItems: [item({ name: '\u0000' })] }),
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/cartItems/0/name',
  },
  {
    name: 'empty storeIntegrationId',
    options: session({ storeIntegrationId: '' }),
    status: 400,
    code: 'INVALID_FIELD',
  },
  {
    name: 'couponCodes not an array',
    options: session({ couponCodes: 'A' }),
    status: 400,
    code: 'INVALID_FIELD',
  },
  // A bad entry of a list of strings is named at its own pointer (SPEC §5), as the domain names it; before, the
  // validation pipe named the list ("each value in couponCodes must be …" at /customerSession/couponCodes).
  {
    name: 'coupon of 101 characters',
    options: session({ couponCodes: ['OK', 'c'.repeat(101)] }),
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/customerSession/couponCodes/1',
    details: '/customerSession/couponCodes/1 must be 1..100 characters long',
  },
  {
    name: 'empty coupon code',
    options: session({ couponCodes: ['OK', ''] }),
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/customerSession/couponCodes/1',
    details: '/customerSession/couponCodes/1 must be 1..100 characters long',
  },
  {
    name: 'null coupon code',
    options: session({ couponCodes: ['OK', null] }),
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/customerSession/couponCodes/1',
    details: '/customerSession/couponCodes/1 must be a string',
  },
  {
    name: 'coupon code as a number',
    options: session({ couponCodes: [7] }),
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/customerSession/couponCodes/0',
    details: '/customerSession/couponCodes/0 must be a string',
  },
  {
    name: 'empty loyalty card',
    options: session({ loyaltyCards: [''] }),
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/customerSession/loyaltyCards/0',
    details: '/customerSession/loyaltyCards/0 must be 1..1000 characters long',
  },
  {
    name: 'identifier of 1001 characters',
    options: session({ identifiers: ['i', 'i'.repeat(1001)] }),
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/customerSession/identifiers/1',
    details: '/customerSession/identifiers/1 must be 1..1000 characters long',
  },
  {
    name: 'referralCode of 101 characters',
    options: session({ referralCode: 'r'.repeat(101) }),
    status: 400,
    code: 'INVALID_FIELD',
  },
  {
    name: 'two loyalty cards',
    options: session({ loyaltyCards: ['a', 'b'] }),
    status: 400,
    code: 'INVALID_FIELD',
  },
  {
    name: 'six identifiers',
    options: session({ identifiers: ['1', '2', '3', '4', '5', '6'] }),
    status: 400,
    code: 'INVALID_FIELD',
  },
  { name: 'unknown state', options: session({ state: 'shipped' }), status: 400, code: 'INVALID_FIELD' },
  {
    name: 'cartItems not an array',
    options: session({ cartItems: { sku: 'a' } }),
    status: 400,
    code: 'INVALID_FIELD',
  },
  {
    name: 'cart item without sku',
    options: session({ cartItems: [{ quantity: 1 }] }),
    status: 400,
    code: 'INVALID_FIELD',
  },
  {
    name: 'cart item without quantity',
    options: session({ cartItems: [{ sku: 'a', price: 1 }] }),
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/customerSession/cartItems/0/quantity',
  },
  { name: 'empty sku', options: withItem({ sku: '' }), status: 400, code: 'INVALID_FIELD' },
  {
    name: 'sku of 1001 characters',
    options: withItem({ sku: 's'.repeat(1001) }),
    status: 400,
    code: 'INVALID_FIELD',
  },
  { name: 'quantity 0', options: withItem({ quantity: 0 }), status: 400, code: 'INVALID_FIELD' },
  { name: 'fractional quantity', options: withItem({ quantity: 1.5 }), status: 400, code: 'INVALID_FIELD' },
  { name: 'quantity as a string', options: withItem({ quantity: '1' }), status: 400, code: 'INVALID_FIELD' },
  { name: 'negative price', options: withItem({ price: -0.01 }), status: 400, code: 'INVALID_FIELD' },
  { name: 'price as a string', options: withItem({ price: '9.99' }), status: 400, code: 'INVALID_FIELD' },
  { name: 'negative weight', options: withItem({ weight: -1 }), status: 400, code: 'INVALID_FIELD' },
  { name: 'product without a name', options: withItem({ product: {} }), status: 400, code: 'INVALID_FIELD' },
  { name: 'null sku', options: withItem({ sku: null }), status: 400, code: 'INVALID_FIELD' },
  { name: 'null quantity', options: withItem({ quantity: null }), status: 400, code: 'INVALID_FIELD' },
  {
    name: 'negative item additional cost',
    options: withItem({ additionalCosts: { gift: { price: -1 } } }),
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/customerSession/cartItems/0/additionalCosts/gift/price',
    details: 'price must not be less than 0',
  },
  {
    name: 'unknown key in a session cost',
    options: session({ additionalCosts: { x: { price: 1, foo: 2 } } }),
    status: 400,
    code: 'UNKNOWN_FIELD',
    pointer: '/customerSession/additionalCosts/x/foo',
    details: 'Unknown field /customerSession/additionalCosts/x/foo',
  },
  {
    name: 'unknown key in an item cost',
    options: withItem({ additionalCosts: { x: { price: 1, foo: 2 } } }),
    status: 400,
    code: 'UNKNOWN_FIELD',
    pointer: '/customerSession/cartItems/0/additionalCosts/x/foo',
    details: 'Unknown field /customerSession/cartItems/0/additionalCosts/x/foo',
  },
  {
    name: 'unknown key in the cost of an added item',
    ...post('/cart_items', {
      cartItems: [item({}), item({ additionalCosts: { 'x/y': { price: 1, foo: 2 } } })],
    }),
    status: 400,
    code: 'UNKNOWN_FIELD',
    pointer: '/cartItems/1/additionalCosts/x~1y/foo',
    details: 'Unknown field /cartItems/1/additionalCosts/x~1y/foo',
  },
  {
    name: 'session additional cost without price',
    options: session({ additionalCosts: { shipping: {} } }),
    status: 400,
    code: 'INVALID_FIELD',
  },
  // A bad cost is named at its own pointer with what is wrong, as a cart item's bad price is. Raw JSON, so
  // that 1e400 (Infinity once parsed) is sent as a client sends it.
  ...(
    [
      ['negative', '-1', 'price must not be less than 0'],
      ['a string', '"abc"', 'price must be a finite number'],
      ['1e400', '1e400', 'price must be a finite number'],
      ['null', 'null', 'price is required: a finite number ≥ 0'],
      ['over 1e15', '1e16', 'price must be at most 1000000000000000'],
    ] as const
  ).map(([what, price, details]): Row => ({
    name: `session cost price ${what}`,
    options: {
      rawBody: `{"customerSession":{"additionalCosts":{"ok":{"price":1},"shipping":{"price":${price}}}}}`,
    },
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/customerSession/additionalCosts/shipping/price',
    details,
  })),
  {
    name: 'session cost without price, named at its price',
    options: session({ additionalCosts: { 'a/b': {} } }),
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/customerSession/additionalCosts/a~1b/price',
    details: 'price is required: a finite number ≥ 0',
  },
  {
    name: 'session cost that is no object',
    options: session({ additionalCosts: { shipping: 5 } }),
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/customerSession/additionalCosts/shipping',
    details: 'a cost must be a JSON object {"price": <finite number ≥ 0>}',
  },
  {
    name: 'item cost price a string',
    options: withItem({ additionalCosts: { gift: { price: '1' } } }),
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/customerSession/cartItems/0/additionalCosts/gift/price',
    details: 'price must be a finite number',
  },
  {
    name: 'negative cost of an added item',
    ...post('/cart_items', { cartItems: [item({}), item({ additionalCosts: { gift: { price: -0.5 } } })] }),
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/cartItems/1/additionalCosts/gift/price',
    details: 'price must not be less than 0',
  },
  {
    name: 'session cost named ""',
    options: session({ additionalCosts: { '': { price: 1 } } }),
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/customerSession/additionalCosts',
  },
  {
    name: 'attributes as an array',
    options: session({ attributes: [1] }),
    status: 400,
    code: 'INVALID_FIELD',
  },
  {
    name: 'attributes over 64 KiB',
    options: session({ attributes: { blob: 'x'.repeat(70_000) } }),
    status: 400,
    code: 'INVALID_FIELD',
  },
  {
    name: '1001 cart items',
    options: session({ cartItems: Array.from({ length: 1001 }, (_, i) => item({ sku: `s${i}` })) }),
    status: 400,
    code: 'LIMIT_EXCEEDED',
  },
  {
    name: 'attributes of 200,000 keys (over 64 KiB): refused by size, the keys never copied one by one',
    options: session({
      attributes: Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`k${i}`, 1])),
    }),
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/customerSession/attributes',
    details:
      'attributes must be at most 65536 bytes serialized (/customerSession/attributes holds more than 32768 members and entries)',
  },
  {
    name: '320,000 empty objects in arrays: over the 300,000 members and entries a body holds outside attributes',
    options: {
      body: {
        customerSession: {},
        a: Array.from({ length: 160 }, () => Array.from({ length: 2000 }, () => ({}))),
      },
    },
    status: 400,
    code: 'LIMIT_EXCEEDED',
    details:
      'The request body holds more than 300000 members and array entries outside attributes, or more than 1000000 in all: no request of this API takes that many',
  },
  {
    name: 'a read-only prices map of 40,000 price types',
    ...post('/cart_items', {
      cartItems: [
        item({ prices: Object.fromEntries(Array.from({ length: 40_000 }, (_, i) => [`t${i}`, {}])) }),
      ],
    }),
    status: 400,
    code: 'LIMIT_EXCEEDED',
    pointer: '/cartItems/0/prices',
  },
  {
    name: 'an object of 201 members outside attributes',
    options: {
      body: {
        customerSession: {},
        ...Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`u${i}`, 1])),
      },
    },
    status: 400,
    code: 'LIMIT_EXCEEDED',
    details:
      'The request body has an object of more than 200 members (the body): no field of this API takes that many (only free-form attributes are bounded by their size instead)',
  },
  {
    name: 'a cost map of 201 costs',
    options: session({
      additionalCosts: Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`c${i}`, { price: 1 }])),
    }),
    status: 400,
    code: 'LIMIT_EXCEEDED',
    pointer: '/customerSession/additionalCosts',
  },
  {
    name: 'an array of 2,001 entries',
    options: session({ couponCodes: Array.from({ length: 2001 }, (_, i) => `c${i}`) }),
    status: 400,
    code: 'LIMIT_EXCEEDED',
    pointer: '/customerSession/couponCodes',
    details:
      'The request body has an array of more than 2000 entries (at /customerSession/couponCodes): no field of this API takes more than 1000',
  },
  {
    name: '500,000 numbers as cart items',
    ...post('/cart_items', { cartItems: Array.from({ length: 500_000 }, () => 1) }),
    status: 400,
    code: 'LIMIT_EXCEEDED',
    pointer: '/cartItems',
  },
  {
    name: '600 cart items of 190 unknown fields each: the unknown fields, before any copy or validation',
    ...post('/cart_items', {
      cartItems: Array.from({ length: 600 }, () =>
        Object.fromEntries(Array.from({ length: 190 }, (_, i) => [`u${i}`, 1])),
      ),
    }),
    status: 400,
    code: 'UNKNOWN_FIELD',
    pointer: '/cartItems/0/u0',
    details: 'Unknown field /cartItems/0/u0',
  },
  {
    name: 'Σ quantity 10 001',
    options: session({ cartItems: [item({ quantity: 5000 }), item({ quantity: 5001 })] }),
    status: 400,
    code: 'LIMIT_EXCEEDED',
  },
  {
    name: 'unknown responseContent',
    options: { body: { customerSession: {}, responseContent: ['coupons', 'everything'] } },
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/responseContent/1',
    details: /^\/responseContent\/1 must be one of the following values: customerSession, /,
  },
  {
    name: 'evaluableCampaignIds of strings',
    options: session({ evaluableCampaignIds: [1, '1'] }),
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/customerSession/evaluableCampaignIds/1',
    details: '/customerSession/evaluableCampaignIds/1 must be an integer number',
  },
  {
    name: 'dry neither true nor false',
    suffix: '?dry=maybe',
    options: session({}),
    status: 400,
    code: 'INVALID_FIELD',
    parameter: 'dry',
    details: 'dry must be true or false',
  },
  {
    name: 'dry=1 (a query parameter: at source.parameter, not at a pointer)',
    suffix: '?dry=1',
    options: session({}),
    status: 400,
    code: 'INVALID_FIELD',
    parameter: 'dry',
  },
  {
    name: 'dry in the body (a body field: at source.pointer, not at a parameter)',
    options: { body: { customerSession: {}, dry: true } },
    status: 400,
    code: 'UNKNOWN_FIELD',
    pointer: '/dry',
    details: 'Unknown field /dry',
  },
  {
    name: 'an unknown query parameter on PUT',
    suffix: '?Dry=true',
    options: session({}),
    status: 400,
    code: 'UNKNOWN_FIELD',
    parameter: 'Dry',
  },
  {
    name: 'an unknown query parameter on a command without any',
    ...post('/cart_items?force=1', { cartItems: [item({})] }),
    status: 400,
    code: 'UNKNOWN_FIELD',
    parameter: 'force',
  },
  {
    name: 'dry on close, which has no dry run',
    ...post('/close?dry=true', {}),
    status: 400,
    code: 'UNKNOWN_FIELD',
    parameter: 'dry',
    details: 'Unknown field /dry: this endpoint has no dry run',
  },
  { name: 'invalid JSON', options: { rawBody: '{"customerSession": {' }, status: 400, code: 'INVALID_JSON' },
  { name: 'a JSON array as body', options: { rawBody: '[]' }, status: 400, code: 'INVALID_FIELD' },
  {
    name: '6 MiB body',
    options: {
      rawBody: JSON.stringify({ customerSession: { attributes: { blob: 'x'.repeat(6 * 1024 * 1024) } } }),
    },
    status: 413,
    code: 'PAYLOAD_TOO_LARGE',
  },
  { name: 'missing key', options: { ...session({}), key: null }, status: 401, code: 'UNAUTHORIZED' },
  {
    name: 'unknown key',
    options: { ...session({}), key: 'not-a-configured-key' },
    status: 401,
    code: 'UNAUTHORIZED',
  },
  {
    name: 'management key on the integration API',
    options: { ...session({}), key: MANAGEMENT_KEY },
    status: 401,
    code: 'UNAUTHORIZED',
  },
  {
    name: 'ManagementKey-v1 scheme',
    options: { ...session({}), key: null, headers: { authorization: `ManagementKey-v1 ${MANAGEMENT_KEY}` } },
    status: 401,
    code: 'UNAUTHORIZED',
  },
  {
    name: 'Bearer scheme',
    options: { ...session({}), key: null, headers: { authorization: 'Bearer abc' } },
    status: 401,
    code: 'UNAUTHORIZED',
  },
  // Authentication comes before the body is read: without a valid key, a bad body is a 401 too.
  {
    name: 'invalid JSON without a key',
    options: { rawBody: '{"customerSession": {', key: null },
    status: 401,
    code: 'UNAUTHORIZED',
  },
  {
    name: 'text/plain body with a management key',
    options: { rawBody: '{}', key: MANAGEMENT_KEY, headers: { 'content-type': 'text/plain' } },
    status: 401,
    code: 'UNAUTHORIZED',
  },
  {
    name: 'Idempotency-Key of 256 characters',
    options: { ...session({}), headers: { 'Idempotency-Key': 'k'.repeat(256) } },
    status: 400,
    code: 'INVALID_HEADER',
  },
  { name: 'cart_items without cartItems', ...post('/cart_items', {}), status: 400, code: 'INVALID_FIELD' },
  {
    name: 'cart_items with negative quantity',
    ...post('/cart_items', { cartItems: [item({ quantity: -1 })] }),
    status: 400,
    code: 'INVALID_FIELD',
  },
  {
    name: 'cart_items with an item without quantity',
    ...post('/cart_items', { cartItems: [item({}), { sku: 'b' }] }),
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/cartItems/1/quantity',
  },
  {
    name: 'cart_items with 1001 items',
    ...post('/cart_items', { cartItems: Array.from({ length: 1001 }, () => item({})) }),
    status: 400,
    code: 'LIMIT_EXCEEDED',
  },
  { name: 'returns without return', ...post('/returns', {}), status: 400, code: 'INVALID_FIELD' },
  {
    name: 'returns with a negative position',
    ...post('/returns', { return: { returnedCartItems: [{ position: -1 }] } }),
    status: 400,
    code: 'INVALID_FIELD',
  },
  {
    name: 'returns with a fractional position',
    ...post('/returns', { return: { returnedCartItems: [{ position: 0.5 }] } }),
    status: 400,
    code: 'INVALID_FIELD',
  },
  {
    name: 'returns naming neither position nor sku',
    ...post('/returns', { return: { returnedCartItems: [{ quantity: 1 }] } }),
    status: 400,
    code: 'INVALID_FIELD',
  },
  {
    name: 'returns with a null position beside a sku',
    ...post('/returns', { return: { returnedCartItems: [{ position: null, sku: 'a' }] } }),
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/return/returnedCartItems/0/position',
    details: NOT_UNDONE,
  },
  {
    name: 'returns with a null sku',
    ...post('/returns', { return: { returnedCartItems: [{ position: 0, sku: null }] } }),
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/return/returnedCartItems/0/sku',
    details: NOT_UNDONE,
  },
  {
    name: 'returns with a null quantity',
    ...post('/returns', { return: { returnedCartItems: [{ position: 0, quantity: null }] } }),
    status: 400,
    code: 'INVALID_FIELD',
    pointer: '/return/returnedCartItems/0/quantity',
    details: /^quantity must not be null: .*leave quantity out to return every unit left on the line/,
  },
  {
    name: 'returns with an empty list',
    ...post('/returns', { return: { returnedCartItems: [] } }),
    status: 400,
    code: 'INVALID_FIELD',
  },
  {
    name: 'returns with an unknown field',
    ...post('/returns', { return: { returnedCartItems: [{ position: 0 }], reason: 'x' } }),
    status: 400,
    code: 'UNKNOWN_FIELD',
  },
  { name: 'close with a body', ...post('/close', { state: 'closed' }), status: 400, code: 'UNKNOWN_FIELD' },
  {
    name: 'cancel with invalid JSON',
    method: 'POST',
    suffix: '/cancel',
    options: { rawBody: '{' },
    status: 400,
    code: 'INVALID_JSON',
  },
];

/** A string is the whole text expected, a RegExp a pattern it must match. */
const matching = (expected: string | RegExp) =>
  typeof expected === 'string' ? expected : expect.stringMatching(expected);

describe('bad requests', () => {
  it('has a table of at least 40 cases', () => {
    expect(rows.length).toBeGreaterThanOrEqual(40);
  });

  it.each(rows)('$name → $status $code, stream unchanged', async (row) => {
    const before = await harness.streamLength(streamName);
    const reply = await call(row.method ?? 'PUT', `${sessionUrl(id)}${row.suffix ?? ''}`, row.options);
    expect({ status: reply.status, code: reply.body?.errors?.[0]?.title }).toEqual({
      status: row.status,
      code: row.code,
    });
    const first = reply.body.errors[0];
    if (row.pointer !== undefined) expect(first.source).toEqual({ pointer: matching(row.pointer) });
    if (row.parameter !== undefined) expect(first.source).toEqual({ parameter: row.parameter });
    if (row.details !== undefined) expect(first.details).toEqual(matching(row.details));
    expect(reply.body.StatusCode).toBe(row.status);
    expect(typeof reply.body.message).toBe('string');
    expect(JSON.stringify(reply.body)).not.toMatch(/\n\s+at /);
    expect(await harness.streamLength(streamName)).toBe(before);
  });

  it('names every bad entry of a list of strings, one error each, beside a limit of the list', async () => {
    const reply = await call('PUT', sessionUrl(id), {
      body: { customerSession: { couponCodes: ['', 'OK', 'c'.repeat(101), null], loyaltyCards: ['a', ''] } },
    });
    const length = (pointer: string, max: number) => ({
      title: 'INVALID_FIELD',
      details: `${pointer} must be 1..${max} characters long`,
      source: { pointer },
    });
    expect({ status: reply.status, errors: reply.body.errors }).toEqual({
      status: 400,
      errors: [
        length('/customerSession/couponCodes/0', 100),
        length('/customerSession/couponCodes/2', 100),
        {
          title: 'INVALID_FIELD',
          details: '/customerSession/couponCodes/3 must be a string',
          source: { pointer: '/customerSession/couponCodes/3' },
        },
        {
          title: 'INVALID_FIELD',
          details: 'loyaltyCards must contain no more than 1 elements',
          source: { pointer: '/customerSession/loyaltyCards' },
        },
        length('/customerSession/loyaltyCards/1', 1000),
      ],
    });
    expect(reply.body.message).toBe(
      'Invalid request: /customerSession/couponCodes/0 must be 1..100 characters long',
    );
  });

  it('lists the first 100 errors of a body with thousands, and says how many there were', async () => {
    const before = await harness.streamLength(streamName);
    const cartItems = Array.from({ length: 1000 }, (_, i) => item({ sku: `s${i}`, discount: 1 }));
    const reply = await call('POST', `${sessionUrl(id)}/cart_items`, { body: { cartItems } });
    expect(reply.status).toBe(400);
    expect(reply.body.errors).toHaveLength(100);
    expect(reply.body.errors[99]).toEqual({
      title: 'UNKNOWN_FIELD',
      details: 'Unknown field /cartItems/99/discount',
      source: { pointer: '/cartItems/99/discount' },
    });
    expect(reply.body.message).toBe(
      'Invalid request: Unknown field /cartItems/0/discount (1000 errors; the first 100 are listed)',
    );
    expect(await harness.streamLength(streamName)).toBe(before);
  });

  it('takes back a cart of 1,000 lines with 60 costs each, as GET serves it (the bounds are per object and array)', async () => {
    const fresh = `${id}-wide-cart`;
    const costs = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`c${i}`, { price: 0.5 }]));
    for (let part = 0; part < 5; part++) {
      const cartItems = Array.from({ length: 200 }, (_, i) =>
        item({ sku: `s${part}-${i}`, additionalCosts: costs }),
      );
      const path = part === 0 ? sessionUrl(fresh) : `${sessionUrl(fresh)}/cart_items`;
      const body = part === 0 ? { customerSession: { cartItems } } : { cartItems };
      expect((await call(part === 0 ? 'PUT' : 'POST', path, { body })).status).toBe(200);
    }
    const served = await call('GET', sessionUrl(fresh));
    const { cartItems } = served.body.customerSession;
    expect(cartItems).toHaveLength(1000);
    const again = await call('PUT', sessionUrl(fresh), { body: { customerSession: { cartItems } } });
    expect({ status: again.status, updateCount: again.body.customerSession.updateCount }).toEqual({
      status: 200,
      updateCount: served.body.customerSession.updateCount,
    });
  });

  it('takes a read-only prices map of 300 price types back, and ignores it', async () => {
    const fresh = `${id}-prices`;
    const prices = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`type${i}`, { price: i }]));
    const reply = await call('PUT', sessionUrl(fresh), {
      body: { customerSession: { cartItems: [item({ prices })] } },
    });
    expect(reply.status).toBe(200);
    expect(reply.body.customerSession.cartItems[0]).not.toHaveProperty('prices');
  });

  it('takes free-form attributes of many keys, nested, as sent', async () => {
    const attributes = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i]));
    const itemText = '{"attributes":{"attributes":[1,{"deep":true}]},"constructor":"c","__proto__":"p"}';
    const fresh = `${id}-many-keys`;
    const reply = await call('PUT', sessionUrl(fresh), {
      body: { customerSession: { attributes, cartItems: [item({ attributes: JSON.parse(itemText) })] } },
    });
    expect(reply.status).toBe(200);
    const read = await call('GET', sessionUrl(fresh));
    expect(read.body.customerSession.attributes).toEqual(attributes);
    expect(JSON.stringify(read.body.customerSession.cartItems[0].attributes)).toBe(itemText);
  });

  it('points at the offending field with a JSON pointer', async () => {
    const reply = await call('PUT', sessionUrl(id), {
      body: { customerSession: { cartItems: [item({}), item({}), item({}), item({ quantity: 0 })] } },
    });
    expect(reply.body.errors[0].source.pointer).toBe('/customerSession/cartItems/3/quantity');
  });

  it('refuses to create a session cancelled or partially returned, storing nothing', async () => {
    for (const state of ['cancelled', 'partially_returned']) {
      const fresh = `${id}-${state}`;
      const reply = await call('PUT', sessionUrl(fresh), session({ state }));
      expect({ status: reply.status, code: reply.body.errors[0].title }).toEqual({
        status: 400,
        code: 'INVALID_FIELD',
      });
      expect(await harness.streamLength(`session-1-${fresh}`)).toBe(0);
    }
  });

  it('counts a customerSessionId in characters and refuses one over 1000 or holding a NUL, answers unknown routes with 404 and a wrong method with 405', async () => {
    const long = await call('GET', sessionUrl('x'.repeat(1001)));
    expect({ status: long.status, code: long.body.errors[0].title }).toEqual({
      status: 400,
      code: 'INVALID_FIELD',
    });
    // 1,000 characters, 2,000 UTF-16 units: accepted, as sku and profileId of the same length are.
    const prefix = `${Date.now()}`;
    const emoji = prefix + '😀'.repeat(1000 - prefix.length);
    const created = await call('PUT', sessionUrl(emoji), { body: { customerSession: {} } });
    expect(created.status).toBe(200);
    expect(created.body.customerSession.integrationId).toBe(emoji);
    const tooMany = await call('PUT', sessionUrl(`${emoji}😀`), { body: { customerSession: {} } });
    expect({ status: tooMany.status, code: tooMany.body.errors[0].title }).toEqual({
      status: 400,
      code: 'INVALID_FIELD',
    });
    const nul = await call('PUT', sessionUrl(`nul-${Date.now()}\u0000`), { body: { customerSession: {} } });
    expect({
      status: nul.status,
      code: nul.body.errors[0].title,
      pointer: nul.body.errors[0].source.pointer,
    }).toEqual({ status: 400, code: 'INVALID_FIELD', pointer: '/customerSessionId' });
    const unknown = await call('GET', '/v2/nothing-here');
    expect({ status: unknown.status, code: unknown.body.errors[0].title }).toEqual({
      status: 404,
      code: 'NOT_FOUND',
    });
    const wrongMethod = await call('DELETE', sessionUrl(id));
    expect({
      status: wrongMethod.status,
      code: wrongMethod.body.errors[0].title,
      allow: wrongMethod.headers.get('allow'),
    }).toEqual({ status: 405, code: 'METHOD_NOT_ALLOWED', allow: 'GET, HEAD, OPTIONS, PUT' });
  });
});
