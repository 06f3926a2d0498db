import Decimal from 'decimal.js';
import fc from 'fast-check';
import type {
  CartItemInput,
  PriceInput,
  ReturnedCartItemInput,
  SessionCommand,
  SessionPatch,
} from './commands';
import { decide, mayChangeNothing } from './decide';
import { DomainError } from './errors';
import type { SessionEvent } from './events';
import { evolve, fold } from './evolve';
import type { SessionState } from './state';
import { sessionView, SessionViewMemo, toCustomerSessionV2, totalsOf } from './view';

/**
 * Random command sequences (mostly valid, sometimes not), applied in order and keeping those the
 * decider accepts. Every reachable session must satisfy the invariants below.
 */
const D = Decimal.clone({ precision: 1000 });
const T0 = Date.UTC(2024, 0, 1);
const atStep = (i: number) => new Date(T0 + i * 1000).toISOString();

const price = fc.oneof(
  { arbitrary: fc.integer({ min: 0, max: 100_000 }).map((cents) => cents / 100), weight: 8 },
  { arbitrary: fc.constantFrom(0, 0.1, 0.2, 19.99, 1e-7, 999999.99), weight: 6 },
  { arbitrary: fc.double({ min: 0, max: 1e6, noNaN: true, noDefaultInfinity: true }), weight: 4 },
  { arbitrary: fc.constantFrom(-1, Number.NaN), weight: 1 }, // refused
);
const costs: fc.Arbitrary<Record<string, PriceInput>> = fc.dictionary(
  fc.constantFrom('shipping', 'wrap', 'deposit'),
  price.map((p) => ({ price: p })),
  { maxKeys: 2 },
);
const cartItem: fc.Arbitrary<CartItemInput> = fc.record(
  {
    sku: fc.constantFrom('A', 'B', 'C', 'D'),
    quantity: fc.oneof(
      { arbitrary: fc.integer({ min: 1, max: 6 }), weight: 20 },
      { arbitrary: fc.constant(0), weight: 1 },
    ),
    price,
    additionalCosts: costs,
    name: fc.constantFrom('shoe', 'sock'),
  },
  { requiredKeys: ['sku', 'quantity'] },
);
const patch: fc.Arbitrary<SessionPatch> = fc.record(
  {
    profileId: fc.constantFrom('', 'alice', 'bob', null),
    storeIntegrationId: fc.constantFrom('store-1', 'store-2', null),
    couponCodes: fc.oneof(fc.constant(null), fc.array(fc.constantFrom('SUMMER', 'VIP'), { maxLength: 2 })),
    referralCode: fc.constantFrom('', 'REF', null),
    loyaltyCards: fc.oneof(fc.constant(null), fc.array(fc.constantFrom('card-1'), { maxLength: 1 })),
    identifiers: fc.oneof(fc.constant(null), fc.array(fc.constantFrom('d1', 'd2'), { maxLength: 2 })),
    attributes: fc.oneof(
      fc.constant(null),
      fc.dictionary(fc.constantFrom('a', 'b'), fc.jsonValue({ maxDepth: 2 })),
    ),
    additionalCosts: fc.oneof(fc.constant(null), costs),
    cartItems: fc.oneof(
      fc.constant(null),
      fc.constant<CartItemInput[]>([]),
      fc.array(cartItem, { minLength: 1, maxLength: 4 }),
    ),
    state: fc.constantFrom('open', 'closed', 'cancelled', 'partially_returned', null),
  },
  { requiredKeys: [] },
);
const returned: fc.Arbitrary<ReturnedCartItemInput> = fc.oneof(
  {
    arbitrary: fc.record(
      { position: fc.integer({ min: 0, max: 2 }), quantity: fc.integer({ min: 1, max: 3 }) },
      { requiredKeys: ['position'] },
    ),
    weight: 5,
  },
  {
    arbitrary: fc.record(
      { sku: fc.constantFrom('A', 'B', 'C'), quantity: fc.integer({ min: 1, max: 3 }) },
      { requiredKeys: ['sku'] },
    ),
    weight: 5,
  },
  {
    arbitrary: fc.record({
      position: fc.integer({ min: 0, max: 2 }),
      sku: fc.constantFrom('A', 'D'),
      quantity: fc.integer({ min: 1, max: 2 }),
    }),
    weight: 2,
  },
  { arbitrary: fc.constant({}), weight: 1 }, // refused: names no line
);

type Draft = {
  [K in SessionCommand['type']]: Omit<
    Extract<SessionCommand, { type: K }>,
    'now' | 'commandId' | 'applicationId' | 'integrationId'
  >;
}[SessionCommand['type']];
const command: fc.Arbitrary<Draft> = fc.oneof(
  {
    arbitrary: fc.record({
      type: fc.constant('UpdateSession' as const),
      sessionId: fc.constant(7),
      patch,
      firstSession: fc.boolean(),
    }),
    weight: 4,
  },
  {
    arbitrary: fc.record({
      type: fc.constant('AddCartItems' as const),
      cartItems: fc.array(cartItem, { maxLength: 3 }),
    }),
    weight: 2,
  },
  { arbitrary: fc.constant({ type: 'CloseSession' as const }), weight: 2 },
  { arbitrary: fc.constant({ type: 'CancelSession' as const }), weight: 1 },
  { arbitrary: fc.constant({ type: 'ReopenSession' as const }), weight: 1 },
  {
    arbitrary: fc.record({
      type: fc.constant('ReturnItems' as const),
      returnId: fc.constant(1),
      returnedCartItems: fc.array(returned, { minLength: 1, maxLength: 2 }),
    }),
    weight: 6,
  },
);

interface Run {
  events: SessionEvent[];
  state: SessionState | null;
  accepted: number;
  states: SessionState[];
  retriesAppendedSomething: string[];
  /** The types of the commands accepted with no event (no-ops). */
  unchanged: SessionCommand['type'][];
}

function play(drafts: Draft[]): Run {
  const run: Run = {
    events: [],
    state: null,
    accepted: 0,
    states: [],
    retriesAppendedSomething: [],
    unchanged: [],
  };
  drafts.forEach((draft, i) => {
    const command = {
      ...draft,
      applicationId: 1,
      integrationId: 'prop',
      now: atStep(i),
      commandId: `c${i}`,
      ...(draft.type === 'ReturnItems' ? { returnId: i + 1 } : {}),
    } as SessionCommand;
    let emitted: SessionEvent[];
    try {
      emitted = decide(command, run.state);
    } catch (error) {
      if (error instanceof DomainError) return; // refused: nothing appended
      throw error;
    }
    if (emitted.length === 0) {
      run.unchanged.push(command.type);
      return;
    }
    run.events.push(...emitted);
    run.state = emitted.reduce<SessionState | null>(evolve, run.state);
    run.accepted++;
    run.states.push(run.state!);
    if (command.type === 'UpdateSession') {
      const retry = decide({ ...command, now: atStep(i) + '-retry', commandId: `c${i}-retry` }, run.state);
      if (retry.length > 0) run.retriesAppendedSomething.push(JSON.stringify(command));
    }
  });
  return run;
}

const costSum = (map: Record<string, { price: string }> | undefined) =>
  Object.values(map ?? {}).reduce((sum, cost) => sum.plus(cost.price), new D(0));

function exactTotals(state: SessionState) {
  let items = new D(0);
  let itemCosts = new D(0);
  for (const line of state.cartItems) {
    items = items.plus(new D(line.price ?? 0).times(line.quantity));
    itemCosts = itemCosts.plus(costSum(line.additionalCosts).times(line.quantity));
  }
  return { items, itemCosts, session: costSum(state.additionalCosts) };
}

const validItem: fc.Arbitrary<CartItemInput> = fc.record({
  sku: fc.constantFrom('A', 'B', 'C'),
  quantity: fc.integer({ min: 1, max: 5 }),
  price: fc.integer({ min: 0, max: 100_000 }).map((cents) => cents / 100),
});
/** Two thirds of the sequences start with a valid cart (closed, for half of those), so returns are common. */
const sequences = fc.oneof(
  { arbitrary: fc.array(command, { minLength: 1, maxLength: 25 }), weight: 1 },
  {
    arbitrary: fc
      .tuple(
        fc.array(validItem, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        fc.array(command, { maxLength: 25 }),
      )
      .map(([cartItems, closed, rest]): Draft[] => [
        { type: 'UpdateSession', sessionId: 7, patch: { cartItems, state: closed ? 'closed' : 'open' } },
        ...rest,
      ]),
    weight: 2,
  },
);
const params = { numRuns: 300 };

describe('properties of every reachable session', () => {
  it('folding the same events twice gives deep-equal states, equal to the state built step by step', () => {
    fc.assert(
      fc.property(sequences, (drafts) => {
        const run = play(drafts);
        expect(fold(run.events)).toEqual(run.state);
        expect(fold(JSON.parse(JSON.stringify(run.events)))).toEqual(fold(run.events));
      }),
      params,
    );
  });

  it('total = cartItemTotal + cartItemAdditionalCostTotal + additionalCostTotal, exactly', () => {
    fc.assert(
      fc.property(sequences, (drafts) => {
        for (const state of play(drafts).states) {
          const totals = totalsOf(state);
          const exact = exactTotals(state);
          expect(new D(totals.cartItemTotal).eq(exact.items)).toBe(true);
          expect(new D(totals.cartItemAdditionalCostTotal).eq(exact.itemCosts)).toBe(true);
          expect(new D(totals.additionalCostTotal).eq(exact.session)).toBe(true);
          expect(new D(totals.total).eq(exact.items.plus(exact.itemCosts).plus(exact.session))).toBe(true);
          expect(toCustomerSessionV2(state).total).toBe(new D(totals.total).toNumber());
        }
      }),
      params,
    );
  });

  it('rendering each state in turn with one memo gives exactly what rendering it afresh gives', () => {
    fc.assert(
      fc.property(sequences, (drafts) => {
        const memo = new SessionViewMemo();
        for (const state of play(drafts).states)
          expect(sessionView(state, { memo })).toStrictEqual(sessionView(state));
      }),
      params,
    );
  });

  it('0 ≤ returnedQuantity ≤ quantity on every line, positions are indexes, state is one of the four', () => {
    fc.assert(
      fc.property(sequences, (drafts) => {
        for (const state of play(drafts).states) {
          expect(['open', 'closed', 'cancelled', 'partially_returned']).toContain(state.state);
          expect(state.cartItems.length).toBeLessThanOrEqual(1000);
          state.cartItems.forEach((line, i) => {
            expect(line.position).toBe(i);
            expect(line.returnedQuantity).toBeGreaterThanOrEqual(0);
            expect(line.returnedQuantity).toBeLessThanOrEqual(line.quantity);
          });
          for (const item of toCustomerSessionV2(state).cartItems) {
            expect(item.remainingQuantity).toBe(item.quantity - item.returnedQuantity);
          }
        }
      }),
      params,
    );
  });

  it('updated is the last event’s time, created the first one’s, updateCount the number of accepted requests', () => {
    fc.assert(
      fc.property(sequences, (drafts) => {
        const run = play(drafts);
        if (run.state === null) return;
        expect(run.state.updated).toBe(run.events[run.events.length - 1].data.at);
        expect(run.state.created).toBe(run.events[0].data.at);
        expect(run.state.updateCount).toBe(run.accepted);
      }),
      params,
    );
  });

  it('retrying an accepted UpdateSession appends nothing (PUT retries are safe)', () => {
    fc.assert(
      fc.property(sequences, (drafts) => {
        expect(play(drafts).retriesAppendedSomething).toEqual([]);
      }),
      params,
    );
  });

  it('a command accepted with no event is of a type mayChangeNothing names (no other keyed command gets a record)', () => {
    const seen = new Set<SessionCommand['type']>();
    // Random runs reach both kinds of no-op in most seeds, not all: this example reaches them in every run.
    const create: Draft = {
      type: 'UpdateSession',
      sessionId: 7,
      patch: { cartItems: [{ sku: 'A', quantity: 1, price: 2 }], couponCodes: ['VIP'] },
    };
    const noOps: Draft[] = [
      create,
      { ...create, patch: { couponCodes: ['VIP'] } },
      { type: 'AddCartItems', cartItems: [] },
    ];
    fc.assert(
      fc.property(sequences, (drafts) => {
        const { unchanged } = play(drafts);
        unchanged.forEach((type) => seen.add(type));
        expect(unchanged.filter((type) => !mayChangeNothing(type))).toEqual([]);
      }),
      { ...params, examples: [[noOps]] },
    );
    // The runs did reach no-ops: an UpdateSession that changed nothing, an AddCartItems of no items.
    expect([...seen].sort()).toEqual(['AddCartItems', 'UpdateSession']);
  });

  it('the revenue the events count adds up to what the session still counts', () => {
    fc.assert(
      fc.property(sequences, (drafts) => {
        const run = play(drafts);
        if (run.state === null) return;
        let net = new D(0);
        for (const event of run.events) {
          if (event.type === 'SessionClosed') net = net.plus(event.data.total);
          if (event.type === 'CartItemsReturned') net = net.minus(event.data.returnedValue);
          if (event.type === 'SessionCancelled' || event.type === 'SessionReopened') {
            expect(new D(event.data.reversedRevenue).gte(0)).toBe(true);
            net = net.minus(event.data.reversedRevenue);
          }
        }
        const counts = run.state.state === 'closed' || run.state.state === 'partially_returned';
        const { items, itemCosts, session } = exactTotals(run.state);
        const returnedValue = run.state.cartItems.reduce(
          (sum, line) =>
            sum.plus(new D(line.price ?? 0).plus(costSum(line.additionalCosts)).times(line.returnedQuantity)),
          new D(0),
        );
        const expected = counts ? items.plus(itemCosts).plus(session).minus(returnedValue) : new D(0);
        expect(net.eq(expected)).toBe(true);
      }),
      params,
    );
  });
});

describe('-0 in a command', () => {
  it('is recorded and folded as 0: the state a command leaves equals the state its stored events fold to', () => {
    const events = decide(
      {
        type: 'UpdateSession',
        applicationId: 1,
        integrationId: 'negative-zero',
        sessionId: 7,
        firstSession: false,
        now: '2024-01-01T00:00:00.000Z',
        patch: JSON.parse(
          '{"attributes":{"a":-0,"b":[-0,{"c":-0}]},"cartItems":[{"sku":"s","quantity":1,"price":-0,"weight":-0,"attributes":{"d":-0}}]}',
        ),
      } as SessionCommand,
      null,
    );
    const state = fold(events);
    expect(fold(JSON.parse(JSON.stringify(events)))).toEqual(state);
    expect(Object.is(state!.attributes.a, 0)).toBe(true);
    expect(Object.is(state!.cartItems[0]!.weight, 0)).toBe(true);
  });
});
