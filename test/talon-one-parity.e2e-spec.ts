/**
 * What a team migrating from Talon.One sends that the engine takes as Talon.One's current reference has it
 * (talon_one.js): every `responseContent` value of a PUT and of a return, `?now=` on a dry PUT,
 * `?runRuleEngine=` on a return, the read-only cart item fields of Talon.One's responses, `previousReturns`
 * on a PUT that asks for it; and what a 409 SESSION_NOT_MODIFIABLE says to do next. Every refusal changes
 * nothing.
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
const sid = (name: string) => `parity-${name}-${run}`;

beforeAll(async () => {
  harness = await ApiHarness.start();
  call = client(harness);
});

afterAll(async () => {
  await harness.dispose();
});

const item = (fields: Record<string, unknown> = {}) => ({ sku: 'a', quantity: 2, price: 5, ...fields });
const snapshot = (id: string): Promise<SessionSnapshot> => sessionSnapshot(harness, id);

function expectOk(reply: Reply): Reply['body'] {
  if (reply.status !== 200)
    throw new Error(`expected 200, got ${reply.status}: ${JSON.stringify(reply.body)}`);
  return reply.body;
}

const put = (id: string, body: unknown, query = '') => call('PUT', `${sessionUrl(id)}${query}`, { body });
const returns = (id: string, body: unknown, query = '') =>
  call('POST', `${sessionUrl(id, '/returns')}${query}`, { body });

async function create(id: string, customerSession: Record<string, unknown> = {}): Promise<Reply['body']> {
  return expectOk(await put(id, { customerSession: { cartItems: [item()], ...customerSession } }));
}

async function closed(id: string, cartItems = [item()]): Promise<void> {
  await create(id, { cartItems });
  expectOk(await call('POST', sessionUrl(id, '/close')));
}

/**
 * One error entry as expected (its source: the pointer or the query parameter given, else `{}`), and the session
 * (or its absence) as it was before.
 */
async function expectRefused(
  id: string,
  before: SessionSnapshot,
  reply: Reply,
  expected: { status: number; code: string; pointer?: string; parameter?: string; details: string | RegExp },
): Promise<void> {
  const first = reply.body?.errors?.[0];
  const { status, code, pointer, parameter, details } = expected;
  expect({
    status: reply.status,
    code: first?.title,
    source: first?.source,
    details: first?.details,
  }).toEqual({
    status,
    code,
    source: parameter !== undefined ? { parameter } : pointer !== undefined ? { pointer } : {},
    details: typeof details === 'string' ? details : expect.stringMatching(details),
  });
  expect(reply.headers.get('x-event-position')).toBeNull();
  expect(await snapshot(id)).toEqual(before);
}

const PUT_CONTENT = [
  'customerSession',
  'customerProfile',
  'coupons',
  'triggeredCampaigns',
  'referral',
  'loyalty',
  'event',
  'awardedGiveaways',
  'ruleFailureReasons',
  'previousReturns',
  'campaignEligibility',
  'achievements',
  'unlockedRewards',
];
const RETURN_CONTENT = [
  'customerSession',
  'customerProfile',
  'coupons',
  'triggeredCampaigns',
  'referral',
  'loyalty',
  'event',
  'previousReturns',
];
const COMMAND_REPLY = ['customerSession', 'effects', 'createdCoupons', 'createdReferrals'];

describe('responseContent', () => {
  it("takes every one of Talon.One's values on a PUT; the reply holds what the engine has", async () => {
    const id = sid('content-put');
    for (const value of PUT_CONTENT) {
      const reply = await put(id, { customerSession: { cartItems: [item()] }, responseContent: [value] });
      const body = expectOk(reply);
      expect({ value, keys: Object.keys(body) }).toEqual({
        value,
        keys: value === 'previousReturns' ? [...COMMAND_REPLY, 'previousReturns'] : COMMAND_REPLY,
      });
    }
    const all = expectOk(await put(id, { customerSession: {}, responseContent: PUT_CONTENT }));
    expect(Object.keys(all)).toEqual([...COMMAND_REPLY, 'previousReturns']);
  });

  it("takes Talon.One's values on a return and answers as without them; refuses another at its entry", async () => {
    const id = sid('content-return');
    await closed(id, [item({ quantity: 3 })]);
    const entry = { returnedCartItems: [{ position: 0, quantity: 1 }] };
    const plain = expectOk(await returns(id, { return: entry }, '?dry=true'));
    const asked = expectOk(
      await returns(id, { return: entry, responseContent: RETURN_CONTENT }, '?dry=true'),
    );
    // Two dry runs: the same answer but for the time they were decided at and the return id they drew.
    const timeless = (body: Reply['body']) => ({
      ...body,
      customerSession: { ...body.customerSession, updated: 't' },
      return: { ...body.return, id: 0, created: 't' },
    });
    expect(timeless(asked)).toEqual(timeless(plain));
    const first = expectOk(await returns(id, { return: entry, responseContent: ['customerSession'] }));
    expect(Object.keys(first)).toEqual([...COMMAND_REPLY, 'return', 'previousReturns']);
    const second = expectOk(await returns(id, { return: entry, responseContent: [] }));
    expect(second.previousReturns).toEqual([first.return]);

    const before = await snapshot(id);
    const values = RETURN_CONTENT.join(', ');
    await expectRefused(
      id,
      before,
      await returns(id, { return: entry, responseContent: ['loyalty', 'achievements'] }),
      {
        status: 400,
        code: 'INVALID_FIELD',
        pointer: '/responseContent/1',
        details: `/responseContent/1 must be one of the following values: ${values}`,
      },
    );
    await expectRefused(id, before, await returns(id, { return: entry, responseContent: 'event' }), {
      status: 400,
      code: 'INVALID_FIELD',
      pointer: '/responseContent',
      details: 'responseContent must be an array',
    });
    await expectRefused(id, before, await returns(id, { return: entry, responseContent: [], dry: true }), {
      status: 400,
      code: 'UNKNOWN_FIELD',
      pointer: '/dry',
      details: 'Unknown field /dry',
    });
  });
});

describe('previousReturns on a PUT', () => {
  it("holds the session's returns, oldest first, as the returns endpoint shapes them, only when asked", async () => {
    const id = sid('previous-returns');
    await closed(id, [item({ quantity: 3 }), item({ sku: 'b', quantity: 1 })]);
    const asked = { customerSession: {}, responseContent: ['previousReturns'] };
    expect(expectOk(await put(id, asked)).previousReturns).toEqual([]);

    const first = expectOk(
      await returns(id, { return: { returnedCartItems: [{ position: 0, quantity: 1 }] } }),
    );
    const second = expectOk(await returns(id, { return: { returnedCartItems: [{ sku: 'b' }] } }));
    const all = [...second.previousReturns, second.return];
    expect(all).toEqual([first.return, second.return]);

    const before = await snapshot(id);
    const reply = await put(id, asked);
    expect(expectOk(reply)).toEqual({
      customerSession: (before.body as Reply['body']).customerSession,
      effects: [],
      createdCoupons: [],
      createdReferrals: [],
      previousReturns: all,
    });
    // A PUT that changes nothing: no append, as without responseContent.
    expect(reply.headers.get('x-event-position')).toBeNull();
    expect(await snapshot(id)).toEqual(before);
    // A dry run too; and without previousReturns in responseContent, no previousReturns.
    expect(expectOk(await put(id, asked, '?dry=true')).previousReturns).toEqual(all);
    expect(expectOk(await put(id, { customerSession: {} })).previousReturns).toBeUndefined();
    expect(
      expectOk(await put(id, { customerSession: {}, responseContent: ['customerSession', 'coupons'] }))
        .previousReturns,
    ).toBeUndefined();
  });

  it('a retry under the same Idempotency-Key gets the same answer, previousReturns included', async () => {
    const id = sid('previous-returns-keyed');
    await closed(id);
    expectOk(await returns(id, { return: { returnedCartItems: [{ position: 0, quantity: 1 }] } }));
    const options: CallOptions = {
      headers: { 'Idempotency-Key': `previous-${run}` },
      body: { customerSession: { state: 'cancelled' }, responseContent: ['previousReturns'] },
    };
    const first = await call('PUT', sessionUrl(id), options);
    expect(expectOk(first).previousReturns).toHaveLength(1);
    const retry = await call('PUT', sessionUrl(id), options);
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual(first.body);
    expect(retry.headers.get('etag')).toBe(first.headers.get('etag'));
  });
});

describe('now on a dry PUT', () => {
  const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();

  it('decides a dry run of a new session as of now: created and updated are now, nothing stored', async () => {
    const id = sid('now-new');
    const now = inAnHour();
    const body = expectOk(
      await put(id, { customerSession: { cartItems: [item()] } }, `?dry=true&now=${encodeURIComponent(now)}`),
    );
    expect(body.customerSession).toMatchObject({ created: now, updated: now, state: 'open', total: 10 });
    expect((await call('GET', sessionUrl(id))).status).toBe(404);
    expect(await harness.streamLength(`session-1-${id}`)).toBe(0);
  });

  it("decides a dry run of an existing session as of now: updated is now, created the session's own", async () => {
    const id = sid('now-existing');
    const created = (await create(id)).customerSession;
    const before = await snapshot(id);
    // Any zone; `+` encoded as %2B.
    const reply = await put(
      id,
      { customerSession: { couponCodes: ['LATER'] } },
      '?dry=TRUE&now=2999-01-01T01:00:00%2B01:00',
    );
    expect(expectOk(reply).customerSession).toMatchObject({
      created: created.created,
      updated: '2999-01-01T00:00:00.000Z',
      couponCodes: ['LATER'],
      updateCount: 2,
    });
    expect(reply.headers.get('x-event-position')).toBeNull();
    expect(await snapshot(id)).toEqual(before);
    // The next command is decided at the server's clock again.
    const real = expectOk(await put(id, { customerSession: { couponCodes: ['NOW'] } })).customerSession;
    expect(Date.parse(real.updated)).toBeLessThan(Date.parse('2999-01-01T00:00:00Z'));
  });

  it('refuses now without dry=true, in the past, or without a zone: 400 at /now, nothing stored', async () => {
    const id = sid('now-refused');
    await create(id);
    const before = await snapshot(id);
    const change = { customerSession: { couponCodes: ['X'] } };
    const needsDry =
      'now needs dry=true: it is the time a dry run is decided at, and only a dry run takes one';
    const cases: [string, string | RegExp][] = [
      [`?now=${inAnHour()}`, needsDry],
      [`?dry=false&now=${inAnHour()}`, needsDry],
      [
        '?dry=true&now=2020-01-01T00:00:00Z',
        /^now must be in the future: 2020-01-01T00:00:00Z is not later than the server's time, /,
      ],
      [
        '?dry=true&now=2999-01-01T00:00:00',
        /^now has no time zone \(add Z for UTC\): give a date-time in the future/,
      ],
      ['?dry=true&now=2999-01-01', /^now is not a date-time: give /],
      [
        '?dry=true&now=2999-01-01T00:00:00+01:00',
        /^now has a space where its zone's \+ belongs .*now=2999-01-01T00:00:00%2B01:00$/,
      ],
      [
        '?dry=true&now=2999-01-01T00:00:00Z&now=2999-01-02T00:00:00Z',
        /^now is given more than once \(2 times\)/,
      ],
    ];
    for (const [query, details] of cases) {
      await expectRefused(id, before, await put(id, change, query), {
        status: 400,
        code: 'INVALID_FIELD',
        parameter: 'now',
        details,
      });
    }
    // A session that does not exist is not created either.
    const missing = sid('now-refused-missing');
    const reply = await put(missing, change, `?now=${inAnHour()}`);
    expect({ status: reply.status, message: reply.body.message }).toEqual({
      status: 400,
      message: `Invalid request: ${needsDry}`,
    });
    expect(await harness.streamLength(`session-1-${missing}`)).toBe(0);
  });
});

describe('runRuleEngine on a return', () => {
  it('takes true or false, in any letter case, and changes nothing about the return', async () => {
    const id = sid('rule-engine');
    await closed(id, [item({ quantity: 5 })]);
    const body = { return: { returnedCartItems: [{ position: 0, quantity: 1 }] } };
    const dry = expectOk(await returns(id, body, '?dry=true&runRuleEngine=True'));
    expect(dry.return.returnedCartItems).toEqual([{ position: 0, sku: 'a', quantity: 1 }]);
    for (const query of ['?runRuleEngine=true', '?runRuleEngine=FALSE&dry=false']) {
      const reply = expectOk(await returns(id, body, query));
      expect(reply.return.returnedCartItems).toEqual([{ position: 0, sku: 'a', quantity: 1 }]);
    }
    const before = await snapshot(id);
    expect((before.body as Reply['body']).customerSession.cartItems[0].returnedQuantity).toBe(2);
    await expectRefused(id, before, await returns(id, body, '?runRuleEngine=yes'), {
      status: 400,
      code: 'INVALID_FIELD',
      parameter: 'runRuleEngine',
      details: 'runRuleEngine must be true or false',
    });
    // Talon.One's PUT has no runRuleEngine, nor has ours.
    await expectRefused(id, before, await put(id, { customerSession: {} }, '?runRuleEngine=true'), {
      status: 400,
      code: 'UNKNOWN_FIELD',
      parameter: 'runRuleEngine',
      details: 'Unknown field /runRuleEngine',
    });
  });
});

describe("Talon.One's read-only cart item fields", () => {
  const talonOne = {
    catalogItemID: 4711,
    selectedPriceType: 'member',
    adjustmentReferenceId: '68851723-e6fa-488f-ace9-112581e6c19b',
    adjustmentEffectiveFrom: '2026-01-01T00:00:00Z',
    adjustmentEffectiveUntil: '2026-12-31T23:59:59Z',
    prices: {
      member: {
        price: 4,
        adjustmentContextId: 'summer',
        adjustmentReferenceId: '68851723-e6fa-488f-ace9-112581e6c19b',
        adjustmentEffectiveFrom: '2026-01-01T00:00:00Z',
        adjustmentEffectiveUntil: '2026-12-31T23:59:59Z',
      },
    },
  };
  const names = Object.keys(talonOne);
  const holdsNone = (lines: Record<string, unknown>[]) =>
    lines.flatMap((line) => names.filter((name) => name in line));

  it('takes back a cart copied from a Talon.One response as a no-op: never stored, never returned', async () => {
    const id = sid('talon-fields');
    const created = await create(id, { cartItems: [item({ ...talonOne }), item({ sku: 'b', quantity: 1 })] });
    expect(holdsNone(created.customerSession.cartItems)).toEqual([]);
    expect(created.customerSession.cartItemTotal).toBe(15);
    const before = await snapshot(id);
    const lines = (before.body as Reply['body']).customerSession.cartItems as Record<string, unknown>[];
    expect(holdsNone(lines)).toEqual([]);
    // The cart as a Talon.One response would show it: GET's lines plus Talon.One's fields.
    const copied = lines.map((line) => ({ ...line, ...talonOne }));
    const reply = await put(id, { customerSession: { cartItems: copied } });
    expect(reply.status).toBe(200);
    expect(reply.headers.get('x-event-position')).toBeNull();
    expect(reply.body.customerSession).toEqual((before.body as Reply['body']).customerSession);
    expect(await snapshot(id)).toEqual(before);
    const events = await harness.store.readStream(`session-1-${id}`);
    expect(JSON.stringify(events.map((event) => event.data))).not.toMatch(
      /catalogItemID|selectedPriceType|prices/,
    );
  });

  it('accepts them with any value, on PUT and on /cart_items', async () => {
    const id = sid('talon-fields-any');
    const odd = {
      catalogItemID: 'x',
      selectedPriceType: 7,
      adjustmentReferenceId: null,
      adjustmentEffectiveFrom: 'not a date',
      adjustmentEffectiveUntil: { a: [1] },
      prices: [1, 'two'],
    };
    expectOk(await put(id, { customerSession: { cartItems: [item(odd)] } }));
    const added = expectOk(
      await call('POST', sessionUrl(id, '/cart_items'), {
        body: { cartItems: [item({ sku: 'b', ...talonOne }), item({ sku: 'c', ...odd })] },
      }),
    );
    expect(added.customerSession.cartItems.map((line: { sku: string }) => line.sku)).toEqual(['a', 'b', 'c']);
    expect(holdsNone(added.customerSession.cartItems)).toEqual([]);
    expect(added.customerSession.cartItemTotal).toBe(30);
  });
});

describe('what a 409 SESSION_NOT_MODIFIABLE says to do next', () => {
  const change = { customerSession: { couponCodes: ['LATE'] } };

  it.each([
    [
      'closed',
      /^The session is closed: its fields can no longer change; to change them, reopen it first \(PUT \/v2\/customer_sessions\/\{customerSessionId\}\/reopen\), then send the change again$/,
    ],
    [
      'partially_returned',
      /^The session is partially_returned: its fields can no longer change; only returns \(POST …\/returns\) and a cancel \(POST …\/cancel, or an update with state "cancelled"\) are possible; a session with returns cannot be reopened$/,
    ],
    [
      'cancelled',
      /^The session is cancelled: its fields can no longer change; cancelled is final: nothing can change it any more$/,
    ],
  ])('a %s session', async (state, details) => {
    const id = sid(`not-modifiable-${state}`);
    await closed(id);
    if (state === 'partially_returned')
      expectOk(await returns(id, { return: { returnedCartItems: [{ position: 0, quantity: 1 }] } }));
    if (state === 'cancelled') expectOk(await call('POST', sessionUrl(id, '/cancel')));
    const before = await snapshot(id);
    expect((before.body as Reply['body']).customerSession.state).toBe(state);
    await expectRefused(id, before, await put(id, change), {
      status: 409,
      code: 'SESSION_NOT_MODIFIABLE',
      pointer: '/customerSession/couponCodes',
      details,
    });
    const added = await call('POST', sessionUrl(id, '/cart_items'), {
      body: { cartItems: [item({ sku: 'z' })] },
    });
    await expectRefused(id, before, added, {
      status: 409,
      code: 'SESSION_NOT_MODIFIABLE',
      pointer: '/cartItems',
      details,
    });
    // A 409's message is its details.
    expect(added.body.message).toEqual(expect.stringMatching(details));
  });

  it('the step it names for a closed session works: reopened, the change is taken', async () => {
    const id = sid('not-modifiable-next-step');
    await closed(id);
    expect((await put(id, change)).status).toBe(409);
    expectOk(await call('PUT', sessionUrl(id, '/reopen')));
    expect(expectOk(await put(id, change)).customerSession.couponCodes).toEqual(['LATE']);
  });
});

describe("the cache-buster Talon.One's SDKs add to a GET", () => {
  it('takes ?_=<timestamp> on a GET of a session and ignores it; any other parameter is still refused', async () => {
    const id = sid('cache-buster');
    await create(id, { cartItems: [item()] });
    const plain = await call('GET', sessionUrl(id));
    const busted = await call('GET', `${sessionUrl(id)}?_=${Date.now()}`);
    expect({ status: busted.status, body: busted.body, etag: busted.headers.get('etag') }).toEqual({
      status: 200,
      body: plain.body,
      etag: plain.headers.get('etag'),
    });
    const other = await call('GET', `${sessionUrl(id)}?_=1&cache=false`);
    expect({ status: other.status, source: other.body.errors[0].source }).toEqual({
      status: 400,
      source: { parameter: 'cache' },
    });
    // Only the GET: a command's query takes no cache-buster.
    const command = await call('POST', `${sessionUrl(id)}/cart_items?_=1`, { body: { cartItems: [item()] } });
    expect(command.status).toBe(400);
  });
});

describe('a return record, as Talon.One names its session and profile', () => {
  it('carries sessionId and profileIntegrationId', async () => {
    const id = sid('return-ids');
    const session = (await create(id, { profileId: `p-${id}`, cartItems: [item()] })).customerSession;
    expectOk(await put(id, { customerSession: { state: 'closed' } }));
    const reply = expectOk(
      await returns(id, { return: { returnedCartItems: [{ position: 0, quantity: 1 }] } }),
    );
    expect(reply.return).toMatchObject({ sessionId: session.id, profileIntegrationId: `p-${id}` });
  });
});
