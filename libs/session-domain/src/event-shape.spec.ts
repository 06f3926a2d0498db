import { eventShapeProblem } from './event-shape';
import type { SessionEvent } from './events';
import { SESSION_EVENT_READ_VERSIONS, upcast } from './upcast';
import { addItems, cancel, close, history, reopen, returnItems, update } from './spec-fixtures';

/** A history that holds every session event type the decider emits. */
function everyType(): SessionEvent[] {
  return history(
    update({
      profileId: 'alice',
      storeIntegrationId: 'store-1',
      couponCodes: ['A'],
      cartItems: [
        {
          sku: 'tee',
          quantity: 2,
          price: 19.99,
          name: 'Tee',
          category: 'tops',
          product: { name: 'T' },
          weight: 1.5,
          attributes: { colour: 'red' },
          additionalCosts: { wrap: { price: 1 } },
        },
      ],
      additionalCosts: { shipping: { price: 4.5 } },
      attributes: { channel: 'web' },
    }),
    update(
      {
        profileId: 'bob',
        storeIntegrationId: 'store-2',
        couponCodes: ['B'],
        referralCode: 'R',
        loyaltyCards: ['L'],
        identifiers: ['I'],
        attributes: { channel: 'app' },
        additionalCosts: {},
        cartItems: [{ sku: 'cap', quantity: 3, price: 5 }],
      },
      51,
    ),
    addItems([{ sku: 'sock', quantity: 1, price: 2 }], 52),
    close(53),
    reopen(54),
    close(55),
    returnItems([{ position: 0, quantity: 1 }], 56),
    cancel(57),
  );
}

const data = (event: SessionEvent) => event.data as unknown as Record<string, unknown>;

describe('the shape of each session event type (eventShapeProblem)', () => {
  it('finds nothing wrong with any event the decider emits, of every type', () => {
    const events = everyType();
    expect(new Set(events.map((event) => event.type))).toEqual(
      new Set(Object.keys(SESSION_EVENT_READ_VERSIONS)),
    );
    for (const event of events)
      expect({ type: event.type, problem: eventShapeProblem(event.type, data(event)) }).toEqual({
        type: event.type,
        problem: undefined,
      });
  });

  const of = (type: string) => everyType().find((event) => event.type === type)!;
  const changed = (type: string, change: (data: Record<string, unknown>) => void) => {
    const copy = JSON.parse(JSON.stringify(data(of(type)))) as Record<string, unknown>;
    change(copy);
    return copy;
  };

  it.each([
    [
      'a string where codes are a list',
      'CouponCodesChanged',
      'couponCodes is not an array of strings',
      (d: Record<string, unknown>) => (d.couponCodes = 'abc'),
    ],
    [
      'a close without its total',
      'SessionClosed',
      'total is missing (a decimal string)',
      (d: Record<string, unknown>) => delete d.total,
    ],
    [
      'money as a number',
      'CartItemsReturned',
      'returnedValue is not a decimal string',
      (d: Record<string, unknown>) => (d.returnedValue = 5),
    ],
    [
      'a time that is no time',
      'StoreChanged',
      'at is not a date-time string',
      (d: Record<string, unknown>) => (d.at = 'yesterday'),
    ],
    [
      'no commandId',
      'ReferralCodeChanged',
      'commandId is missing (a string)',
      (d: Record<string, unknown>) => delete d.commandId,
    ],
    [
      'a quantity as a string, deep in the cart',
      'CartItemsReplaced',
      'cartItems[0].quantity is not a whole number ≥ 0',
      (d: Record<string, unknown>) => ((d.cartItems as Record<string, unknown>[])[0]!.quantity = '3'),
    ],
    [
      'an item cost without a price',
      'SessionCreated',
      'cartItems[0].additionalCosts["wrap"].price is missing (a decimal string)',
      (d: Record<string, unknown>) =>
        ((d.cartItems as Record<string, unknown>[])[0]!.additionalCosts = { wrap: {} }),
    ],
    [
      'a counted line without a value',
      'SessionCancelled',
      'reversedItems[0].value is missing (a decimal string)',
      (d: Record<string, unknown>) => delete (d.reversedItems as Record<string, unknown>[])[0]!.value,
    ],
    [
      'an unknown previous state',
      'SessionCancelled',
      'previousState is not a session state',
      (d: Record<string, unknown>) => (d.previousState = 'lost'),
    ],
    [
      'money in exponent notation (the engine writes plain decimals; the size bound counts their places)',
      'CartItemsAdded',
      'cartItems[0].price is not a decimal string',
      (d: Record<string, unknown>) => ((d.cartItems as Record<string, unknown>[])[0]!.price = '5e-324'),
    ],
    [
      'attributes that are a list',
      'AttributesChanged',
      'attributes is not an object',
      (d: Record<string, unknown>) => (d.attributes = []),
    ],
  ])('names %s (%s): %s', (_name, type, problem, change) => {
    expect(eventShapeProblem(type, changed(type, change))).toBe(problem);
  });

  it('makes every reader refuse such an event as unreadable, after upcasting it', () => {
    const closedWithoutTotal = changed('SessionClosed', (d) => delete d.total);
    expect(() => upcast('SessionClosed', 1, closedWithoutTotal)).toThrow(
      'The data of SessionClosed v1 does not have the shape of its type: total is missing (a decimal string)',
    );
  });

  it('allows fields its type does not name (a newer writer may add some)', () => {
    expect(
      eventShapeProblem(
        'SessionClosed',
        changed('SessionClosed', (d) => (d.reason = 'x')),
      ),
    ).toBeUndefined();
  });
});
