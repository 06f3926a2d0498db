import type { SessionEvent } from './events';
import { evolve } from './evolve';
import { addItems, close, extend, HISTORIES, history, returnItems, stateOf, update } from './spec-fixtures';
import type { SessionState } from './state';
import { returnsOf, sessionView, SessionViewMemo, toCustomerSessionV2, totalsOf, unitValue } from './view';

describe('toCustomerSessionV2 totals', () => {
  it('computes money exactly: 3 × 19.99 + 0.10 shipping is 60.07', () => {
    const view = toCustomerSessionV2(
      stateOf(
        history(
          update({
            cartItems: [{ sku: 'A', quantity: 3, price: 19.99 }],
            additionalCosts: { shipping: { price: 0.1 } },
          }),
        ),
      ),
    );
    expect(view).toMatchObject({
      cartItemTotal: 59.97,
      additionalCostTotal: 0.1,
      cartItemAdditionalCostTotal: 0,
      total: 60.07,
    });
  });

  it('adds item-level costs × quantity into cartItemAdditionalCostTotal and the total', () => {
    const state = stateOf(
      history(
        update({
          cartItems: [
            {
              sku: 'A',
              quantity: 2,
              price: 0.1,
              additionalCosts: { wrap: { price: 0.2 }, deposit: { price: 0.05 } },
            },
            { sku: 'B', quantity: 1, additionalCosts: { wrap: { price: 0.7 } } },
          ],
          additionalCosts: { shipping: { price: 4.9 }, insurance: { price: 0.3 } },
        }),
      ),
    );
    expect(totalsOf(state)).toEqual({
      cartItemTotal: '0.2',
      cartItemAdditionalCostTotal: '1.2',
      additionalCostTotal: '5.2',
      total: '6.6',
    });
    expect(toCustomerSessionV2(state)).toMatchObject({
      cartItemTotal: 0.2,
      cartItemAdditionalCostTotal: 1.2,
      additionalCostTotal: 5.2,
      total: 6.6,
    });
  });

  it('counts a missing price as 0', () => {
    const state = stateOf(history(update({ cartItems: [{ sku: 'FREE', quantity: 4 }] })));
    expect(toCustomerSessionV2(state).total).toBe(0);
    expect(unitValue(state.cartItems[0])).toBe('0');
  });

  it('keeps arbitrary decimal prices exact (tiny and large ones)', () => {
    const state = stateOf(
      history(
        update({
          cartItems: [
            { sku: 'TINY', quantity: 3, price: 1e-7 },
            { sku: 'BIG', quantity: 10, price: 999999999999999.9 },
            { sku: 'ODD', quantity: 7, price: 0.3 },
          ],
        }),
      ),
    );
    expect(totalsOf(state).cartItemTotal).toBe('10000000000000001.1000003');
  });

  it('does not change totals when items are returned', () => {
    const closed = HISTORIES.closed();
    const returned = extend(closed, returnItems([{ position: 0 }]));
    const before = toCustomerSessionV2(stateOf(closed));
    const after = toCustomerSessionV2(stateOf(returned));
    expect(after.total).toBe(before.total);
    expect(after.total).toBe(114.77);
    expect(after.cartItems[0]).toMatchObject({ quantity: 2, returnedQuantity: 2, remainingQuantity: 0 });
  });
});

describe('sessionView', () => {
  it('given a session, then renders what toCustomerSessionV2 renders, with the exact decimal totals', () => {
    const state = stateOf(
      history(
        update({
          cartItems: [{ sku: 'A', quantity: 3, price: 19.99 }],
          additionalCosts: { shipping: { price: 0.1 } },
        }),
      ),
    );
    const { session, totals } = sessionView(state);
    expect(session).toEqual(toCustomerSessionV2(state));
    expect(totals).toEqual(totalsOf(state));
    expect(totals.total).toBe('60.07');
  });
});

describe('toCustomerSessionV2 shape', () => {
  const full = () =>
    stateOf(
      history(
        update({
          profileId: 'alice',
          storeIntegrationId: 'store-1',
          couponCodes: ['A'],
          referralCode: 'R',
          loyaltyCards: ['L'],
          identifiers: ['I'],
          attributes: { a: 1 },
          additionalCosts: { shipping: { price: 1 } },
          cartItems: [
            {
              additionalCosts: { wrap: { price: 1 } },
              attributes: { colour: 'red' },
              length: 4,
              width: 3,
              height: 2,
              weight: 1,
              product: { name: 'P' },
              category: 'C',
              price: 5,
              quantity: 1,
              sku: 'S',
              name: 'N',
            },
          ],
        }),
        close(),
      ),
    );

  it('lists the session fields in the order of CustomerSessionV2', () => {
    expect(Object.keys(toCustomerSessionV2(full(), { evaluableCampaignIds: [7] }))).toEqual([
      'id',
      'created',
      'integrationId',
      'applicationId',
      'profileId',
      'storeIntegrationId',
      'evaluableCampaignIds',
      'couponCodes',
      'referralCode',
      'loyaltyCards',
      'state',
      'cartItems',
      'additionalCosts',
      'identifiers',
      'attributes',
      'firstSession',
      'total',
      'cartItemTotal',
      'cartItemAdditionalCostTotal',
      'additionalCostTotal',
      'updated',
      'updateCount',
    ]);
  });

  it('lists the cart item fields in the API order, whatever order they were sent in', () => {
    const [item] = toCustomerSessionV2(full()).cartItems;
    expect(Object.keys(item)).toEqual([
      'name',
      'sku',
      'quantity',
      'returnedQuantity',
      'remainingQuantity',
      'price',
      'category',
      'product',
      'weight',
      'height',
      'width',
      'length',
      'position',
      'attributes',
      'additionalCosts',
    ]);
    expect(item).toEqual({
      name: 'N',
      sku: 'S',
      quantity: 1,
      returnedQuantity: 0,
      remainingQuantity: 1,
      price: 5,
      category: 'C',
      product: { name: 'P' },
      weight: 1,
      height: 2,
      width: 3,
      length: 4,
      position: 0,
      attributes: { colour: 'red' },
      additionalCosts: { wrap: { price: 1 } },
    });
  });

  it('omits optional fields that are absent', () => {
    const view = toCustomerSessionV2(stateOf(history(update({ cartItems: [{ sku: 'S', quantity: 1 }] }))));
    expect(view).not.toHaveProperty('storeIntegrationId');
    expect(view).not.toHaveProperty('evaluableCampaignIds');
    expect(view.cartItems[0]).toEqual({
      sku: 'S',
      quantity: 1,
      returnedQuantity: 0,
      remainingQuantity: 1,
      position: 0,
    });
  });

  it('echoes evaluableCampaignIds only when asked to', () => {
    expect(toCustomerSessionV2(full(), { evaluableCampaignIds: [3, 4] }).evaluableCampaignIds).toEqual([
      3, 4,
    ]);
  });

  it('returns money as JSON numbers', () => {
    const view = toCustomerSessionV2(full());
    expect(JSON.parse(JSON.stringify(view))).toMatchObject({
      additionalCosts: { shipping: { price: 1 } },
      total: 7,
    });
  });

  it('lists no return records for a session never returned', () => {
    expect(returnsOf(full())).toEqual([]);
  });
});

const evolveState = (state: SessionState, event: SessionEvent): SessionState => evolve(state, event);

describe('SessionViewMemo', () => {
  // Given a session rendered once with a memo, when an event changes some lines and leaves others, then the
  // next render reuses the views of the lines left alone and renders the changed ones anew.
  it('reuses the view of each line an event left alone, and renders the lines it changed', () => {
    const created = history(
      update({
        cartItems: [
          { sku: 'A', quantity: 2, price: 1.5 },
          { sku: 'B', quantity: 1 },
        ],
      }),
    );
    const memo = new SessionViewMemo();
    const state = stateOf(created);
    const first = sessionView(state, { memo }).session;
    // The states in turn, each evolved from the one before, as a fold over the stream builds them.
    const after = (from: SessionState, events: SessionEvent[]) =>
      events.reduce<SessionState>(evolveState, from);

    const added = extend(created, addItems([{ sku: 'C', quantity: 1, price: 2 }]));
    const addedState = after(state, added.slice(created.length));
    const second = sessionView(addedState, { memo });
    expect(second.session.cartItems[0]).toBe(first.cartItems[0]);
    expect(second.session.cartItems[1]).toBe(first.cartItems[1]);
    expect(second.session.cartItems[2]).toMatchObject({ sku: 'C', position: 2 });
    expect(second.totals.cartItemTotal).toBe('5');

    const returned = extend(added, close(), returnItems([{ position: 0, quantity: 1 }]));
    const third = sessionView(after(addedState, returned.slice(added.length)), { memo }).session;
    expect(third.cartItems[0]).not.toBe(second.session.cartItems[0]);
    expect(third.cartItems[0]).toMatchObject({ sku: 'A', returnedQuantity: 1, remainingQuantity: 1 });
    expect(third).toStrictEqual(toCustomerSessionV2(stateOf(returned)));
  });
});
