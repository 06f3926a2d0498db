/**
 * The read side of the decider: exact totals, line values, and the `CustomerSessionV2` view.
 */
import type { CartItemData, CountedLine, Decimal } from './events';
import { addMoney, moneyToNumber, multiplyMoney, subtractMoney, sumMoney, ZERO } from './money';
import type { CartItemView, CartLine, CustomerSessionV2, ReturnRecord, SessionState } from './state';

export interface SessionTotals {
  cartItemTotal: Decimal;
  cartItemAdditionalCostTotal: Decimal;
  additionalCostTotal: Decimal;
  total: Decimal;
}

function costsTotal(costs: Record<string, { price: Decimal }> | undefined): Decimal {
  return costs === undefined ? ZERO : sumMoney(Object.values(costs).map((cost) => cost.price));
}

/** Value of one unit of a line: its price plus its item-level additional costs. */
export function unitValue(item: CartItemData): Decimal {
  return addMoney(item.price ?? ZERO, costsTotal(item.additionalCosts));
}

type CartTotals = Pick<SessionTotals, 'cartItemTotal' | 'cartItemAdditionalCostTotal'>;

/**
 * What rendering one session after each of many events can reuse: `evolve` keeps every line object, and the
 * cart array itself, that an event does not touch, so a line's view is built once per line object and the cart's
 * sums once per cart array. Without it, each render costs O(lines): the replay CLI's `history` of 19,000 events
 * on a 1,000-line cart spent over two minutes re-rendering unchanged lines. The API and the projector render a
 * state once or keep no earlier one, and pass none (a memo would hold views that are never asked for again).
 * The views it hands out are shared between renders: callers must not mutate them.
 */
export class SessionViewMemo {
  readonly lines = new WeakMap<CartLine, CartItemView>();
  readonly carts = new WeakMap<readonly CartLine[], CartTotals>();
}

function cartTotals(cartItems: readonly CartLine[]): CartTotals {
  return {
    cartItemTotal: sumMoney(cartItems.map((line) => multiplyMoney(line.price ?? ZERO, line.quantity))),
    cartItemAdditionalCostTotal: sumMoney(
      cartItems.map((line) => multiplyMoney(costsTotal(line.additionalCosts), line.quantity)),
    ),
  };
}

/** Exact totals of a session, as decimal strings. Returns do not change them. */
export function totalsOf(
  state: Pick<SessionState, 'cartItems' | 'additionalCosts'>,
  memo?: SessionViewMemo,
): SessionTotals {
  let cart = memo?.carts.get(state.cartItems);
  if (cart === undefined) {
    cart = cartTotals(state.cartItems);
    memo?.carts.set(state.cartItems, cart);
  }
  const { cartItemTotal, cartItemAdditionalCostTotal } = cart;
  const additionalCostTotal = costsTotal(state.additionalCosts);
  return {
    cartItemTotal,
    cartItemAdditionalCostTotal,
    additionalCostTotal,
    total: addMoney(cartItemTotal, cartItemAdditionalCostTotal, additionalCostTotal),
  };
}

export function remainingQuantity(line: CartLine): number {
  return line.quantity - line.returnedQuantity;
}

/** The units not yet returned, per line (lines with nothing left are skipped), with their value. */
export function remainingLines(state: SessionState): CountedLine[] {
  return state.cartItems
    .filter((line) => remainingQuantity(line) > 0)
    .map((line) => countedLine(line, remainingQuantity(line)));
}

export function countedLine(line: CartLine, quantity: number): CountedLine {
  return {
    position: line.position,
    sku: line.sku,
    quantity,
    value: multiplyMoney(unitValue(line), quantity),
  };
}

/** Value of every unit returned so far. */
export function returnedValueOf(state: SessionState): Decimal {
  return sumMoney(state.cartItems.map((line) => multiplyMoney(unitValue(line), line.returnedQuantity)));
}

/** What a closed or partially returned session still counts as revenue: total − value returned. */
export function countedRevenueOf(state: SessionState): Decimal {
  return subtractMoney(totalsOf(state).total, returnedValueOf(state));
}

function costsView(costs: Record<string, { price: Decimal }>): Record<string, { price: number }> {
  return Object.fromEntries(
    Object.entries(costs).map(([name, cost]) => [name, { price: moneyToNumber(cost.price) }]),
  );
}

function cartItemView(line: CartLine): CartItemView {
  // Field order is the API's JSON order.
  const view: Partial<CartItemView> = {};
  if (line.name !== undefined) view.name = line.name;
  view.sku = line.sku;
  view.quantity = line.quantity;
  view.returnedQuantity = line.returnedQuantity;
  view.remainingQuantity = remainingQuantity(line);
  if (line.price !== undefined) view.price = moneyToNumber(line.price);
  if (line.category !== undefined) view.category = line.category;
  if (line.product !== undefined) view.product = { name: line.product.name };
  if (line.weight !== undefined) view.weight = line.weight;
  if (line.height !== undefined) view.height = line.height;
  if (line.width !== undefined) view.width = line.width;
  if (line.length !== undefined) view.length = line.length;
  view.position = line.position;
  if (line.attributes !== undefined) view.attributes = line.attributes;
  if (line.additionalCosts !== undefined) view.additionalCosts = costsView(line.additionalCosts);
  return view as CartItemView;
}

export interface ViewOptions {
  /** Echoed only in dry-run answers; never stored. */
  evaluableCampaignIds?: number[];
  /** Reuse the views and sums of lines an earlier render of the same session already built (see the class). */
  memo?: SessionViewMemo;
}

function memoizedLineView(memo: SessionViewMemo): (line: CartLine) => CartItemView {
  return (line) => {
    let view = memo.lines.get(line);
    if (view === undefined) memo.lines.set(line, (view = cartItemView(line)));
    return view;
  };
}

/** The session as every endpoint returns it, with the exact field order of `CustomerSessionV2`. */
export function toCustomerSessionV2(state: SessionState, options: ViewOptions = {}): CustomerSessionV2 {
  return sessionView(state, options).session;
}

/** `toCustomerSessionV2` and the exact totals it was rendered from (for callers that need both). */
export function sessionView(
  state: SessionState,
  options: ViewOptions = {},
): { session: CustomerSessionV2; totals: SessionTotals } {
  const { memo } = options;
  const totals = totalsOf(state, memo);
  const view: Partial<CustomerSessionV2> = {
    id: state.id,
    created: state.created,
    integrationId: state.integrationId,
    applicationId: state.applicationId,
    profileId: state.profileId,
  };
  if (state.storeIntegrationId !== undefined) view.storeIntegrationId = state.storeIntegrationId;
  if (options.evaluableCampaignIds !== undefined)
    view.evaluableCampaignIds = [...options.evaluableCampaignIds];
  Object.assign(view, {
    couponCodes: [...state.couponCodes],
    referralCode: state.referralCode,
    loyaltyCards: [...state.loyaltyCards],
    state: state.state,
    cartItems: state.cartItems.map(memo ? memoizedLineView(memo) : cartItemView),
    additionalCosts: costsView(state.additionalCosts),
    identifiers: [...state.identifiers],
    attributes: state.attributes,
    firstSession: state.firstSession,
    total: moneyToNumber(totals.total),
    cartItemTotal: moneyToNumber(totals.cartItemTotal),
    cartItemAdditionalCostTotal: moneyToNumber(totals.cartItemAdditionalCostTotal),
    additionalCostTotal: moneyToNumber(totals.additionalCostTotal),
    updated: state.updated,
    updateCount: state.updateCount,
  });
  return { session: view as CustomerSessionV2, totals };
}

/** The session's return records, oldest first (the API answers the last as `return`, the others as `previousReturns`). */
export function returnsOf(state: SessionState): ReturnRecord[] {
  return [...state.returns];
}
