/**
 * Domain events: facts in the past tense. Type names are explicit string constants, never derived
 * from class names, and every payload is JSON-native: times are ISO-8601 strings and money is a
 * decimal string (e.g. "19.99"), so nothing rounds on the way through JSON.
 *
 * Every event carries `at` (the time of the command that produced it, never earlier than the event before it in
 * the stream) and `commandId` (which command produced it; `updateCount` counts distinct commands, not events).
 *
 * `SESSION_EVENT_READ_VERSIONS` lists the newest schema version of each type, the shape these types describe;
 * older versions are brought up to date by the upcasters before `evolve` sees them. Events are written at
 * `SESSION_EVENT_WRITE_VERSIONS`, the same except while a new version is rolled out (upcast.ts).
 */
import type { SessionStatus } from './commands';

/** Decimal number as a string, e.g. "60.07". */
export type Decimal = string;

export interface CartItemData {
  sku: string;
  quantity: number;
  name?: string;
  category?: string;
  price?: Decimal;
  product?: { name: string };
  weight?: number;
  height?: number;
  width?: number;
  length?: number;
  attributes?: Record<string, unknown>;
  additionalCosts?: Record<string, { price: Decimal }>;
}

/** A cart line as counted by revenue: its units and their value (price + item costs) × units. */
export interface CountedLine {
  position: number;
  sku: string;
  quantity: number;
  value: Decimal;
}

interface EventBase {
  at: string;
  commandId: string;
}

export interface SessionCreated {
  type: 'SessionCreated';
  data: EventBase & {
    sessionId: number;
    applicationId: number;
    integrationId: string;
    profileId: string;
    storeIntegrationId?: string;
    couponCodes: string[];
    referralCode: string;
    loyaltyCards: string[];
    identifiers: string[];
    attributes: Record<string, unknown>;
    additionalCosts: Record<string, { price: Decimal }>;
    cartItems: CartItemData[];
    firstSession: boolean;
  };
}

export interface ProfileChanged {
  type: 'ProfileChanged';
  data: EventBase & { previousProfileId: string; profileId: string; firstSession: boolean };
}
export interface StoreChanged {
  type: 'StoreChanged';
  data: EventBase & { storeIntegrationId: string };
}
export interface CouponCodesChanged {
  type: 'CouponCodesChanged';
  data: EventBase & { couponCodes: string[] };
}
export interface ReferralCodeChanged {
  type: 'ReferralCodeChanged';
  data: EventBase & { referralCode: string };
}
export interface LoyaltyCardsChanged {
  type: 'LoyaltyCardsChanged';
  data: EventBase & { loyaltyCards: string[] };
}
export interface IdentifiersChanged {
  type: 'IdentifiersChanged';
  data: EventBase & { identifiers: string[] };
}
export interface AttributesChanged {
  type: 'AttributesChanged';
  data: EventBase & { attributes: Record<string, unknown> };
}
export interface AdditionalCostsChanged {
  type: 'AdditionalCostsChanged';
  data: EventBase & { additionalCosts: Record<string, { price: Decimal }> };
}
/** UpdateSession sent a cart: it replaces the whole cart. */
export interface CartItemsReplaced {
  type: 'CartItemsReplaced';
  data: EventBase & { cartItems: CartItemData[] };
}
/** AddCartItems appended lines at the end of the cart, the first one at `firstPosition`. */
export interface CartItemsAdded {
  type: 'CartItemsAdded';
  data: EventBase & { firstPosition: number; cartItems: CartItemData[] };
}
/** The session became closed; `total` and `items` are the revenue it now counts. */
export interface SessionClosed {
  type: 'SessionClosed';
  data: EventBase & { profileId: string; total: Decimal; items: CountedLine[] };
}
/**
 * The session became cancelled. From `closed` or `partially_returned` it takes back what the
 * session still counted (`reversedRevenue` = total − value already returned, `reversedItems` = the
 * units not yet returned); from `open` both are zero/empty.
 */
export interface SessionCancelled {
  type: 'SessionCancelled';
  data: EventBase & {
    previousState: SessionStatus;
    profileId: string;
    reversedRevenue: Decimal;
    reversedItems: CountedLine[];
  };
}
/** A closed session became open again, taking back what it counted (as a cancel would). */
export interface SessionReopened {
  type: 'SessionReopened';
  data: EventBase & { profileId: string; reversedRevenue: Decimal; reversedItems: CountedLine[] };
}
/** Units were returned; the session is now `partially_returned`. */
export interface CartItemsReturned {
  type: 'CartItemsReturned';
  data: EventBase & {
    returnId: number;
    profileId: string;
    previousState: SessionStatus;
    returnedCartItems: CountedLine[];
    returnedValue: Decimal;
  };
}

export type SessionEvent =
  | SessionCreated
  | ProfileChanged
  | StoreChanged
  | CouponCodesChanged
  | ReferralCodeChanged
  | LoyaltyCardsChanged
  | IdentifiersChanged
  | AttributesChanged
  | AdditionalCostsChanged
  | CartItemsReplaced
  | CartItemsAdded
  | SessionClosed
  | SessionCancelled
  | SessionReopened
  | CartItemsReturned;

export type SessionEventType = SessionEvent['type'];

/**
 * The events that edit an open session's content — its store, codes, cards, identifiers, attributes, costs and cart
 * lines: no step of its life cycle, no change of owner. The analytics and the customer profiles count none of them;
 * naming them once lets each projection's `switch` say so where the compiler checks it (`passesBy`,
 * libs/read-models), so that a new event type is decided on by every projection.
 */
export type SessionEditEventType = Extract<
  SessionEventType,
  | 'StoreChanged'
  | 'CouponCodesChanged'
  | 'ReferralCodeChanged'
  | 'LoyaltyCardsChanged'
  | 'IdentifiersChanged'
  | 'AttributesChanged'
  | 'AdditionalCostsChanged'
  | 'CartItemsReplaced'
  | 'CartItemsAdded'
>;
