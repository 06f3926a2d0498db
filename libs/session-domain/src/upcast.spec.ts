import type { CartItemsAdded, SessionEvent } from './events';
import { fold } from './evolve';
import { addItems, extend, HISTORIES } from './spec-fixtures';
import {
  EventSchemaError,
  EventSchemas,
  EventUpcastError,
  SESSION_EVENT_READ_VERSIONS,
  SESSION_EVENT_SCHEMAS,
  SESSION_EVENT_WRITE_VERSIONS,
  storedSchemaVersion,
  upcast,
  type SchemaStep,
} from './upcast';

describe('upcasting', () => {
  it('reads CartItemsAdded up to schema version 2 and every other event at version 1', () => {
    const { CartItemsAdded, ...others } = SESSION_EVENT_READ_VERSIONS;
    expect(CartItemsAdded).toBe(2);
    expect(new Set(Object.values(others))).toEqual(new Set([1]));
    expect(Object.keys(SESSION_EVENT_READ_VERSIONS)).toHaveLength(15);
  });

  it('writes every event at the version it reads: no new version is being rolled out', () => {
    // During a rollout (docs/operations.md, "Upgrades: new event versions") one release writes a type below
    // its read version; this test then says which, and the next release puts it back.
    expect(SESSION_EVENT_WRITE_VERSIONS).toEqual(SESSION_EVENT_READ_VERSIONS);
    const [created] = HISTORIES.open();
    expect(SESSION_EVENT_SCHEMAS.toWritten(created)).toEqual({ schemaVersion: 1, data: created.data });
    expect(() => SESSION_EVENT_SCHEMAS.toWritten({ type: 'SessionTeleported', data: {} })).toThrow(
      'Unknown session event type "SessionTeleported": it has no schema version',
    );
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
    const v1 = (costs: Record<string, unknown>) => ({
      at: '2026-01-01T00:00:00.000Z',
      commandId: 'c',
      firstPosition: 0,
      cartItems: [
        { sku: 'A', quantity: 1, price: 1e21 },
        { sku: 'B', quantity: 1, price: 0.30000000000000004 },
        { sku: 'C', quantity: 1, price: '19.990', additionalCosts: costs },
      ],
    });
    const event = upcast('CartItemsAdded', 1, v1({ x: { price: 5 } })) as CartItemsAdded;
    expect(event.data.cartItems.map((item) => item.price)).toEqual([
      '1000000000000000000000',
      '0.30000000000000004',
      '19.99',
    ]);
    expect(event.data.cartItems[2].additionalCosts).toEqual({ x: { price: '5' } });
    // Money a v1 writer could not have written — a decimal comma, an exponent that would print as 500 million
    // digits — is left as it is and refused by the shape check, naming the field (never normalised, nor a 500).
    for (const price of ['19,99', '1e500000000'])
      expect(() =>
        upcast('CartItemsAdded', 1, { ...v1({}), cartItems: [{ sku: 'A', quantity: 1, price }] }),
      ).toThrow('does not have the shape of its type: cartItems[0].price is not a decimal string');
    expect(
      (
        upcast('CartItemsAdded', 1, {
          ...v1({}),
          cartItems: [{ sku: 'A', quantity: 1, price: '1.5e2' }],
        }) as CartItemsAdded
      ).data.cartItems[0]!.price,
    ).toBe('150');
    // The upcaster leaves what is no cost alone; the event's shape is then refused, naming it.
    expect(() => upcast('CartItemsAdded', 1, v1({ x: { price: 5 }, y: null }))).toThrow(
      'The data of CartItemsAdded v1 does not have the shape of its type: cartItems[2].additionalCosts["y"] is not an object',
    );
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
    ['a fractional version', 'CartItemsAdded', 1.5, {}, 'Unknown schema version 1.5 of CartItemsAdded'],
    [
      'a version written as a string',
      'SessionClosed',
      '1',
      {},
      'Unknown schema version "1" of SessionClosed',
    ],
    ['a version of null', 'SessionClosed', null, {}, 'Unknown schema version null of SessionClosed'],
    ['data that is not an object', 'CartItemsAdded', 1, [], 'is not an object'],
  ])('refuses %s with a clear error', (_name, type, version, data, message) => {
    expect(() => upcast(type as string, version, data)).toThrow(EventUpcastError);
    expect(() => upcast(type as string, version, data)).toThrow(message as string);
  });

  it.each([
    ['no schemaVersion (written before versions existed)', {}, 1],
    ['schemaVersion 2', { schemaVersion: 2 }, 2],
    ['"2"', { schemaVersion: '2' }, '2'],
    ['2.5', { schemaVersion: 2.5 }, 2.5],
    ['null', { schemaVersion: null }, null],
    ['0', { schemaVersion: 0 }, 0],
  ])(
    'takes the stored version from metadata with %s as %p, for upcast to judge',
    (_name, metadata, taken) => {
      expect(storedSchemaVersion(metadata)).toBe(taken);
    },
  );
});

/**
 * A new version rolled out readers first: type `Paid` was v1 `{amount: number}`, v2 `{amount: string}`, and v3
 * adds `currency`. The release that introduces v3 reads it and still writes v2 (the next one writes v3).
 */
describe('a version read before it is written (EventSchemas)', () => {
  const upcasters: Record<number, SchemaStep> = {
    1: (data) => ({ ...data, amount: String(data.amount) }),
    2: (data) => ({ ...data, currency: 'EUR' }),
  };
  const downcasters: Record<number, SchemaStep> = {
    3: ({ currency: _currency, ...data }) => data,
    2: (data) => ({ ...data, amount: Number(data.amount) }),
  };
  const rollout = new EventSchemas({
    read: { Paid: 3 },
    write: { Paid: 2 },
    upcasters: { Paid: upcasters },
    downcasters: { Paid: downcasters },
  });
  const paid = { type: 'Paid', data: { at: 't', amount: '19.99', currency: 'EUR' } };

  it('reads v1, v2 and v3 to the v3 shape, and refuses v4', () => {
    expect(rollout.upcast('Paid', 1, { at: 't', amount: 19.99 })).toEqual(paid);
    expect(rollout.upcast('Paid', 2, { at: 't', amount: '19.99' })).toEqual(paid);
    expect(rollout.upcast('Paid', 3, paid.data)).toEqual(paid);
    expect(() => rollout.upcast('Paid', 4, paid.data)).toThrow(
      'Unknown schema version 4 of Paid (versions 1..3 are known)',
    );
    expect(rollout.readVersion('Paid')).toBe(3);
  });

  it('writes v2, brought down by the downcaster, and what it writes reads back as the event', () => {
    const written = rollout.toWritten(paid);
    expect(written).toEqual({ schemaVersion: 2, data: { at: 't', amount: '19.99' } });
    expect(rollout.upcast('Paid', written.schemaVersion, written.data)).toEqual(paid);
    expect(rollout.writeVersion('Paid')).toBe(2);
  });

  it('asRead: what a reader folds once the event is written — the event itself when no rollout runs', () => {
    // A rollout whose round trip is not the identity: v2 upper-cases a code a v1 writer kept as sent.
    const lossy = new EventSchemas({
      read: { Coded: 2, Plain: 1 },
      write: { Coded: 1, Plain: 1 },
      upcasters: { Coded: { 1: (data) => ({ ...data, code: String(data.code).toUpperCase() }) } },
      downcasters: { Coded: { 2: (data) => data } },
    });
    const coded = { type: 'Coded', data: { at: 't', code: 'summer-abc' } } as unknown as SessionEvent;
    expect(lossy.asRead(coded)).toEqual({ type: 'Coded', data: { at: 't', code: 'SUMMER-ABC' } });
    const plain = { type: 'Plain', data: { at: 't' } } as unknown as SessionEvent;
    expect(lossy.asRead(plain)).toBe(plain);
    expect(rollout.asRead(paid as unknown as SessionEvent)).toEqual(paid);
  });

  it('reports a step that fails on the data as unreadable, naming the step (an EventUpcastError passes as it is)', () => {
    const failing = new EventSchemas({
      read: { Paid: 2, Refused: 2 },
      write: { Paid: 2, Refused: 2 },
      upcasters: {
        Paid: {
          1: (data) => ({ ...data, amount: (data.amount as { toFixed(n: number): string }).toFixed(2) }),
        },
        Refused: {
          1: () => {
            throw new EventUpcastError('no refund before 2020');
          },
        },
      },
      downcasters: {},
    });
    expect(() => failing.upcast('Paid', 1, { at: 't', amount: 'x' })).toThrow(
      /^Paid v1 cannot be upcast \(step v1 → v2\): .*toFixed is not a function/,
    );
    expect(() => failing.upcast('Refused', 1, { at: 't' })).toThrow(/^no refund before 2020$/);
  });

  it('brings an event down several versions, one step at a time', () => {
    const older = new EventSchemas({
      read: { Paid: 3 },
      write: { Paid: 1 },
      upcasters: { Paid: upcasters },
      downcasters: { Paid: downcasters },
    });
    expect(older.toWritten(paid)).toEqual({ schemaVersion: 1, data: { at: 't', amount: 19.99 } });
  });

  it('writes v3 as it is once the next release raises the write version', () => {
    const next = new EventSchemas({
      read: { Paid: 3 },
      write: { Paid: 3 },
      upcasters: { Paid: upcasters },
      downcasters: {},
    });
    expect(next.toWritten(paid)).toEqual({ schemaVersion: 3, data: paid.data });
  });

  it.each([
    [
      'a write version below the read version without a downcaster',
      { read: { Paid: 3 }, write: { Paid: 2 }, upcasters: { Paid: upcasters }, downcasters: {} },
      'Paid: no downcaster v3 → v2 (it is read at v3 and written at v2)',
    ],
    [
      'a write version above the read version',
      { read: { Paid: 2 }, write: { Paid: 3 }, upcasters: { Paid: upcasters }, downcasters: {} },
      'Paid is written at v3 but read only up to v2',
    ],
    [
      'a missing upcaster',
      { read: { Paid: 3 }, write: { Paid: 3 }, upcasters: { Paid: { 1: upcasters[1]! } }, downcasters: {} },
      'Paid: no upcaster v2 → v3',
    ],
    [
      'a type with a read version and no write version',
      { read: { Paid: 1 }, write: {}, upcasters: {}, downcasters: {} },
      'Paid: read version 1 and write version undefined must both be positive integers',
    ],
  ])('refuses a registry with %s: the build does not start', (_name, registry, problem) => {
    expect(() => new EventSchemas(registry)).toThrow(EventSchemaError);
    expect(() => new EventSchemas(registry)).toThrow(problem);
  });

  it('checks the domain’s own registry the same way when it loads', () => {
    expect(SESSION_EVENT_SCHEMAS).toBeInstanceOf(EventSchemas);
    for (const [type, read] of Object.entries(SESSION_EVENT_READ_VERSIONS)) {
      expect(SESSION_EVENT_SCHEMAS.readVersion(type)).toBe(read);
      expect(SESSION_EVENT_SCHEMAS.writeVersion(type)).toBeLessThanOrEqual(read);
    }
  });
});
