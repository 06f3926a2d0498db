/**
 * A session whose stream holds an event this version cannot read (a type it does not know, as a newer
 * version would write, or data changed by hand): every request on it is a 500 with the stable code
 * UNREADABLE_EVENT and details that say so — not a bare INTERNAL_ERROR — and nothing is appended.
 */
import { binaryEvent, EventStoreDBClient, jsonEvent } from '@eventstore/db-client';
import { ApiHarness, client, sessionUrl, type LogLine } from './support/harness';

jest.setTimeout(60_000);

let harness: ApiHarness;
let call: ReturnType<typeof client>;
const log: LogLine[] = [];

beforeAll(async () => {
  harness = await ApiHarness.start({ log });
  call = client(harness);
});

afterAll(async () => {
  await harness?.dispose();
});

it('answers GET and commands 500 UNREADABLE_EVENT naming the event, and appends nothing', async () => {
  const id = `unreadable-${Date.now()}`;
  const created = await call('PUT', sessionUrl(id), { body: { customerSession: {} } });
  expect(created.status).toBe(200);
  await harness.store.appendToStream(
    `session-1-${id}`,
    [{ type: 'SessionTeleported', data: { at: new Date().toISOString() }, metadata: { schemaVersion: 1 } }],
    0n,
  );
  // A fresh process: nothing of the session is cached.
  await harness.restart();

  const requests: [string, string, unknown?][] = [
    ['GET', sessionUrl(id)],
    ['PUT', sessionUrl(id), { customerSession: { referralCode: 'R' } }],
    ['POST', sessionUrl(id, '/close')],
  ];
  for (const [method, url, body] of requests) {
    const reply = await call(method, url, body === undefined ? {} : { body });
    expect({ request: `${method} ${url}`, status: reply.status, body: reply.body }).toEqual({
      request: `${method} ${url}`,
      status: 500,
      body: {
        message: expect.stringContaining('Unknown session event type "SessionTeleported"'),
        errors: [
          {
            title: 'UNREADABLE_EVENT',
            details: expect.stringContaining('The session was not changed'),
            source: {},
          },
        ],
        StatusCode: 500,
      },
    });
  }
  expect(await harness.streamLength(`session-1-${id}`)).toBe(2);
});

it('answers 500 UNREADABLE_EVENT for a schemaVersion that is not a positive integer, not reading it as version 1', async () => {
  const id = `unreadable-version-${Date.now()}`;
  const created = await call('PUT', sessionUrl(id), { body: { customerSession: {} } });
  expect(created.status).toBe(200);
  // What a hand edit or a foreign writer may leave: "1" is not 1 (nor is 2.5, null or 0).
  await harness.store.appendToStream(
    `session-1-${id}`,
    [
      {
        type: 'ReferralCodeChanged',
        data: { at: new Date().toISOString(), commandId: 'hand-edit', referralCode: 'R' },
        metadata: { schemaVersion: '1' },
      },
    ],
    0n,
  );
  const reply = await call('GET', sessionUrl(id));
  expect(reply).toMatchObject({
    status: 500,
    body: {
      message: expect.stringContaining('Unknown schema version "1" of ReferralCodeChanged'),
      errors: [{ title: 'UNREADABLE_EVENT' }],
    },
  });
});

it('answers 500 UNREADABLE_EVENT for an event of a known type and version whose data does not fit it, and logs its stack with the request id', async () => {
  const id = `unfoldable-${Date.now()}`;
  const created = await call('PUT', sessionUrl(id), { body: { customerSession: {} } });
  expect(created.status).toBe(200);
  // A hand edit or another tool: CartItemsAdded v1 without its items.
  await harness.store.appendToStream(
    `session-1-${id}`,
    [
      {
        type: 'CartItemsAdded',
        data: { at: new Date().toISOString(), commandId: 'hand-edit' },
        metadata: { schemaVersion: 1 },
      },
    ],
    0n,
  );
  await harness.restart();
  const requestId = `unfoldable-request-${Date.now()}`;
  for (const [method, path] of [
    ['GET', sessionUrl(id)],
    ['POST', sessionUrl(id, '/close')],
  ] as const) {
    const reply = await call(method, path, { headers: { 'x-request-id': requestId } });
    expect({ request: `${method} ${path}`, status: reply.status, body: reply.body }).toMatchObject({
      status: 500,
      body: {
        message: expect.stringContaining(
          'The data of CartItemsAdded v1 does not have the shape of its type: firstPosition is missing',
        ),
        errors: [
          { title: 'UNREADABLE_EVENT', details: expect.stringContaining('The session was not changed') },
        ],
      },
    });
  }
  expect(await harness.streamLength(`session-1-${id}`)).toBe(2);
  // The stack's line names the request, whose own line (route, status) follows.
  const errors = log.filter((line) => line.msg === 'unexpected error while handling a request');
  expect(errors.filter((line) => line.requestId === requestId)).toEqual([
    expect.objectContaining({ method: 'GET', err: expect.objectContaining({ type: 'EventUpcastError' }) }),
    expect.objectContaining({ method: 'POST' }),
  ]);
  expect(log.filter((line) => line.msg === 'request' && line.requestId === requestId)).toEqual([
    expect.objectContaining({ route: '/v2/customer_sessions/:id', status: 500, code: 'UNREADABLE_EVENT' }),
    expect.objectContaining({ route: '/v2/customer_sessions/:id/close', status: 500 }),
  ]);
});

it.each([
  [
    'a binary event (content type not JSON)',
    () => binaryEvent({ type: 'CouponCodesChanged', data: Buffer.from('{bad json') }),
    'its content type is not application/json',
  ],
  [
    'an event whose metadata is not JSON',
    () =>
      binaryEvent({
        type: 'CouponCodesChanged',
        data: Buffer.from(
          JSON.stringify({ at: new Date().toISOString(), commandId: 'x', couponCodes: ['Z'] }),
        ),
        metadata: Buffer.from('{"schemaVersion": 9'),
      }),
    'its content type is not application/json',
  ],
  [
    'a JSON event whose metadata does not parse',
    () => ({
      ...jsonEvent({
        type: 'CouponCodesChanged',
        data: { at: new Date().toISOString(), commandId: 'x', couponCodes: ['Z'] },
      }),
      // A plain Uint8Array is sent as is (the client JSON-encodes anything else, a Buffer too).
      metadata: new Uint8Array(Buffer.from('{bad meta')),
    }),
    'its metadata is not a JSON object',
  ],
  [
    'a JSON event whose data is an array',
    () => jsonEvent({ type: 'CouponCodesChanged', data: ['Z'] as never }),
    'its data is not a JSON object',
  ],
])(
  'answers 500 UNREADABLE_EVENT for %s in a session stream, never reading the session without it',
  async (_name, event, reason) => {
    const id = `foreign-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
    const created = await call('PUT', sessionUrl(id), { body: { customerSession: {} } });
    expect(created.status).toBe(200);
    const raw = EventStoreDBClient.connectionString(harness.connectionString);
    try {
      await raw.appendToStream(`session-1-${id}`, [event()]);
    } finally {
      await raw.dispose();
    }
    // The cached session, then a cold read: both refuse (skipped, the event left the session at revision 0, its
    // ETag "0" against a stream at 1, and every command a conflict).
    for (const fresh of [false, true]) {
      if (fresh) await harness.restart();
      for (const [method, path] of [
        ['GET', sessionUrl(id)],
        ['PUT', sessionUrl(id)],
      ] as const) {
        const reply = await call(
          method,
          path,
          method === 'PUT' ? { body: { customerSession: { referralCode: 'R' } } } : {},
        );
        expect({ fresh, method, status: reply.status, body: reply.body }).toMatchObject({
          fresh,
          method,
          status: 500,
          body: { message: expect.stringContaining(reason), errors: [{ title: 'UNREADABLE_EVENT' }] },
        });
      }
    }
    expect(await harness.streamLength(`session-1-${id}`)).toBe(2);
  },
);
