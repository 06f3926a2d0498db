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
const sid = (name: string) => `shape-${name}-${run}`;
const stream = (id: string) => `session-1-${id}`;

beforeAll(async () => {
  harness = await ApiHarness.start();
  call = client(harness);
});

afterAll(async () => {
  await harness.dispose();
});

const item = (fields: Record<string, unknown> = {}) => ({ sku: 'a', quantity: 2, price: 5, ...fields });

async function create(id: string, customerSession: Record<string, unknown> = {}): Promise<Reply> {
  const reply = await call('PUT', sessionUrl(id), {
    body: { customerSession: { profileId: '', cartItems: [item()], ...customerSession } },
  });
  if (reply.status !== 200) throw new Error(`create ${id}: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply;
}

async function closed(id: string): Promise<void> {
  await create(id);
  const reply = await call('POST', sessionUrl(id, '/close'));
  if (reply.status !== 200) throw new Error(`close ${id}: ${reply.status} ${JSON.stringify(reply.body)}`);
}

type Snapshot = SessionSnapshot;
const snapshot = (id: string): Promise<Snapshot> => sessionSnapshot(harness, id);

/**
 * A refused request: status, code and source (`pointer` in the body or path, `parameter` in the query: the one
 * not expected must be absent; `{}` when neither is expected) of the first error, nothing appended, GET unchanged.
 */
async function expectRefused(
  id: string,
  before: Snapshot,
  reply: Reply,
  expected: { status: number; code: string; pointer?: string; parameter?: string },
): Promise<void> {
  const first = reply.body?.errors?.[0];
  const { status, code, pointer, parameter } = expected;
  expect({ status: reply.status, code: first?.title, source: first?.source }).toEqual({
    status,
    code,
    source: parameter !== undefined ? { parameter } : pointer !== undefined ? { pointer } : {},
  });
  expect(reply.body.StatusCode).toBe(expected.status);
  expect(reply.headers.get('x-event-position')).toBeNull();
  expect(await snapshot(id)).toEqual(before);
}

describe('an array where the API expects a JSON object', () => {
  it('refuses an array as the return of POST /returns with 400 at /return (it used to be a 500)', async () => {
    const id = sid('return-array');
    await closed(id);
    const before = await snapshot(id);
    for (const body of [
      { return: [] },
      { return: [{ returnedCartItems: [{ position: 0 }] }] },
      { return: [{ returnedCartItems: [{ position: 0, quantity: 1 }] }, { returnedCartItems: [] }] },
    ]) {
      const reply = await call('POST', sessionUrl(id, '/returns'), { body });
      await expectRefused(id, before, reply, { status: 400, code: 'INVALID_FIELD', pointer: '/return' });
      expect(reply.body.errors).toHaveLength(1);
    }
    // The same return as an object is accepted: the session was able to take it all along.
    const accepted = await call('POST', sessionUrl(id, '/returns'), {
      body: { return: { returnedCartItems: [{ position: 0 }] } },
    });
    expect(accepted.status).toBe(200);
  });

  it('reads null in an optional cart item field as the field not given, on PUT and on /cart_items', async () => {
    const id = sid('null-item-fields');
    const nulls = {
      name: null,
      category: null,
      price: null,
      product: null,
      weight: null,
      height: null,
      width: null,
      length: null,
      attributes: null,
      additionalCosts: null,
    };
    const created = await call('PUT', sessionUrl(id), {
      body: { customerSession: { cartItems: [{ sku: 'N', quantity: 1, ...nulls }] } },
    });
    expect(created.status).toBe(200);
    const added = await call('POST', sessionUrl(id, '/cart_items'), {
      body: { cartItems: [{ sku: 'M', quantity: 2, ...nulls, price: 3 }] },
    });
    expect(added.status).toBe(200);
    const [first, second] = added.body.customerSession.cartItems;
    expect(first).toEqual({ sku: 'N', quantity: 1, position: 0, returnedQuantity: 0, remainingQuantity: 1 });
    expect(second).toEqual({
      sku: 'M',
      quantity: 2,
      price: 3,
      position: 1,
      returnedQuantity: 0,
      remainingQuantity: 2,
    });
    expect(added.body.customerSession.total).toBe(6);
  });

  it('answers cart items that are not an array with that one error, not also "a cart item must be a JSON object"', async () => {
    const fresh = sid('cart-items-not-array');
    for (const [method, suffix, body] of [
      ['PUT', '', { customerSession: { cartItems: 'x' } }],
      ['PUT', '', { customerSession: { cartItems: { sku: 'a' } } }],
      ['POST', '/cart_items', { cartItems: 7 }],
    ] as const) {
      const reply = await call(method, sessionUrl(fresh, suffix), { body });
      expect(reply.status).toBe(400);
      expect(reply.body.errors).toEqual([
        {
          title: 'INVALID_FIELD',
          details: 'cartItems must be an array',
          source: { pointer: method === 'PUT' ? '/customerSession/cartItems' : '/cartItems' },
        },
      ]);
    }
    expect(await harness.streamLength(stream(fresh))).toBe(0);
  });

  it('says a money field must be a finite number, in plain words', async () => {
    const fresh = sid('price-not-a-number');
    const reply = await call('PUT', sessionUrl(fresh), {
      body: { customerSession: { cartItems: [item({ price: 'x' })] } },
    });
    expect(reply.status).toBe(400);
    expect(reply.body.errors).toEqual([
      {
        title: 'INVALID_FIELD',
        details: 'price must be a finite number',
        source: { pointer: '/customerSession/cartItems/0/price' },
      },
    ]);
    expect(await harness.streamLength(stream(fresh))).toBe(0);
  });

  it('refuses an array as customerSession with 400 at /customerSession and creates nothing', async () => {
    const fresh = sid('session-array-new');
    for (const customerSession of [[{ profileId: 'bob' }], [], [{ profileId: 42, colour: 'red' }]]) {
      const reply = await call('PUT', sessionUrl(fresh), { body: { customerSession } });
      expect({
        status: reply.status,
        code: reply.body.errors[0].title,
        pointer: reply.body.errors[0].source.pointer,
      }).toEqual({ status: 400, code: 'INVALID_FIELD', pointer: '/customerSession' });
      expect(reply.body.errors).toHaveLength(1);
      const get = await call('GET', sessionUrl(fresh));
      expect({ status: get.status, code: get.body.errors[0].title }).toEqual({
        status: 404,
        code: 'SESSION_NOT_FOUND',
      });
      expect(await harness.streamLength(stream(fresh))).toBe(0);
    }

    const existing = sid('session-array-existing');
    await create(existing, { profileId: 'alice' });
    const before = await snapshot(existing);
    const reply = await call('PUT', sessionUrl(existing), {
      body: { customerSession: [{ profileId: 'bob' }] },
    });
    await expectRefused(existing, before, reply, {
      status: 400,
      code: 'INVALID_FIELD',
      pointer: '/customerSession',
    });
  });

  const nested: { name: string; url?: string; method?: string; body: unknown; pointer: string }[] = [
    {
      name: 'a cart item as an array',
      body: { customerSession: { cartItems: [item(), [item()]] } },
      pointer: '/customerSession/cartItems/1',
    },
    {
      name: 'a cart item as an empty array',
      body: { customerSession: { cartItems: [[]] } },
      pointer: '/customerSession/cartItems/0',
    },
    {
      name: 'a cart item as a number',
      body: { customerSession: { cartItems: [5] } },
      pointer: '/customerSession/cartItems/0',
    },
    {
      name: 'product as an array',
      body: { customerSession: { cartItems: [item({ product: [{ name: 'tee' }] })] } },
      pointer: '/customerSession/cartItems/0/product',
    },
    {
      name: 'product as an empty array',
      body: { customerSession: { cartItems: [item({ product: [] })] } },
      pointer: '/customerSession/cartItems/0/product',
    },
    {
      name: 'item attributes as an array',
      body: { customerSession: { cartItems: [item({ attributes: [] })] } },
      pointer: '/customerSession/cartItems/0/attributes',
    },
    {
      name: 'item additionalCosts as an array',
      body: { customerSession: { cartItems: [item({ additionalCosts: [{ price: 1 }] })] } },
      pointer: '/customerSession/cartItems/0/additionalCosts',
    },
    {
      name: 'an item additional cost as an array',
      body: { customerSession: { cartItems: [item({ additionalCosts: { gift: [{ price: 1 }] } })] } },
      pointer: '/customerSession/cartItems/0/additionalCosts/gift',
    },
    {
      name: 'session additionalCosts as an array',
      body: { customerSession: { additionalCosts: [] } },
      pointer: '/customerSession/additionalCosts',
    },
    {
      name: 'a session additional cost as an array',
      body: { customerSession: { additionalCosts: { shipping: [{ price: 1 }] } } },
      pointer: '/customerSession/additionalCosts/shipping',
    },
    {
      name: 'session attributes as an array',
      body: { customerSession: { attributes: [{ a: 1 }] } },
      pointer: '/customerSession/attributes',
    },
    {
      name: 'a cart item as an array on POST /cart_items',
      method: 'POST',
      url: '/cart_items',
      body: { cartItems: [[item()]] },
      pointer: '/cartItems/0',
    },
    {
      name: 'product as an array on POST /cart_items',
      method: 'POST',
      url: '/cart_items',
      body: { cartItems: [item({ product: [] })] },
      pointer: '/cartItems/0/product',
    },
    {
      name: 'a returned item as an array',
      method: 'POST',
      url: '/returns',
      body: { return: { returnedCartItems: [[{ position: 0 }]] } },
      pointer: '/return/returnedCartItems/0',
    },
  ];

  it.each(nested)('refuses $name with 400 INVALID_FIELD at $pointer', async (row) => {
    const id = sid(`nested-${nested.indexOf(row)}`);
    if (row.url === '/returns') await closed(id);
    else await create(id);
    const before = await snapshot(id);
    const reply = await call(row.method ?? 'PUT', sessionUrl(id, row.url ?? ''), { body: row.body });
    await expectRefused(id, before, reply, { status: 400, code: 'INVALID_FIELD', pointer: row.pointer });
  });
});

describe('query parameters of the Integration API', () => {
  const change: CallOptions = { body: { customerSession: { profileId: 'changed', cartItems: [] } } };

  it('refuses a malformed or misspelt dry on PUT at its query parameter and stores nothing', async () => {
    const id = sid('put-query');
    await create(id, { profileId: 'original' });
    const before = await snapshot(id);
    const cases: [string, string, string][] = [
      ['?dry[]=true', 'UNKNOWN_FIELD', 'dry[]'],
      ['?dry[a]=true', 'UNKNOWN_FIELD', 'dry[a]'],
      ['?Dry=true', 'UNKNOWN_FIELD', 'Dry'],
      ['?dryRun=true', 'UNKNOWN_FIELD', 'dryRun'],
      ['?dry=true&dry=true', 'INVALID_FIELD', 'dry'],
      ['?dry=true&dry=false', 'INVALID_FIELD', 'dry'],
      ['?dry=', 'INVALID_FIELD', 'dry'],
      ['?dry=1', 'INVALID_FIELD', 'dry'],
      ['?dry=true&debug=1', 'UNKNOWN_FIELD', 'debug'],
      // Named as it was sent, decoded: a "/" in a name is no pointer's "~1".
      ['?a%2Fb=1', 'UNKNOWN_FIELD', 'a/b'],
    ];
    for (const [query, code, parameter] of cases) {
      const reply = await call('PUT', `${sessionUrl(id)}${query}`, change);
      await expectRefused(id, before, reply, { status: 400, code, parameter });
    }
  });

  it('tells ?dry=1 (source.parameter "dry") from a body field dry (source.pointer "/dry")', async () => {
    const id = sid('dry-query-or-body');
    await create(id, { profileId: 'original' });
    const before = await snapshot(id);
    const query = await call('PUT', `${sessionUrl(id)}?dry=1`, change);
    await expectRefused(id, before, query, { status: 400, code: 'INVALID_FIELD', parameter: 'dry' });
    expect(query.body.errors).toEqual([
      { title: 'INVALID_FIELD', details: 'dry must be true or false', source: { parameter: 'dry' } },
    ]);
    const body = await call('PUT', sessionUrl(id), { body: { customerSession: {}, dry: true } });
    await expectRefused(id, before, body, { status: 400, code: 'UNKNOWN_FIELD', pointer: '/dry' });
    expect(body.body.errors).toEqual([
      { title: 'UNKNOWN_FIELD', details: 'Unknown field /dry', source: { pointer: '/dry' } },
    ]);
  });

  it('creates nothing when a PUT carries an unknown query parameter', async () => {
    const id = sid('put-query-new');
    const reply = await call('PUT', `${sessionUrl(id)}?Dry=true`, change);
    expect({ status: reply.status, code: reply.body.errors[0].title }).toEqual({
      status: 400,
      code: 'UNKNOWN_FIELD',
    });
    expect((await call('GET', sessionUrl(id))).status).toBe(404);
    expect(await harness.streamLength(stream(id))).toBe(0);
  });

  it('refuses dry on the verbs that have no dry run instead of committing them', async () => {
    const open = sid('verbs-open');
    await create(open);
    const shut = sid('verbs-closed');
    await closed(shut);
    const cases: [id: string, method: string, suffix: string, body?: unknown][] = [
      [open, 'POST', '/close'],
      [open, 'POST', '/cancel'],
      [open, 'POST', '/cart_items', { cartItems: [item({ sku: 'b' })] }],
      [shut, 'PUT', '/reopen'],
      [shut, 'POST', '/cancel'],
    ];
    for (const [id, method, suffix, body] of cases) {
      const before = await snapshot(id);
      for (const query of ['?dry=true', '?dry=false']) {
        const reply = await call(method, `${sessionUrl(id, suffix)}${query}`, { body });
        await expectRefused(id, before, reply, { status: 400, code: 'UNKNOWN_FIELD', parameter: 'dry' });
      }
      const unknown = await call(method, `${sessionUrl(id, suffix)}?force=1`, { body });
      await expectRefused(id, before, unknown, { status: 400, code: 'UNKNOWN_FIELD', parameter: 'force' });
      expect(unknown.body.errors[0].source).toEqual({ parameter: 'force' });
    }
  });

  it('refuses unknown parameters on /returns and on GET', async () => {
    const id = sid('returns-query');
    await closed(id);
    const before = await snapshot(id);
    const body = { return: { returnedCartItems: [{ position: 0, quantity: 1 }] } };
    for (const [query, code, parameter] of [
      ['?Dry=true', 'UNKNOWN_FIELD', 'Dry'],
      ['?dry[]=true', 'UNKNOWN_FIELD', 'dry[]'],
      ['?dry=yes', 'INVALID_FIELD', 'dry'],
    ]) {
      const reply = await call('POST', `${sessionUrl(id, '/returns')}${query}`, { body });
      await expectRefused(id, before, reply, { status: 400, code: code!, parameter });
    }
    const get = await call('GET', `${sessionUrl(id)}?fields=all`);
    expect({
      status: get.status,
      code: get.body.errors[0].title,
      source: get.body.errors[0].source,
    }).toEqual({ status: 400, code: 'UNKNOWN_FIELD', source: { parameter: 'fields' } });
  });

  it('still runs dry=true as a dry run and dry=false as a command', async () => {
    const id = sid('dry-ok');
    await create(id, { profileId: 'original' });
    const before = await snapshot(id);
    const dry = await call('PUT', `${sessionUrl(id)}?dry=true`, change);
    expect(dry.status).toBe(200);
    expect(dry.body.customerSession.profileId).toBe('changed');
    expect(await snapshot(id)).toEqual(before);

    const shut = sid('dry-ok-returns');
    await closed(shut);
    const beforeReturn = await snapshot(shut);
    const dryReturn = await call('POST', `${sessionUrl(shut, '/returns')}?dry=true`, {
      body: { return: { returnedCartItems: [{ position: 0, quantity: 1 }] } },
    });
    expect(dryReturn.status).toBe(200);
    expect(await snapshot(shut)).toEqual(beforeReturn);

    const committed = await call('PUT', `${sessionUrl(id)}?dry=false`, change);
    expect(committed.status).toBe(200);
    const after = await snapshot(id);
    expect(after.etag).not.toBe(before.etag);
    expect((after.body as Reply['body']).customerSession.profileId).toBe('changed');
  });
});

describe('If-None-Match: * (create only if the session does not exist yet)', () => {
  const createOnly = (id: string, headers: Record<string, string> = {}, profileId = 'first') =>
    call('PUT', sessionUrl(id), {
      headers: { 'If-None-Match': '*', ...headers },
      body: { customerSession: { profileId, cartItems: [item()] } },
    });

  it('creates a missing session, and is 412 with nothing appended once the session exists', async () => {
    const id = sid('create-only');
    const created = await createOnly(id);
    expect({ status: created.status, etag: created.headers.get('etag') }).toEqual({
      status: 200,
      etag: '"0"',
    });
    const before = await snapshot(id);
    await expectRefused(id, before, await createOnly(id, {}, 'second'), {
      status: 412,
      code: 'PRECONDITION_FAILED',
    });
    // Also when the other change would be a no-op: the precondition is about the session, not the change.
    await expectRefused(id, before, await createOnly(id), { status: 412, code: 'PRECONDITION_FAILED' });
  });

  it('a retry under the same Idempotency-Key gets the first response, not a 412', async () => {
    const id = sid('create-only-keyed');
    const first = await createOnly(id, { 'Idempotency-Key': `k-${id}` });
    expect(first.status).toBe(200);
    const retry = await createOnly(id, { 'Idempotency-Key': `k-${id}` });
    expect({ status: retry.status, body: retry.body, etag: retry.headers.get('etag') }).toEqual({
      status: 200,
      body: first.body,
      etag: '"0"',
    });
    expect(await harness.streamLength(stream(id))).toBe(1);
  });

  it('refuses entity tags in If-None-Match, and If-Match with it, with 400 INVALID_HEADER', async () => {
    const id = sid('create-only-bad');
    await create(id);
    const before = await snapshot(id);
    const cases: Record<string, string>[] = [
      { 'If-None-Match': '"0"' },
      { 'If-None-Match': '*', 'If-Match': '"0"' },
    ];
    for (const headers of cases) {
      const reply = await call('PUT', sessionUrl(id), {
        headers,
        body: { customerSession: { profileId: 'changed' } },
      });
      await expectRefused(id, before, reply, { status: 400, code: 'INVALID_HEADER' });
    }
  });
});

describe('If-Match', () => {
  const closeWith = (id: string, ifMatch: string, headers: Record<string, string> = {}) =>
    call('POST', sessionUrl(id, '/close'), { headers: { 'If-Match': ifMatch, ...headers } });

  it('* matches an existing session, whatever its revision', async () => {
    const id = sid('star');
    await create(id);
    await call('POST', sessionUrl(id, '/cart_items'), { body: { cartItems: [item({ sku: 'b' })] } });
    const reply = await closeWith(id, '*');
    expect(reply.status).toBe(200);
    expect(reply.body.customerSession.state).toBe('closed');
    expect(reply.headers.get('etag')).toBe('"2"');

    const put = await call('PUT', sessionUrl(id), {
      headers: { 'If-Match': ' * ' },
      body: { customerSession: { state: 'cancelled' } },
    });
    expect(put.status).toBe(200);
    expect(put.body.customerSession.state).toBe('cancelled');
  });

  it('* does not match a session that does not exist: 412 to a PUT, 404 to a command that needs it; nothing created', async () => {
    const id = sid('star-missing');
    const put = await call('PUT', sessionUrl(id), {
      headers: { 'If-Match': '*' },
      body: { customerSession: { profileId: 'p' } },
    });
    expect({ status: put.status, code: put.body.errors[0].title }).toEqual({
      status: 412,
      code: 'PRECONDITION_FAILED',
    });
    // RFC 9110 §13.2.1: without the precondition the close is a 404, so the precondition is not evaluated.
    const close = await closeWith(id, '*');
    expect({ status: close.status, code: close.body.errors[0].title }).toEqual({
      status: 404,
      code: 'SESSION_NOT_FOUND',
    });
    expect((await call('GET', sessionUrl(id))).status).toBe(404);
    expect(await harness.streamLength(stream(id))).toBe(0);
  });

  it('a list matches when any of its entity tags names the current revision', async () => {
    const id = sid('list');
    await create(id);
    const added = await call('POST', sessionUrl(id, '/cart_items'), {
      headers: { 'If-Match': '"1", "0"' },
      body: { cartItems: [item({ sku: 'b' })] },
    });
    expect(added.status).toBe(200);
    expect(added.headers.get('etag')).toBe('"1"');

    const closedReply = await closeWith(id, 'W/"1", "7", "1"');
    expect(closedReply.status).toBe(200);
    expect(closedReply.headers.get('etag')).toBe('"2"');

    const reopened = await call('PUT', sessionUrl(id, '/reopen'), { headers: { 'If-Match': '"9",,"2"' } });
    expect(reopened.status).toBe(200);
    expect(reopened.headers.get('etag')).toBe('"3"');
  });

  it('a list naming no current revision, or only weak tags, is 412 and appends nothing', async () => {
    const id = sid('list-stale');
    await create(id);
    await call('POST', sessionUrl(id, '/cart_items'), { body: { cartItems: [item({ sku: 'b' })] } });
    const before = await snapshot(id);
    expect(before.etag).toBe('"1"');
    for (const ifMatch of [
      '"0", "2"',
      'W/"1"',
      'W/"1", W/"0"',
      '"0", W/"1"',
      '"1" "0"',
      '"x", "y"',
      '*, "1"',
    ]) {
      const reply = await closeWith(id, ifMatch);
      await expectRefused(id, before, reply, { status: 412, code: 'PRECONDITION_FAILED' });
    }
  });

  it('names every tag of a list in its 412, not only the first', async () => {
    const id = sid('list-named');
    await create(id);
    await call('POST', sessionUrl(id, '/cart_items'), { body: { cartItems: [item({ sku: 'b' })] } });
    await call('POST', sessionUrl(id, '/cart_items'), { body: { cartItems: [item({ sku: 'c' })] } });
    const before = await snapshot(id);
    expect(before.etag).toBe('"2"');
    for (const [ifMatch, details] of [
      ['"5", "0"', 'If-Match expected revision 5 or 0, the session is at revision 2'],
      ['"5", "0", "1"', 'If-Match expected revision 5, 0 or 1, the session is at revision 2'],
      [
        '"5", W/"2"',
        'If-Match expected revision 5 (W/"2" matches nothing: the comparison is strong, and only "<revision>" ' +
          'as the ETag writes it names a revision), the session is at revision 2',
      ],
    ]) {
      const reply = await closeWith(id, ifMatch!);
      await expectRefused(id, before, reply, { status: 412, code: 'PRECONDITION_FAILED' });
      expect({ ifMatch, details: reply.body.errors[0].details, message: reply.body.message }).toEqual({
        ifMatch,
        details,
        message: details,
      });
    }
  });

  it('a retried Idempotency-Key replays its first answer although the session moved past the list', async () => {
    const id = sid('list-retry');
    await create(id);
    const headers = { 'Idempotency-Key': `close-${run}` };
    const first = await closeWith(id, '"3", "0"', headers);
    expect(first.status).toBe(200);
    const retry = await closeWith(id, '"3", "0"', headers);
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
    expect(retry.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(await harness.streamLength(stream(id))).toBe(2);
  });
});

describe('the OpenAPI document', () => {
  it('defines every security scheme an operation requires', async () => {
    const reply = await call('GET', '/openapi.json', { key: null });
    expect(reply.status).toBe(200);
    const document = reply.body as {
      security?: Record<string, string[]>[];
      paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>>;
      components?: { securitySchemes?: Record<string, { type: string; in?: string; name?: string }> };
    };
    const defined = document.components?.securitySchemes ?? {};
    const required = new Map<string, string[]>();
    const note = (where: string, requirements: Record<string, string[]>[] = []) => {
      for (const requirement of requirements) {
        for (const scheme of Object.keys(requirement)) {
          required.set(scheme, [...(required.get(scheme) ?? []), where]);
        }
      }
    };
    note('(document)', document.security);
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations))
        note(`${method} ${path}`, operation.security);
    }
    expect([...required.keys()].sort()).toEqual(['ApiKey-v1', 'ManagementKey-v1']);
    const undefinedSchemes = [...required].filter(([scheme]) => !(scheme in defined));
    expect(undefinedSchemes).toEqual([]);
    expect(defined['ManagementKey-v1']).toMatchObject({
      type: 'apiKey',
      in: 'header',
      name: 'Authorization',
    });
  });

  it('documents dry on PUT and /returns only, now on PUT, runRuleEngine on /returns, the cache-buster _ on GET', async () => {
    const { body } = await call('GET', '/openapi.json', { key: null });
    const parameters = (path: string, method: string): string[] =>
      (body.paths[path][method].parameters as { name: string; in: string }[])
        .filter((parameter) => parameter.in === 'query')
        .map((parameter) => parameter.name);
    const session = '/v2/customer_sessions/{customerSessionId}';
    expect(parameters(session, 'put')).toEqual(['dry', 'now']);
    expect(parameters(`${session}/returns`, 'post')).toEqual(['dry', 'runRuleEngine']);
    // Talon.One's SDKs add `_=<timestamp>` to every GET when their cache is off (see talon-one-parity).
    expect(parameters(session, 'get')).toEqual(['_']);
    for (const verb of ['close', 'cancel', 'cart_items'])
      expect(parameters(`${session}/${verb}`, 'post')).toEqual([]);
    expect(parameters(`${session}/reopen`, 'put')).toEqual([]);
  });
});

describe('the read-only cart item fields: position, returnedQuantity, remainingQuantity', () => {
  // Talon.One's SDKs have one CartItem model for requests and responses: a checkout that GETs the session,
  // edits the cart and PUTs it back sends the computed fields too. They are accepted, whatever their value,
  // and ignored.
  // The attribute named toString makes the body go through the check of the keys the pipe never sees too.
  it('takes back the cart exactly as GET returned it as a no-op that appends nothing', async () => {
    const id = sid('read-only-round-trip');
    await create(id, {
      cartItems: [
        item({
          name: 'tee',
          category: 'tops',
          product: { name: 'tee' },
          weight: 1,
          attributes: { k: [1], toString: 'x' },
        }),
        item({ sku: 'b', quantity: 1, price: 0.1, additionalCosts: { gift: { price: 1.5 } } }),
      ],
    });
    const before = await snapshot(id);
    const cartItems = (before.body as Reply['body']).customerSession.cartItems;
    expect(cartItems[1]).toMatchObject({ position: 1, returnedQuantity: 0, remainingQuantity: 1 });
    const reply = await call('PUT', sessionUrl(id), { body: { customerSession: { cartItems } } });
    expect(reply.status).toBe(200);
    expect(reply.headers.get('x-event-position')).toBeNull();
    expect(reply.body.customerSession).toEqual((before.body as Reply['body']).customerSession);
    expect(await snapshot(id)).toEqual(before);
  });

  it('also after a return: the returned quantity sent back neither changes nor resets anything', async () => {
    const id = sid('read-only-returned');
    await closed(id);
    const returned = await call('POST', sessionUrl(id, '/returns'), {
      body: { return: { returnedCartItems: [{ position: 0, quantity: 1 }] } },
    });
    expect(returned.status).toBe(200);
    const before = await snapshot(id);
    const cartItems = (before.body as Reply['body']).customerSession.cartItems;
    expect(cartItems[0]).toMatchObject({ quantity: 2, returnedQuantity: 1, remainingQuantity: 1 });
    const reply = await call('PUT', sessionUrl(id), { body: { customerSession: { cartItems } } });
    expect(reply.status).toBe(200);
    expect(await snapshot(id)).toEqual(before);
  });

  it('accepts them with any value on PUT and on /cart_items and stores the computed values', async () => {
    const id = sid('read-only-any-value');
    const created = await call('PUT', sessionUrl(id), {
      body: {
        customerSession: {
          cartItems: [
            item({ position: 'x', returnedQuantity: 5, remainingQuantity: -3 }),
            item({ sku: 'b', position: 0, returnedQuantity: null, remainingQuantity: { a: [1] } }),
          ],
        },
      },
    });
    expect(created.status).toBe(200);
    const added = await call('POST', sessionUrl(id, '/cart_items'), {
      body: {
        cartItems: [
          item({ sku: 'c', quantity: 1, position: [], returnedQuantity: '1', remainingQuantity: 1.5 }),
          item({ sku: 'd', quantity: 3, position: null, returnedQuantity: {}, remainingQuantity: null }),
        ],
      },
    });
    expect(added.status).toBe(200);
    const lines = (await snapshot(id)).body as Reply['body'];
    expect(
      lines.customerSession.cartItems.map(
        (line: Record<string, unknown>) =>
          `${line.sku}:${line.position}:${line.quantity}:${line.returnedQuantity}:${line.remainingQuantity}`,
      ),
    ).toEqual(['a:0:2:0:2', 'b:1:2:0:2', 'c:2:1:0:1', 'd:3:3:0:3']);
    expect(lines.customerSession.cartItemTotal).toBe(40);
    // A return still works from the computed quantities, not from what was sent.
    await call('POST', sessionUrl(id, '/close'));
    const returned = await call('POST', sessionUrl(id, '/returns'), {
      body: { return: { returnedCartItems: [{ position: 0 }] } },
    });
    expect(returned.status).toBe(200);
    expect(returned.body.customerSession.cartItems[0]).toMatchObject({
      returnedQuantity: 2,
      remainingQuantity: 0,
    });
  });

  it('keeps an Idempotency-Key working: the same body replays, the body without them is another body', async () => {
    const id = sid('read-only-keyed');
    await create(id);
    const cartItems = [item({ sku: 'k', position: 0, returnedQuantity: 0, remainingQuantity: 2 })];
    const headers = { 'Idempotency-Key': `read-only-${run}` };
    const first = await call('PUT', sessionUrl(id), { headers, body: { customerSession: { cartItems } } });
    expect(first.status).toBe(200);
    const after = await snapshot(id);
    const retry = await call('PUT', sessionUrl(id), { headers, body: { customerSession: { cartItems } } });
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
    expect(retry.headers.get('etag')).toBe(first.headers.get('etag'));
    const other = await call('PUT', sessionUrl(id), {
      headers,
      body: { customerSession: { cartItems: [item({ sku: 'k' })] } },
    });
    expect({ status: other.status, code: other.body.errors[0].title }).toEqual({
      status: 422,
      code: 'IDEMPOTENCY_KEY_REUSED',
    });
    expect(await snapshot(id)).toEqual(after);
  });
});

describe('unknown fields named like members of Object.prototype', () => {
  // The validation pipe validates a copy of the body that never holds such keys (class-transformer skips
  // them, Nest deletes __proto__, constructor and prototype): they must still be refused as unknown fields.
  const rows: { name: string; url?: string; body: string; pointer: string }[] = [
    {
      name: 'toString in customerSession',
      body: '{"customerSession":{"toString":1}}',
      pointer: '/customerSession/toString',
    },
    {
      name: 'constructor in customerSession',
      body: '{"customerSession":{"constructor":{"profileId":"x"}}}',
      pointer: '/customerSession/constructor',
    },
    {
      name: '__proto__ in customerSession',
      body: '{"customerSession":{"__proto__":{"profileId":"x"}}}',
      pointer: '/customerSession/__proto__',
    },
    {
      name: 'constructor in customerSession, spelt with an escape',
      body: '{"customerSession":{"\\u0063onstructor":1}}',
      pointer: '/customerSession/constructor',
    },
    { name: 'valueOf at the top', body: '{"customerSession":{},"valueOf":1}', pointer: '/valueOf' },
    { name: 'prototype at the top', body: '{"customerSession":{},"prototype":{}}', pointer: '/prototype' },
    {
      name: '__proto__ at the top',
      body: '{"__proto__":{"customerSession":{}},"customerSession":{}}',
      pointer: '/__proto__',
    },
    {
      name: 'hasOwnProperty in a cart item',
      body: '{"customerSession":{"cartItems":[{"sku":"a","quantity":1,"hasOwnProperty":1}]}}',
      pointer: '/customerSession/cartItems/0/hasOwnProperty',
    },
    {
      name: 'prototype in a cart item',
      body: '{"customerSession":{"cartItems":[{"sku":"a","quantity":1},{"sku":"b","quantity":1,"prototype":1}]}}',
      pointer: '/customerSession/cartItems/1/prototype',
    },
    {
      name: 'isPrototypeOf in a product',
      body: '{"customerSession":{"cartItems":[{"sku":"a","quantity":1,"product":{"name":"p","isPrototypeOf":1}}]}}',
      pointer: '/customerSession/cartItems/0/product/isPrototypeOf',
    },
    {
      name: 'toString in a session cost',
      body: '{"customerSession":{"additionalCosts":{"s":{"price":1,"toString":1}}}}',
      pointer: '/customerSession/additionalCosts/s/toString',
    },
    {
      name: '__proto__ in a cost named toString',
      body: '{"customerSession":{"additionalCosts":{"toString":{"price":1,"__proto__":{}}}}}',
      pointer: '/customerSession/additionalCosts/toString/__proto__',
    },
    {
      name: 'constructor in an item cost',
      body: '{"customerSession":{"cartItems":[{"sku":"a","quantity":1,"additionalCosts":{"g":{"price":1,"constructor":1}}}]}}',
      pointer: '/customerSession/cartItems/0/additionalCosts/g/constructor',
    },
    {
      name: 'valueOf at the top of /cart_items',
      url: '/cart_items',
      body: '{"cartItems":[],"valueOf":1}',
      pointer: '/valueOf',
    },
    {
      name: 'toLocaleString in a cart item on /cart_items',
      url: '/cart_items',
      body: '{"cartItems":[{"sku":"a","quantity":1,"toLocaleString":1}]}',
      pointer: '/cartItems/0/toLocaleString',
    },
    {
      name: 'constructor at the top of /cart_items',
      url: '/cart_items',
      body: '{"cartItems":[{"sku":"a","quantity":1}],"constructor":{"cartItems":[]}}',
      pointer: '/constructor',
    },
    {
      name: 'constructor in a product on /cart_items',
      url: '/cart_items',
      body: '{"cartItems":[{"sku":"a","quantity":1,"product":{"name":"p","constructor":"c"}}]}',
      pointer: '/cartItems/0/product/constructor',
    },
    {
      name: 'toString at the top of /returns',
      url: '/returns',
      body: '{"return":{"returnedCartItems":[{"position":0}]},"toString":1}',
      pointer: '/toString',
    },
    {
      name: 'constructor in the return',
      url: '/returns',
      body: '{"return":{"returnedCartItems":[{"position":0}],"constructor":1}}',
      pointer: '/return/constructor',
    },
    {
      name: 'valueOf in a returned item',
      url: '/returns',
      body: '{"return":{"returnedCartItems":[{"position":0,"valueOf":1}]}}',
      pointer: '/return/returnedCartItems/0/valueOf',
    },
    {
      name: '__proto__ in a returned item',
      url: '/returns',
      body: '{"return":{"returnedCartItems":[{"sku":"a","__proto__":{"position":0}}]}}',
      pointer: '/return/returnedCartItems/0/__proto__',
    },
  ];

  it.each(rows)('refuses $name with 400 UNKNOWN_FIELD at $pointer', async (row) => {
    const id = sid(`member-${rows.indexOf(row)}`);
    if (row.url === '/returns') await closed(id);
    else await create(id);
    const before = await snapshot(id);
    const method = row.url === undefined ? 'PUT' : 'POST';
    const reply = await call(method, sessionUrl(id, row.url ?? ''), { rawBody: row.body });
    await expectRefused(id, before, reply, { status: 400, code: 'UNKNOWN_FIELD', pointer: row.pointer });
    expect(reply.body.errors).toHaveLength(1);
    expect(reply.body.errors[0].details).toBe(`Unknown field ${row.pointer}`);
  });

  it('names every one of them, and creates nothing', async () => {
    const id = sid('member-all');
    const reply = await call('PUT', sessionUrl(id), {
      rawBody:
        '{"customerSession":{"toString":1,"constructor":1,"cartItems":[{"sku":"a","quantity":1,"hasOwnProperty":1}],' +
        '"additionalCosts":{"s":{"price":1,"toString":1}}},"valueOf":1}',
    });
    expect(reply.status).toBe(400);
    expect(
      reply.body.errors.map((error: { title: string; source: { pointer: string } }) => [
        error.title,
        error.source.pointer,
      ]),
    ).toEqual(
      expect.arrayContaining([
        ['UNKNOWN_FIELD', '/customerSession/toString'],
        ['UNKNOWN_FIELD', '/customerSession/constructor'],
        ['UNKNOWN_FIELD', '/customerSession/cartItems/0/hasOwnProperty'],
        ['UNKNOWN_FIELD', '/customerSession/additionalCosts/s/toString'],
        ['UNKNOWN_FIELD', '/valueOf'],
      ]),
    );
    expect(reply.body.errors).toHaveLength(5);
    expect(await harness.streamLength(stream(id))).toBe(0);
  });

  it('keeps such keys where any key is data: attributes, item attributes and the names of costs', async () => {
    const id = sid('member-data');
    const attributes =
      '{"toString":1,"hasOwnProperty":{"a":1},"valueOf":[1],"__proto__":{"x":1},"constructor":"c","prototype":3}';
    const costs =
      '{"toString":{"price":1},"valueOf":{"price":2},"__proto__":{"price":3},"constructor":{"price":4},"prototype":{"price":5}}';
    const created = await call('PUT', sessionUrl(id), {
      rawBody:
        `{"customerSession":{"attributes":${attributes},"additionalCosts":${costs},` +
        `"cartItems":[{"sku":"a","quantity":2,"attributes":${attributes},"additionalCosts":${costs}}]}}`,
    });
    expect(created.status).toBe(200);
    const added = await call('POST', sessionUrl(id, '/cart_items'), {
      rawBody: `{"cartItems":[{"sku":"b","quantity":1,"attributes":${attributes},"additionalCosts":${costs}}]}`,
    });
    expect(added.status).toBe(200);
    const { customerSession } = (await snapshot(id)).body as Reply['body'];
    expect(JSON.stringify(customerSession.attributes)).toBe(attributes);
    expect(JSON.stringify(customerSession.additionalCosts)).toBe(costs);
    for (const line of customerSession.cartItems) {
      expect(JSON.stringify(line.attributes)).toBe(attributes);
      expect(JSON.stringify(line.additionalCosts)).toBe(costs);
    }
    expect(customerSession.additionalCostTotal).toBe(15);
    expect(customerSession.cartItemAdditionalCostTotal).toBe(45);
  });

  it('names an unknown key in a cost entry at its pointer beside the other errors of the body', async () => {
    const id = sid('cost-unknown-key');
    await create(id);
    const before = await snapshot(id);
    const reply = await call('PUT', sessionUrl(id), {
      body: {
        customerSession: {
          profileId: 7,
          additionalCosts: { ship: { foo: 1 }, wrap: { price: 1, bar: 2, baz: 3 } },
          cartItems: [item({ additionalCosts: { gift: { price: 1, qux: 1 } } })],
        },
      },
    });
    expect(reply.status).toBe(400);
    expect(
      reply.body.errors.map((error: { title: string; source: { pointer: string } }) => [
        error.title,
        error.source.pointer,
      ]),
    ).toEqual([
      ['INVALID_FIELD', '/customerSession/profileId'],
      // The entry "ship" has no price: said at its price, as a cart item's bad field is.
      ['INVALID_FIELD', '/customerSession/additionalCosts/ship/price'],
      ['UNKNOWN_FIELD', '/customerSession/cartItems/0/additionalCosts/gift/qux'],
      ['UNKNOWN_FIELD', '/customerSession/additionalCosts/ship/foo'],
      ['UNKNOWN_FIELD', '/customerSession/additionalCosts/wrap/bar'],
      ['UNKNOWN_FIELD', '/customerSession/additionalCosts/wrap/baz'],
    ]);
    expect(await snapshot(id)).toEqual(before);
  });

  it('checks a cost named like a member as it checks any other cost', async () => {
    const id = sid('member-cost-price');
    await create(id);
    const before = await snapshot(id);
    const reply = await call('PUT', sessionUrl(id), {
      rawBody: '{"customerSession":{"additionalCosts":{"toString":{"price":-1}}}}',
    });
    await expectRefused(id, before, reply, {
      status: 400,
      code: 'INVALID_FIELD',
      pointer: '/customerSession/additionalCosts/toString/price',
    });
  });
});
