import { close, extend, HISTORIES, history, returnItems, stateOf, update } from './spec-fixtures';
import { returnsOf, sessionView, toCustomerSessionV2, totalsOf, unitValue } from './view';

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
