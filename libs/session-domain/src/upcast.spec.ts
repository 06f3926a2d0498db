import type { CartItemsAdded } from './events';
import { fold } from './evolve';
import { addItems, extend, HISTORIES } from './spec-fixtures';
import { EventUpcastError, SESSION_EVENT_SCHEMA_VERSIONS, upcast } from './upcast';

describe('upcasting', () => {
  it('writes CartItemsAdded at schema version 2 and every other event at version 1', () => {
    const { CartItemsAdded, ...others } = SESSION_EVENT_SCHEMA_VERSIONS;
    expect(CartItemsAdded).toBe(2);
    expect(new Set(Object.values(others))).toEqual(new Set([1]));
    expect(Object.keys(SESSION_EVENT_SCHEMA_VERSIONS)).toHaveLength(15);
  });

  it('reads a v1 CartItemsAdded (money as numbers) to the same state as its v2 form', () => {
    const v2History = extend(
      HISTORIES.open(),
      addItems([
        { sku: 'A', quantity: 3, price: 19.99, additionalCosts: { wrap: { price: 0.1 } } },
        { sku: 'B', quantity: 1, price: 1e-7 },
        { sku: 'C', quantity: 1 },
      ]),
    );
    const v2 = v2History[v2History.length - 1] as CartItemsAdded;
    const v1Data = {
      ...v2.data,
      cartItems: [
        { sku: 'A', quantity: 3, price: 19.99, additionalCosts: { wrap: { price: 0.1 } } },
        { sku: 'B', quantity: 1, price: 1e-7 },
        { sku: 'C', quantity: 1 },
      ],
    };
    const upcast1 = upcast('CartItemsAdded', 1, JSON.parse(JSON.stringify(v1Data)));
    expect(upcast1).toEqual(v2);
    expect(fold([...v2History.slice(0, -1), upcast1])).toEqual(fold(v2History));
  });

  it('converts each v1 number to its shortest exact decimal string', () => {
    const event = upcast('CartItemsAdded', 1, {
      at: 't',
      commandId: 'c',
      firstPosition: 0,
      cartItems: [
        { sku: 'A', quantity: 1, price: 1e21 },
        { sku: 'B', quantity: 1, price: 0.30000000000000004 },
        { sku: 'C', quantity: 1, price: '19.990', additionalCosts: { x: { price: 5 }, y: null } },
      ],
    }) as CartItemsAdded;
    expect(event.data.cartItems.map((item) => item.price)).toEqual([
      '1000000000000000000000',
      '0.30000000000000004',
      '19.99',
    ]);
    expect(event.data.cartItems[2].additionalCosts).toEqual({ x: { price: '5' }, y: null });
  });

  it('passes an event already at the current version through unchanged', () => {
    const [created] = HISTORIES.open();
    expect(upcast('SessionCreated', 1, created.data)).toEqual(created);
  });

  it.each([
    ['an unknown type', 'SessionExploded', 1, {}, 'Unknown session event type "SessionExploded"'],
    ['an inherited property name as type', 'constructor', 1, {}, 'Unknown session event type'],
    ['version 0', 'SessionClosed', 0, {}, 'Unknown schema version 0 of SessionClosed'],
    ['a version from the future', 'CartItemsAdded', 3, {}, 'Unknown schema version 3 of CartItemsAdded'],
    ['a fractional version', 'CartItemsAdded', 1.5, {}, 'Unknown schema version'],
    ['data that is not an object', 'CartItemsAdded', 1, [], 'is not an object'],
  ])('refuses %s with a clear error', (_name, type, version, data, message) => {
    expect(() => upcast(type as string, version as number, data)).toThrow(EventUpcastError);
    expect(() => upcast(type as string, version as number, data)).toThrow(message as string);
  });
});
