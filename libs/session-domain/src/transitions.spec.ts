import { DeciderSpecification } from '@session-engine/testing';
import type { SessionCommand } from './commands';
import { decide } from './decide';
import type { SessionEvent } from './events';
import { evolve } from './evolve';
import {
  addItems,
  APPLICATION_ID,
  createdData,
  at,
  cancel,
  close,
  HISTORIES,
  extend,
  history,
  INTEGRATION_ID,
  reopen,
  returnItems,
  SESSION_ID,
  update,
  WHEN,
} from './spec-fixtures';
import type { SessionState } from './state';

const spec = DeciderSpecification.for<SessionCommand, SessionEvent, SessionState | null>({
  decide,
  evolve,
  initialState: () => null,
});
const stamp = { at: at(WHEN), commandId: `cmd-${WHEN}` };
const ALL_LINES = [
  { position: 0, sku: 'SHOE-1', quantity: 2, value: '99.8' },
  { position: 1, sku: 'SOCK-3', quantity: 3, value: '14.97' },
];
const AFTER_RETURN = [
  { position: 0, sku: 'SHOE-1', quantity: 2, value: '99.8' },
  { position: 1, sku: 'SOCK-3', quantity: 2, value: '9.98' },
];

describe('creation (UpdateSession on a missing session)', () => {
  it('creates an open session when state is omitted', () => {
    spec
      .given([])
      .when(update({ profileId: '' }))
      .then([
        {
          type: 'SessionCreated',
          data: {
            ...stamp,
            ...createdData({
              sessionId: SESSION_ID,
              applicationId: APPLICATION_ID,
              integrationId: INTEGRATION_ID,
            }),
          },
        },
      ]);
  });

  it('creates an open session when state is "open"', () => {
    spec
      .given([])
      .when(update({ state: 'open' }))
      .thenEvents((events, _before, after) => {
        expect(events.map((event) => event.type)).toEqual(['SessionCreated']);
        expect(after?.state).toBe('open');
      });
  });

  it('creates a closed session as SessionCreated then SessionClosed in one decision', () => {
    spec
      .given([])
      .when(update({ state: 'closed', cartItems: [{ sku: 'A', quantity: 3, price: 19.99 }] }))
      .thenEvents((events, _before, after) => {
        expect(events.map((event) => event.type)).toEqual(['SessionCreated', 'SessionClosed']);
        expect(events[1].data).toEqual({
          ...stamp,
          profileId: '',
          total: '59.97',
          items: [{ position: 0, sku: 'A', quantity: 3, value: '59.97' }],
        });
        expect(after).toMatchObject({ state: 'closed', updateCount: 1 });
      });
  });

  it.each(['cancelled', 'partially_returned'] as const)('refuses to create a session %s (400)', (state) => {
    spec
      .given([])
      .when(update({ state }))
      .thenThrows('INVALID_FIELD', { pointer: '/state', category: 'invalid' });
  });

  it('refuses an unknown state value (400)', () => {
    spec
      .given([])
      .when(update({ state: 'archived' as never }))
      .thenThrows('INVALID_FIELD', { pointer: '/state' });
  });
});

describe('allowed transitions (SPEC §2)', () => {
  it('open → closed by CloseSession, counting every line and the total', () => {
    spec
      .given(HISTORIES.open())
      .when(close())
      .then([
        { type: 'SessionClosed', data: { ...stamp, profileId: 'alice', total: '114.77', items: ALL_LINES } },
      ]);
  });

  it('open → closed by UpdateSession state "closed"', () => {
    spec
      .given(HISTORIES.open())
      .when(update({ state: 'closed' }))
      .then([
        { type: 'SessionClosed', data: { ...stamp, profileId: 'alice', total: '114.77', items: ALL_LINES } },
      ]);
  });

  it('open → closed by an update that also changes fields: changes first, the close counts the new cart', () => {
    spec
      .given(HISTORIES.open())
      .when(
        update({
          state: 'closed',
          couponCodes: ['SUMMER'],
          cartItems: [{ sku: 'X', quantity: 1, price: 5 }],
        }),
      )
      .then([
        { type: 'CouponCodesChanged', data: { ...stamp, couponCodes: ['SUMMER'] } },
        { type: 'CartItemsReplaced', data: { ...stamp, cartItems: [{ sku: 'X', quantity: 1, price: '5' }] } },
        {
          type: 'SessionClosed',
          data: {
            ...stamp,
            profileId: 'alice',
            total: '5',
            items: [{ position: 0, sku: 'X', quantity: 1, value: '5' }],
          },
        },
      ]);
  });

  it('open → cancelled by CancelSession, taking back nothing', () => {
    spec
      .given(HISTORIES.open())
      .when(cancel())
      .then([
        {
          type: 'SessionCancelled',
          data: {
            ...stamp,
            previousState: 'open',
            profileId: 'alice',
            reversedRevenue: '0',
            reversedItems: [],
          },
        },
      ]);
  });

  it('open → cancelled by UpdateSession state "cancelled"', () => {
    spec
      .given(HISTORIES.open())
      .when(update({ state: 'cancelled' }))
      .then([
        {
          type: 'SessionCancelled',
          data: {
            ...stamp,
            previousState: 'open',
            profileId: 'alice',
            reversedRevenue: '0',
            reversedItems: [],
          },
        },
      ]);
  });

  it.each([
    ['CancelSession', cancel()],
    ['UpdateSession state "cancelled"', update({ state: 'cancelled' })],
  ])('closed → cancelled by %s, taking back the whole total', (_name, command) => {
    spec
      .given(HISTORIES.closed())
      .when(command)
      .then([
        {
          type: 'SessionCancelled',
          data: {
            ...stamp,
            previousState: 'closed',
            profileId: 'alice',
            reversedRevenue: '114.77',
            reversedItems: ALL_LINES,
          },
        },
      ]);
  });

  it('closed → cancelled by an update that resends identical fields', () => {
    spec
      .given(HISTORIES.closed())
      .when(
        update({
          state: 'cancelled',
          profileId: 'alice',
          cartItems: [
            { sku: 'SHOE-1', quantity: 2, price: 49.9, name: 'Running shoe' },
            { sku: 'SOCK-3', quantity: 3, price: 4.99 },
          ],
        }),
      )
      .thenEvents((events) => expect(events.map((event) => event.type)).toEqual(['SessionCancelled']));
  });

  it('closed → partially_returned by ReturnItems', () => {
    spec
      .given(HISTORIES.closed())
      .when(returnItems([{ position: 0, quantity: 1 }]))
      .then([
        {
          type: 'CartItemsReturned',
          data: {
            ...stamp,
            returnId: 500 + WHEN,
            profileId: 'alice',
            previousState: 'closed',
            returnedCartItems: [{ position: 0, sku: 'SHOE-1', quantity: 1, value: '49.9' }],
            returnedValue: '49.9',
          },
        },
      ]);
  });

  it('closed → open by ReopenSession, taking back what the session counted', () => {
    spec
      .given(HISTORIES.closed())
      .when(reopen())
      .then([
        {
          type: 'SessionReopened',
          data: { ...stamp, profileId: 'alice', reversedRevenue: '114.77', reversedItems: ALL_LINES },
        },
      ]);
  });

  it('a reopened session can be changed and closed again', () => {
    spec
      .given(extend(HISTORIES.closed(), reopen()))
      .when(addItems([{ sku: 'HAT', quantity: 1, price: 10 }]))
      .thenEvents((events, before, after) => {
        expect(before?.state).toBe('open');
        expect(events.map((event) => event.type)).toEqual(['CartItemsAdded']);
        expect(after?.cartItems).toHaveLength(3);
      });
  });

  it('partially_returned → partially_returned by a further return', () => {
    spec
      .given(HISTORIES.partially_returned())
      .when(returnItems([{ position: 1, quantity: 2 }]))
      .thenEvents((events, _before, after) => {
        expect(events).toEqual([
          {
            type: 'CartItemsReturned',
            data: {
              ...stamp,
              returnId: 500 + WHEN,
              profileId: 'alice',
              previousState: 'partially_returned',
              returnedCartItems: [{ position: 1, sku: 'SOCK-3', quantity: 2, value: '9.98' }],
              returnedValue: '9.98',
            },
          },
        ]);
        expect(after?.state).toBe('partially_returned');
        expect(after?.cartItems[1].returnedQuantity).toBe(3);
      });
  });

  it.each([
    ['CancelSession', cancel()],
    ['UpdateSession state "cancelled"', update({ state: 'cancelled' })],
  ])('partially_returned → cancelled by %s, taking back total − value returned', (_name, command) => {
    spec
      .given(HISTORIES.partially_returned())
      .when(command)
      .then([
        {
          type: 'SessionCancelled',
          data: {
            ...stamp,
            previousState: 'partially_returned',
            profileId: 'alice',
            reversedRevenue: '109.78',
            reversedItems: AFTER_RETURN,
          },
        },
      ]);
  });

  it('returning every unit still leaves the session partially_returned and cancelling it takes back nothing of the cart', () => {
    const all = history(
      update({
        cartItems: [{ sku: 'A', quantity: 2, price: 10 }],
        additionalCosts: { shipping: { price: 4.5 } },
      }),
      close(),
      returnItems([{ position: 0 }]),
    );
    spec
      .given(all)
      .when(cancel())
      .thenEvents((events, before) => {
        expect(before?.state).toBe('partially_returned');
        expect(events[0].data).toMatchObject({ reversedRevenue: '4.5', reversedItems: [] });
      });
  });
});

describe('refused transitions (409, nothing appended)', () => {
  const refusals: [string, keyof typeof HISTORIES, SessionCommand][] = [
    ['reopening an open session', 'open', reopen()],
    ['returning items of an open session', 'open', returnItems([{ position: 0 }])],
    ['an update to partially_returned on an open session', 'open', update({ state: 'partially_returned' })],
    ['closing a closed session', 'closed', close()],
    ['an update to open on a closed session (reopen only)', 'closed', update({ state: 'open' })],
    [
      'an update to partially_returned on a closed session (returns only)',
      'closed',
      update({ state: 'partially_returned' }),
    ],
    ['reopening a partially returned session', 'partially_returned', reopen()],
    ['closing a partially returned session', 'partially_returned', close()],
    [
      'an update to closed on a partially returned session',
      'partially_returned',
      update({ state: 'closed' }),
    ],
    ['an update to open on a partially returned session', 'partially_returned', update({ state: 'open' })],
    ['cancelling a cancelled session', 'cancelled', cancel()],
    ['closing a cancelled session', 'cancelled', close()],
    ['reopening a cancelled session', 'cancelled', reopen()],
    ['returning items of a cancelled session', 'cancelled', returnItems([{ position: 0 }])],
    ['an update to open on a cancelled session', 'cancelled', update({ state: 'open' })],
    ['an update to closed on a cancelled session', 'cancelled', update({ state: 'closed' })],
    [
      'an update to partially_returned on a cancelled session',
      'cancelled',
      update({ state: 'partially_returned' }),
    ],
  ];
  it.each(refusals)('refuses %s', (_name, from, command) => {
    spec
      .given(HISTORIES[from]())
      .when(command)
      .thenThrows('ILLEGAL_STATE_TRANSITION', { category: 'conflict' });
  });

  it.each([
    ['open', 'open'],
    ['closed', 'closed'],
    ['partially_returned', 'partially_returned'],
    ['cancelled', 'cancelled'],
  ] as const)(
    'accepts an update to the state a %s session already has and appends nothing',
    (from, state) => {
      spec.given(HISTORIES[from]()).when(update({ state })).then([]);
    },
  );
});

describe('frozen fields of closed, partially returned and cancelled sessions', () => {
  const changes: [string, Parameters<typeof update>[0]][] = [
    ['the cart', { cartItems: [] }],
    ['the coupons', { couponCodes: ['NEW'] }],
    ['the referral code', { referralCode: 'REF' }],
    ['the attributes', { attributes: { gift: true } }],
    ['the profile', { profileId: 'bob' }],
    ['the store', { storeIntegrationId: 'store-9' }],
    ['the identifiers', { identifiers: ['device-1'] }],
    ['the loyalty cards', { loyaltyCards: ['card-1'] }],
    ['the additional costs', { additionalCosts: { shipping: { price: 5 } } }],
  ];
  for (const from of ['closed', 'partially_returned', 'cancelled'] as const) {
    it.each(changes)(`refuses an update of %s on a ${from} session (409)`, (_name, patch) => {
      spec
        .given(HISTORIES[from]())
        .when(update(patch))
        .thenThrows('SESSION_NOT_MODIFIABLE', { category: 'conflict' });
    });

    it(`refuses AddCartItems on a ${from} session (409)`, () => {
      spec
        .given(HISTORIES[from]())
        .when(addItems([{ sku: 'HAT', quantity: 1 }]))
        .thenThrows('SESSION_NOT_MODIFIABLE');
    });

    it(`accepts an update resending identical values on a ${from} session and appends nothing`, () => {
      spec
        .given(HISTORIES[from]())
        .when(
          update({
            profileId: 'alice',
            couponCodes: [],
            referralCode: '',
            attributes: {},
            identifiers: [],
            loyaltyCards: [],
            additionalCosts: {},
            cartItems: [
              { name: 'Running shoe', price: 49.9, quantity: 2, sku: 'SHOE-1' },
              { sku: 'SOCK-3', quantity: 3, price: 4.99 },
            ],
          }),
        )
        .then([]);
    });
  }

  it('refuses an update that changes a field and cancels a closed session: nothing is cancelled', () => {
    spec
      .given(HISTORIES.closed())
      .when(update({ state: 'cancelled', couponCodes: ['LATE'] }))
      .thenThrows('SESSION_NOT_MODIFIABLE', { pointer: '/couponCodes' });
  });
});

describe('what the refusal of a field change says to do next', () => {
  // The 409 SESSION_NOT_MODIFIABLE names the state and what the session still takes (SPEC §2).
  it.each([
    [
      'closed',
      'The session is closed: its fields can no longer change; to change them, reopen it first ' +
        '(PUT /v2/customer_sessions/{customerSessionId}/reopen), then send the change again',
    ],
    [
      'partially_returned',
      'The session is partially_returned: its fields can no longer change; only returns (POST …/returns) and ' +
        'a cancel (POST …/cancel, or an update with state "cancelled") are possible; a session with returns ' +
        'cannot be reopened',
    ],
    [
      'cancelled',
      'The session is cancelled: its fields can no longer change; cancelled is final: nothing can change it ' +
        'any more',
    ],
  ] as const)('a %s session: %s', (from, message) => {
    spec
      .given(HISTORIES[from]())
      .when(update({ couponCodes: ['NEW'] }))
      .thenThrows('SESSION_NOT_MODIFIABLE', {
        message,
        pointer: '/couponCodes',
      });
    spec
      .given(HISTORIES[from]())
      .when(addItems([{ sku: 'HAT', quantity: 1 }]))
      .thenThrows('SESSION_NOT_MODIFIABLE', { message, pointer: '/cartItems' });
  });

  it('says what the domain does: a closed session reopens and then changes, a partially returned one does not reopen', () => {
    spec
      .given(HISTORIES.closed())
      .when(reopen())
      .thenEvents((events) => expect(events).toHaveLength(1));
    spec.given(HISTORIES.partially_returned()).when(reopen()).thenThrows('ILLEGAL_STATE_TRANSITION');
    spec
      .given(HISTORIES.partially_returned())
      .when(returnItems([{ position: 0, quantity: 1 }]))
      .thenEvents((events) => expect(events.map((event) => event.type)).toEqual(['CartItemsReturned']));
    spec
      .given(HISTORIES.partially_returned())
      .when(update({ state: 'cancelled' }))
      .thenEvents((events) => expect(events.map((event) => event.type)).toEqual(['SessionCancelled']));
    spec
      .given(HISTORIES.partially_returned())
      .when(cancel())
      .thenEvents((events) => expect(events).toHaveLength(1));
    for (const command of [close(), cancel(), reopen(), returnItems([{ position: 0, quantity: 1 }])])
      spec.given(HISTORIES.cancelled()).when(command).thenThrows('ILLEGAL_STATE_TRANSITION');
  });
});

describe('commands on a missing session', () => {
  it.each([
    ['AddCartItems', addItems([{ sku: 'A', quantity: 1 }])],
    ['CloseSession', close()],
    ['CancelSession', cancel()],
    ['ReturnItems', returnItems([{ position: 0 }])],
    ['ReopenSession', reopen()],
  ])('refuses %s with SESSION_NOT_FOUND (404)', (_name, command) => {
    spec.given([]).when(command).thenThrows('SESSION_NOT_FOUND', { category: 'not_found' });
  });

  it("names the missing session JSON-quoted, with no pointer: the session is the URL's, not the body's", () => {
    spec
      .given([])
      .when({ ...close(), integrationId: 'two words\nand a line' })
      .thenThrows('SESSION_NOT_FOUND', {
        message: 'No customer session "two words\\nand a line"',
        pointer: undefined,
      });
  });

  it('checks the input before existence: a bad AddCartItems on a missing session is a 400', () => {
    spec
      .given([])
      .when(addItems([{ sku: 'A', quantity: 0 }]))
      .thenThrows('INVALID_FIELD', { pointer: '/cartItems/0/quantity' });
  });
});
