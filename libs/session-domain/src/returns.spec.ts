import { DeciderSpecification } from '@session-engine/testing';
import type { SessionCommand } from './commands';
import { decide } from './decide';
import type { CartItemsReturned, SessionEvent } from './events';
import { evolve } from './evolve';
import { close, extend, history, returnItems, update } from './spec-fixtures';
import type { SessionState } from './state';
import { returnsOf } from './view';

const spec = DeciderSpecification.for<SessionCommand, SessionEvent, SessionState | null>({
  decide,
  evolve,
  initialState: () => null,
});

/** A closed cart where sku "TEE" sits on two lines: position 0 (1 unit) and position 2 (5 units). */
const closedCart = () =>
  history(
    update({
      profileId: 'alice',
      cartItems: [
        { sku: 'TEE', quantity: 1, price: 20 },
        { sku: 'CAP', quantity: 2, price: 15, additionalCosts: { embroidery: { price: 2.5 } } },
        { sku: 'TEE', quantity: 5, price: 18 },
      ],
    }),
    close(),
  );

function returned(events: SessionEvent[]): CartItemsReturned['data'] {
  expect(events).toHaveLength(1);
  expect(events[0].type).toBe('CartItemsReturned');
  return (events[0] as CartItemsReturned).data;
}

describe('ReturnItems', () => {
  it('returns units of the line named by position', () => {
    spec
      .given(closedCart())
      .when(returnItems([{ position: 2, quantity: 2 }]))
      .thenEvents((events, _before, after) => {
        expect(returned(events).returnedCartItems).toEqual([
          { position: 2, sku: 'TEE', quantity: 2, value: '36' },
        ]);
        expect(after?.cartItems[2]).toMatchObject({ returnedQuantity: 2 });
      });
  });

  it('values returned units at price plus item-level additional costs', () => {
    spec
      .given(closedCart())
      .when(returnItems([{ position: 1, quantity: 2 }]))
      .thenEvents((events) => {
        expect(returned(events)).toMatchObject({
          returnedCartItems: [{ position: 1, sku: 'CAP', quantity: 2, value: '35' }],
          returnedValue: '35',
        });
      });
  });

  it('names the line by sku alone: the first line with that sku', () => {
    spec
      .given(closedCart())
      .when(returnItems([{ sku: 'TEE', quantity: 1 }]))
      .thenEvents((events) => expect(returned(events).returnedCartItems[0].position).toBe(0));
  });

  it('names by sku the first line whose remaining quantity covers the request', () => {
    spec
      .given(closedCart())
      .when(returnItems([{ sku: 'TEE', quantity: 3 }]))
      .thenEvents((events) =>
        expect(returned(events).returnedCartItems[0]).toMatchObject({ position: 2, quantity: 3 }),
      );
  });

  it('lets position win when both position and sku are given', () => {
    spec
      .given(closedCart())
      .when(returnItems([{ position: 1, sku: 'TEE', quantity: 1 }]))
      .thenEvents((events) =>
        expect(returned(events).returnedCartItems[0]).toMatchObject({ position: 1, sku: 'CAP' }),
      );
  });

  it('returns the whole remaining quantity when quantity is omitted', () => {
    spec
      .given(extend(closedCart(), returnItems([{ position: 2, quantity: 2 }])))
      .when(returnItems([{ position: 2 }]))
      .thenEvents((events, _before, after) => {
        expect(returned(events).returnedCartItems[0].quantity).toBe(3);
        expect(after?.cartItems[2].returnedQuantity).toBe(5);
      });
  });

  it('returns by sku without quantity the first line with units left', () => {
    spec
      .given(extend(closedCart(), returnItems([{ position: 0 }])))
      .when(returnItems([{ sku: 'TEE' }]))
      .thenEvents((events) =>
        expect(returned(events).returnedCartItems[0]).toMatchObject({ position: 2, quantity: 5 }),
      );
  });

  it('refuses to return more than remains on the line (409)', () => {
    spec
      .given(closedCart())
      .when(returnItems([{ position: 1, quantity: 3 }]))
      .thenThrows('RETURN_QUANTITY_EXCEEDED', {
        category: 'conflict',
        pointer: '/returnedCartItems/0/quantity',
      });
  });

  it('refuses a sku return when no line with that sku has enough units left (409)', () => {
    spec
      .given(closedCart())
      .when(returnItems([{ sku: 'TEE', quantity: 6 }]))
      .thenThrows('RETURN_QUANTITY_EXCEEDED');
  });

  it('refuses a return of a line with nothing left when quantity is omitted (409)', () => {
    spec
      .given(extend(closedCart(), returnItems([{ position: 0 }])))
      .when(returnItems([{ position: 0 }]))
      .thenThrows('RETURN_QUANTITY_EXCEEDED', { pointer: '/returnedCartItems/0' });
  });

  it('refuses a sku return without quantity when every line of that sku is fully returned (409)', () => {
    spec
      .given(extend(closedCart(), returnItems([{ position: 0 }, { position: 2 }])))
      .when(returnItems([{ sku: 'TEE' }]))
      .thenThrows('RETURN_QUANTITY_EXCEEDED');
  });

  describe('says why units are not left, as the entry asked for them', () => {
    it('an omitted quantity on a line returned before: none left, not "none requested"', () => {
      spec
        .given(extend(closedCart(), returnItems([{ position: 0 }])))
        .when(returnItems([{ position: 0 }]))
        .thenThrows('RETURN_QUANTITY_EXCEEDED', {
          message:
            'Position 0 has no units left to return: every unit was returned before (an omitted quantity ' +
            'returns every unit left)',
        });
    });

    it('an omitted quantity on a line that earlier entries of the same return take whole', () => {
      spec
        .given(closedCart())
        .when(returnItems([{ position: 1, quantity: 2 }, { position: 1 }]))
        .thenThrows('RETURN_QUANTITY_EXCEEDED', {
          message:
            'Position 1 has no units left to return: earlier entries of this return already take the 2 it ' +
            'had left (an omitted quantity returns every unit left)',
          pointer: '/returnedCartItems/1',
        });
    });

    it('a quantity over what earlier entries of the same return leave of the line', () => {
      spec
        .given(closedCart())
        .when(
          returnItems([
            { position: 2, quantity: 4 },
            { position: 2, quantity: 2 },
          ]),
        )
        .thenThrows('RETURN_QUANTITY_EXCEEDED', {
          message:
            'Position 2 has 1 unit(s) left to return, 2 requested (earlier entries of this return already ' +
            'take 4 of the 5 it had left)',
          pointer: '/returnedCartItems/1/quantity',
        });
    });

    it('a quantity over what the line has, no earlier entry involved: as before', () => {
      spec
        .given(closedCart())
        .when(returnItems([{ position: 1, quantity: 3 }]))
        .thenThrows('RETURN_QUANTITY_EXCEEDED', {
          message: 'Position 1 has 2 unit(s) left to return, 3 requested',
        });
    });

    it('two entries of one sku: the second is told the first took the unit that was left', () => {
      spec
        .given(closedCart())
        .when(
          returnItems([
            { sku: 'CAP', quantity: 1 },
            { sku: 'CAP', quantity: 1 },
            { sku: 'CAP', quantity: 1 },
          ]),
        )
        .thenThrows('RETURN_QUANTITY_EXCEEDED', {
          message:
            'No item with sku "CAP" has 1 unit(s) left to return: earlier entries of this return already ' +
            'take 2 of the 2 left at position 1',
          pointer: '/returnedCartItems/2/quantity',
        });
    });

    it('a sku entry without quantity after entries that took every unit of the sku', () => {
      spec
        .given(closedCart())
        .when(returnItems([{ position: 1 }, { sku: 'CAP' }]))
        .thenThrows('RETURN_QUANTITY_EXCEEDED', {
          message:
            'No item with sku "CAP" has any unit left to return: earlier entries of this return already take ' +
            '2 of the 2 left at position 1 (an omitted quantity returns every unit left)',
          pointer: '/returnedCartItems/1',
        });
    });

    it('a sku entry without quantity when every unit of the sku was returned before', () => {
      spec
        .given(extend(closedCart(), returnItems([{ position: 1 }])))
        .when(returnItems([{ sku: 'CAP' }]))
        .thenThrows('RETURN_QUANTITY_EXCEEDED', {
          message:
            'No item with sku "CAP" has any unit left to return: every unit was returned before (an omitted ' +
            'quantity returns every unit left)',
        });
    });

    it('a sku entry asking more than any one line of it ever had left', () => {
      spec
        .given(closedCart())
        .when(returnItems([{ sku: 'TEE', quantity: 6 }]))
        .thenThrows('RETURN_QUANTITY_EXCEEDED', {
          message: 'No item with sku "TEE" has 6 unit(s) left to return',
        });
    });
  });

  it('refuses an unknown position with CART_ITEM_NOT_FOUND (400)', () => {
    spec
      .given(closedCart())
      .when(returnItems([{ position: 3, quantity: 1 }]))
      .thenThrows('CART_ITEM_NOT_FOUND', { category: 'invalid', pointer: '/returnedCartItems/0/position' });
  });

  it('refuses an unknown sku with CART_ITEM_NOT_FOUND (400)', () => {
    spec
      .given(closedCart())
      .when(returnItems([{ sku: 'SCARF' }]))
      .thenThrows('CART_ITEM_NOT_FOUND', { pointer: '/returnedCartItems/0/sku' });
  });

  it('checks several entries naming the same line cumulatively', () => {
    spec
      .given(closedCart())
      .when(
        returnItems([
          { position: 1, quantity: 1 },
          { sku: 'CAP', quantity: 1 },
          { position: 1, quantity: 1 },
        ]),
      )
      .thenThrows('RETURN_QUANTITY_EXCEEDED', { pointer: '/returnedCartItems/2/quantity' });
  });

  it('accepts several entries naming the same line while they fit, recording each', () => {
    spec
      .given(closedCart())
      .when(returnItems([{ position: 1, quantity: 1 }, { sku: 'CAP' }]))
      .thenEvents((events, _before, after) => {
        expect(returned(events).returnedCartItems.map((line) => [line.position, line.quantity])).toEqual([
          [1, 1],
          [1, 1],
        ]);
        expect(after?.cartItems[1].returnedQuantity).toBe(2);
      });
  });

  it('moves a sku return past a line that earlier entries of the same return used up', () => {
    spec
      .given(closedCart())
      .when(returnItems([{ position: 0 }, { sku: 'TEE', quantity: 1 }]))
      .thenEvents((events) => expect(returned(events).returnedCartItems[1].position).toBe(2));
  });

  it('checks unknown items (400) before the state (409): a bad return on an open session is a 400', () => {
    spec
      .given(history(update({ cartItems: [{ sku: 'A', quantity: 1 }] })))
      .when(returnItems([{ position: 7 }]))
      .thenThrows('CART_ITEM_NOT_FOUND');
  });

  it('keeps every return as a record, oldest first, without changing the totals', () => {
    const events = extend(
      closedCart(),
      returnItems([{ position: 0 }], 3, 71),
      returnItems([{ sku: 'TEE', quantity: 2 }], 4, 72),
    );
    const state = events.reduce<SessionState | null>(evolve, null) as SessionState;
    expect(returnsOf(state)).toEqual([
      {
        id: 71,
        created: state.returns[0].created,
        applicationId: 1,
        sessionId: 1001,
        sessionIntegrationId: 'checkout-42',
        profileIntegrationId: 'alice',
        returnedCartItems: [{ position: 0, sku: 'TEE', quantity: 1 }],
      },
      {
        id: 72,
        created: state.updated,
        applicationId: 1,
        sessionId: 1001,
        sessionIntegrationId: 'checkout-42',
        profileIntegrationId: 'alice',
        returnedCartItems: [{ position: 2, sku: 'TEE', quantity: 2 }],
      },
    ]);
    expect(state.returns[0].created < state.returns[1].created).toBe(true);
  });
});

describe('ReturnItems input (400)', () => {
  it.each([
    ['no entry', [], '/returnedCartItems'],
    ['an entry with neither position nor sku', [{ quantity: 1 }], '/returnedCartItems/0'],
    ['a negative position', [{ position: -1 }], '/returnedCartItems/0/position'],
    ['a fractional position', [{ position: 0.5 }], '/returnedCartItems/0/position'],
    ['a zero quantity', [{ position: 0, quantity: 0 }], '/returnedCartItems/0/quantity'],
    ['a fractional quantity', [{ position: 0, quantity: 1.5 }], '/returnedCartItems/0/quantity'],
    ['a NaN quantity', [{ position: 0, quantity: NaN }], '/returnedCartItems/0/quantity'],
    ['an empty sku', [{ sku: '' }], '/returnedCartItems/0/sku'],
    ['an entry that is not an object', ['0'], '/returnedCartItems/0'],
    [
      'a null quantity (omitted would return the whole line)',
      [{ position: 0, quantity: null }],
      '/returnedCartItems/0/quantity',
    ],
    ['a null position beside a sku', [{ position: null, sku: 'A' }], '/returnedCartItems/0/position'],
    ['a null sku beside a position', [{ position: 0, sku: null }], '/returnedCartItems/0/sku'],
  ])('refuses %s with INVALID_FIELD', (_name, entries, pointer) => {
    spec
      .given(closedCart())
      .when(returnItems(entries as never))
      .thenThrows('INVALID_FIELD', { pointer });
  });

  it.each([
    [
      'position',
      { position: null, sku: 'TEE' },
      'must not be null: give the cart line, or leave position out to name the line by its sku (a return ' +
        'cannot be undone, so null is not read as a field not given)',
    ],
    [
      'sku',
      { position: 0, sku: null },
      'must not be null: give the sku, or leave sku out (a return cannot be undone, so null is not read as a ' +
        'field not given)',
    ],
    [
      'quantity',
      { position: 0, quantity: null },
      'must not be null: give the number of units, or leave quantity out to return every unit left on the ' +
        'line (a return cannot be undone, so null is not read as a field not given)',
    ],
  ])('says why a null %s is refused rather than read as omitted', (field, entry, message) => {
    spec
      .given(closedCart())
      .when(returnItems([entry as never]))
      .thenThrows('INVALID_FIELD', { message, pointer: `/returnedCartItems/0/${field}` });
  });

  it('refuses a list that is not an array', () => {
    spec
      .given(closedCart())
      .when(returnItems({} as never))
      .thenThrows('INVALID_FIELD', { pointer: '/returnedCartItems' });
  });

  it('accepts 1000 entries and refuses 1001 (LIMIT_EXCEEDED)', () => {
    const big = history(update({ cartItems: [{ sku: 'BULK', quantity: 2000 }] }), close());
    spec
      .given(big)
      .when(returnItems(Array.from({ length: 1000 }, () => ({ position: 0, quantity: 1 }))))
      .thenEvents((_events, _before, after) => expect(after?.cartItems[0].returnedQuantity).toBe(1000));
    spec
      .given(big)
      .when(returnItems(Array.from({ length: 1001 }, () => ({ position: 0, quantity: 1 }))))
      .thenThrows('LIMIT_EXCEEDED', { pointer: '/returnedCartItems' });
  });

  it('refuses a return whose event would be too large for the event store (LIMIT_EXCEEDED), not a 413 from it', () => {
    // 1000 entries naming one line whose 1000-character SKU takes 6 bytes a character in JSON (\u0001): ~6 MB.
    const sku = '\u0001'.repeat(1000);
    const heavy = history(update({ cartItems: [{ sku, quantity: 10_000 }] }), close());
    spec
      .given(heavy)
      .when(returnItems(Array.from({ length: 1000 }, () => ({ position: 0, quantity: 1 }))))
      .thenThrows('LIMIT_EXCEEDED', { category: 'invalid' });
    spec
      .given(heavy)
      .when(returnItems(Array.from({ length: 100 }, () => ({ position: 0, quantity: 1 }))))
      .thenEvents((events) => expect(events.map((event) => event.type)).toEqual(['CartItemsReturned']));
  });

  it('treats a return id that is not a safe positive integer as a programming error, not a 400', () => {
    expect(() => decide({ ...returnItems([{ position: 0 }]), returnId: 0 }, evolveAll(closedCart()))).toThrow(
      'ReturnItems.returnId must be a safe integer > 0',
    );
  });
});

function evolveAll(events: SessionEvent[]): SessionState | null {
  return events.reduce<SessionState | null>(evolve, null);
}
