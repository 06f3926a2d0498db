import { DeciderSpecification } from '@session-engine/testing';
import type { SessionCommand } from './commands';
import { decide } from './decide';
import type { SessionEvent } from './events';
import { evolve } from './evolve';
import { SESSION_LIMITS } from './limits';
import { addItems, at, close, extend, HISTORIES, history, update, WHEN } from './spec-fixtures';
import type { SessionState } from './state';

const spec = DeciderSpecification.for<SessionCommand, SessionEvent, SessionState | null>({
  decide,
  evolve,
  initialState: () => null,
});
const stamp = { at: at(WHEN), commandId: `cmd-${WHEN}` };

const rich = () =>
  history(
    update({
      profileId: 'alice',
      storeIntegrationId: 'store-1',
      couponCodes: ['A', 'B'],
      referralCode: 'REF-1',
      loyaltyCards: ['card-1'],
      identifiers: ['device-1'],
      attributes: { channel: 'web', nested: { a: 1, b: [1, 2] } },
      additionalCosts: { shipping: { price: 4.95 } },
      cartItems: [{ sku: 'SHOE-1', quantity: 1, price: 49.9 }],
    }),
  );

describe('UpdateSession merge rules', () => {
  it('keeps every stored field when the patch is empty, and appends nothing', () => {
    spec.given(rich()).when(update({})).then([]);
  });

  it('keeps every stored field when every field is null, and appends nothing', () => {
    spec
      .given(rich())
      .when(
        update({
          profileId: null,
          storeIntegrationId: null,
          couponCodes: null,
          referralCode: null,
          loyaltyCards: null,
          identifiers: null,
          attributes: null,
          additionalCosts: null,
          cartItems: null,
          state: null,
          evaluableCampaignIds: null,
        }),
      )
      .then([]);
  });

  it('appends nothing when every field is resent identical, attributes in another key order', () => {
    spec
      .given(rich())
      .when(
        update({
          profileId: 'alice',
          storeIntegrationId: 'store-1',
          couponCodes: ['A', 'B'],
          referralCode: 'REF-1',
          loyaltyCards: ['card-1'],
          identifiers: ['device-1'],
          attributes: { nested: { b: [1, 2], a: 1 }, channel: 'web' },
          additionalCosts: { shipping: { price: 4.95 } },
          cartItems: [{ price: 49.9, quantity: 1, sku: 'SHOE-1' }],
          state: 'open',
        }),
      )
      .then([]);
  });

  it('emits one event per changed field group, in the documented order', () => {
    spec
      .given(rich())
      .when(
        update(
          {
            cartItems: [{ sku: 'HAT', quantity: 2, price: 10.5, additionalCosts: { wrap: { price: 1 } } }],
            additionalCosts: {},
            attributes: { channel: 'app' },
            identifiers: [],
            loyaltyCards: [],
            referralCode: 'REF-2',
            couponCodes: ['C'],
            storeIntegrationId: 'store-2',
            profileId: 'bob',
          },
          WHEN,
          false,
        ),
      )
      .then([
        {
          type: 'ProfileChanged',
          data: { ...stamp, previousProfileId: 'alice', profileId: 'bob', firstSession: false },
        },
        { type: 'StoreChanged', data: { ...stamp, storeIntegrationId: 'store-2' } },
        { type: 'CouponCodesChanged', data: { ...stamp, couponCodes: ['C'] } },
        { type: 'ReferralCodeChanged', data: { ...stamp, referralCode: 'REF-2' } },
        { type: 'LoyaltyCardsChanged', data: { ...stamp, loyaltyCards: [] } },
        { type: 'IdentifiersChanged', data: { ...stamp, identifiers: [] } },
        { type: 'AttributesChanged', data: { ...stamp, attributes: { channel: 'app' } } },
        { type: 'AdditionalCostsChanged', data: { ...stamp, additionalCosts: {} } },
        {
          type: 'CartItemsReplaced',
          data: {
            ...stamp,
            cartItems: [
              { sku: 'HAT', quantity: 2, price: '10.5', additionalCosts: { wrap: { price: '1' } } },
            ],
          },
        },
      ]);
  });

  it('discards the coupons with [] and keeps them with null', () => {
    spec
      .given(rich())
      .when(update({ couponCodes: [] }))
      .then([{ type: 'CouponCodesChanged', data: { ...stamp, couponCodes: [] } }]);
    spec
      .given(rich())
      .when(update({ couponCodes: null }))
      .then([]);
  });

  it('discards the referral code with "" and keeps it with null', () => {
    spec
      .given(rich())
      .when(update({ referralCode: '' }))
      .then([{ type: 'ReferralCodeChanged', data: { ...stamp, referralCode: '' } }]);
    spec
      .given(rich())
      .when(update({ referralCode: null }))
      .then([]);
  });

  it('clears attributes with {} and the cart with []', () => {
    spec
      .given(rich())
      .when(update({ attributes: {}, cartItems: [] }))
      .thenEvents((_events, _before, after) => {
        expect(after?.attributes).toEqual({});
        expect(after?.cartItems).toEqual([]);
      });
  });

  it('replaces the coupon list when the order changes (order is meaningful)', () => {
    spec
      .given(rich())
      .when(update({ couponCodes: ['B', 'A'] }))
      .then([{ type: 'CouponCodesChanged', data: { ...stamp, couponCodes: ['B', 'A'] } }]);
  });

  it('sees a changed array inside attributes as a change', () => {
    spec
      .given(rich())
      .when(update({ attributes: { channel: 'web', nested: { a: 1, b: [2, 1] } } }))
      .thenEvents((events) => expect(events.map((event) => event.type)).toEqual(['AttributesChanged']));
  });

  it('never stores evaluableCampaignIds', () => {
    spec
      .given(rich())
      .when(update({ evaluableCampaignIds: [1, 2] }))
      .then([]);
  });

  it('drops unknown fields of a cart item instead of storing them', () => {
    spec
      .given([])
      .when(update({ cartItems: [{ sku: 'A', quantity: 1, colour: 'red' } as never] }))
      .thenEvents((events) => {
        expect(events[0].type === 'SessionCreated' && events[0].data.cartItems).toEqual([
          { sku: 'A', quantity: 1 },
        ]);
      });
  });

  it('keeps every optional cart item field, with money as decimal strings', () => {
    const item = {
      sku: 'A',
      quantity: 2,
      name: 'Lamp',
      category: 'home',
      price: 0.1,
      product: { name: 'Lamp 2000' },
      weight: 1.5,
      height: 30,
      width: 10,
      length: 10,
      attributes: { colour: 'red' },
      additionalCosts: { assembly: { price: 0.2 } },
    };
    spec
      .given([])
      .when(update({ cartItems: [item] }))
      .thenEvents((events) => {
        expect(events[0].type === 'SessionCreated' && events[0].data.cartItems).toEqual([
          { ...item, price: '0.1', additionalCosts: { assembly: { price: '0.2' } } },
        ]);
      });
  });
});

describe('AddCartItems', () => {
  it('appends the lines at the end of the cart', () => {
    spec
      .given(HISTORIES.open())
      .when(addItems([{ sku: 'HAT', quantity: 1, price: 12 }]))
      .thenEvents((events, _before, after) => {
        expect(events).toEqual([
          {
            type: 'CartItemsAdded',
            data: { ...stamp, firstPosition: 2, cartItems: [{ sku: 'HAT', quantity: 1, price: '12' }] },
          },
        ]);
        expect(after?.cartItems.map((line) => [line.position, line.sku])).toEqual([
          [0, 'SHOE-1'],
          [1, 'SOCK-3'],
          [2, 'HAT'],
        ]);
      });
  });

  it('appends nothing for an empty list', () => {
    spec.given(HISTORIES.open()).when(addItems([])).then([]);
  });

  it('appends nothing for an empty list on a closed session either (nothing would change)', () => {
    spec.given(HISTORIES.closed()).when(addItems([])).then([]);
  });

  it('accepts a cart that reaches exactly 1000 lines', () => {
    const full = extend(
      HISTORIES.open(),
      addItems(Array.from({ length: 997 }, (_, i) => ({ sku: `S${i}`, quantity: 1 }))),
    );
    spec
      .given(full)
      .when(addItems([{ sku: 'LAST', quantity: 1 }]))
      .thenEvents((_events, _before, after) => expect(after?.cartItems).toHaveLength(1000));
  });

  it('refuses to grow a cart beyond 1000 lines (LIMIT_EXCEEDED)', () => {
    const full = extend(
      HISTORIES.open(),
      addItems(Array.from({ length: 998 }, (_, i) => ({ sku: `S${i}`, quantity: 1 }))),
    );
    spec
      .given(full)
      .when(addItems([{ sku: 'ONE-TOO-MANY', quantity: 1 }]))
      .thenThrows('LIMIT_EXCEEDED', { pointer: '/cartItems', category: 'invalid' });
  });
});

describe('what fits in the event store (eventBytes)', () => {
  const longSku = (i: number) => `${String(i).padStart(4, '0')}${'x'.repeat(996)}`;
  const lines = (count: number, from = 0) =>
    Array.from({ length: count }, (_, i) => ({ sku: longSku(from + i), quantity: 1 }));

  it('takes a cart whose close fits, and closes it', () => {
    const given = extend(HISTORIES.open(), addItems(lines(800)));
    spec
      .given(given)
      .when(close())
      .thenEvents((events) => {
        expect(events.map((event) => event.type)).toEqual(['SessionClosed']);
        expect(JSON.stringify(events[0]!.data).length).toBeLessThanOrEqual(SESSION_LIMITS.eventBytes);
      });
  });

  it('refuses to add lines whose SKUs would make the closing event too large (LIMIT_EXCEEDED)', () => {
    const given = extend(HISTORIES.open(), addItems(lines(800)));
    spec
      .given(given)
      .when(addItems(lines(200, 800)))
      .thenThrows('LIMIT_EXCEEDED', { pointer: '/cartItems', category: 'invalid' });
  });

  it('refuses to create or replace a cart that could never be closed', () => {
    spec
      .given([])
      .when(update({ cartItems: lines(1000) }))
      .thenThrows('LIMIT_EXCEEDED', { pointer: '/cartItems' });
    spec
      .given(HISTORIES.open())
      .when(update({ cartItems: lines(1000) }))
      .thenThrows('LIMIT_EXCEEDED', { pointer: '/cartItems' });
  });

  it('refuses a request whose events together are over the limit, whatever the cart', () => {
    // 17 items of 60,000-character attributes: each item is within its limits, the event is not.
    const heavy = Array.from({ length: 17 }, (_, i) => ({
      sku: `H${i}`,
      quantity: 1,
      attributes: { note: 'n'.repeat(60_000) },
    }));
    spec.given(HISTORIES.open()).when(addItems(heavy)).thenThrows('LIMIT_EXCEEDED', { category: 'invalid' });
  });

  it('counts the profile id in the closing event: a profile change alone can push it over (LIMIT_EXCEEDED)', () => {
    // 1,000 lines of 942-character SKUs close within the limit with a short profile id, not with one of 1,000.
    const nearlyFull = Array.from({ length: 1000 }, (_, i) => ({
      sku: `${String(i).padStart(4, '0')}${'y'.repeat(938)}`,
      quantity: 1,
    }));
    const given = extend([], update({ cartItems: nearlyFull, profileId: 'p' }));
    spec
      .given(given)
      .when(update({ profileId: 'p'.repeat(1000) }))
      .thenThrows('LIMIT_EXCEEDED', { pointer: '/cartItems', category: 'invalid' });
    spec
      .given(given)
      .when(update({ profileId: 'q'.repeat(10) }))
      .thenEvents((events) => expect(events.map((event) => event.type)).toEqual(['ProfileChanged']));
  });

  it("counts the prices' decimal places: every line's value and the total carry them all (LIMIT_EXCEEDED)", () => {
    // A price of 5e-324 is written as a 326-character decimal in the closing event, in each line's value.
    const tiny = (skuLength: number) =>
      Array.from({ length: 1000 }, (_, i) => ({
        sku: `${String(i).padStart(4, '0')}${'t'.repeat(skuLength - 4)}`,
        quantity: 1,
        price: 5e-324,
      }));
    spec
      .given([])
      .when(update({ cartItems: tiny(618) }))
      .thenThrows('LIMIT_EXCEEDED', { pointer: '/cartItems' });
    const fits = extend([], update({ cartItems: tiny(617) }));
    spec
      .given(fits)
      .when(close())
      .thenEvents((events) => {
        expect(events.map((event) => event.type)).toEqual(['SessionClosed']);
        const bytes = Buffer.byteLength(JSON.stringify(events[0]!.data));
        expect(bytes).toBeGreaterThan(900_000);
        expect(bytes).toBeLessThanOrEqual(SESSION_LIMITS.eventBytes);
      });
    // Session costs count in the total: a cost of 5e-324 makes it 326 characters long, twice (closing total and
    // cancelled revenue), and that is too much for a cart of plain prices within 648 bytes of the limit.
    const plain = tiny(942).map((line) => ({ ...line, price: 1 }));
    const full = extend([], update({ cartItems: plain }));
    spec
      .given(full)
      .when(update({ additionalCosts: { fee: { price: 5e-324 } } }))
      .thenThrows('LIMIT_EXCEEDED', { pointer: '/cartItems' });
    spec
      .given(full)
      .when(update({ additionalCosts: { fee: { price: 0.01 } } }))
      .thenEvents((events) => expect(events.map((event) => event.type)).toEqual(['AdditionalCostsChanged']));
  });

  it('takes a full cart of long SKUs at computed prices (16 decimal places) and closes it', () => {
    // 10 / 3 is 3.3333333333333335: each value 18 characters, far from the bound's worst case.
    const computed = Array.from({ length: 1000 }, (_, i) => ({
      sku: `${String(i).padStart(4, '0')}${'x'.repeat(873)}`,
      quantity: 1,
      price: 10 / 3,
    }));
    spec
      .given(extend([], update({ cartItems: computed })))
      .when(close())
      .thenEvents((events) => {
        const bytes = Buffer.byteLength(JSON.stringify(events[0]!.data));
        expect(bytes).toBeGreaterThan(900_000);
        expect(bytes).toBeLessThanOrEqual(SESSION_LIMITS.eventBytes);
      });
  });

  it('takes a full cart of short multi-byte SKUs', () => {
    spec
      .given(HISTORIES.open())
      .when(
        addItems(Array.from({ length: 998 }, (_, i) => ({ sku: `SKU-${i}-${'é'.repeat(20)}`, quantity: 1 }))),
      )
      .thenEvents((_events, _before, after) => expect(after?.cartItems).toHaveLength(1000));
  });
});
