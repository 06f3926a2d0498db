/**
 * Upcasting: events are stored with the schema version they were written with and brought up to the
 * current shape when read, before `evolve` sees them. Each step is a pure function from version n to
 * n + 1; a stored event climbs every step up to the version written today.
 */
import type { SessionEvent, SessionEventType } from './events';
import { isPlainObject } from './json';
import { moneyFromNumber, normalizeMoney } from './money';

/** The schema version of each event type that the domain writes today. */
export const SESSION_EVENT_SCHEMA_VERSIONS: Readonly<Record<SessionEventType, number>> = Object.freeze({
  SessionCreated: 1,
  ProfileChanged: 1,
  StoreChanged: 1,
  CouponCodesChanged: 1,
  ReferralCodeChanged: 1,
  LoyaltyCardsChanged: 1,
  IdentifiersChanged: 1,
  AttributesChanged: 1,
  AdditionalCostsChanged: 1,
  CartItemsReplaced: 1,
  CartItemsAdded: 2,
  SessionClosed: 1,
  SessionCancelled: 1,
  SessionReopened: 1,
  CartItemsReturned: 1,
});

export class EventUpcastError extends Error {
  override readonly name = 'EventUpcastError';
}

type Upcaster = (data: Record<string, unknown>) => Record<string, unknown>;

/** v1 → v2: money was a JSON number; it becomes the shortest decimal string that reads back as that number. */
function moneyToDecimalString(value: unknown): unknown {
  if (typeof value === 'number') return moneyFromNumber(value);
  if (typeof value === 'string') return normalizeMoney(value);
  return value;
}

function cartItemV1toV2(item: unknown): unknown {
  if (!isPlainObject(item)) return item;
  const upgraded: Record<string, unknown> = { ...item };
  if (item.price !== undefined && item.price !== null) upgraded.price = moneyToDecimalString(item.price);
  if (isPlainObject(item.additionalCosts)) {
    upgraded.additionalCosts = Object.fromEntries(
      Object.entries(item.additionalCosts).map(([name, cost]) => [
        name,
        isPlainObject(cost) ? { ...cost, price: moneyToDecimalString(cost.price) } : cost,
      ]),
    );
  }
  return upgraded;
}

const UPCASTERS: Partial<Record<SessionEventType, Record<number, Upcaster>>> = {
  // CartItemsAdded v1 stored item prices and item-level additional cost prices as JSON numbers.
  CartItemsAdded: {
    1: (data) => ({
      ...data,
      cartItems: Array.isArray(data.cartItems) ? data.cartItems.map(cartItemV1toV2) : data.cartItems,
    }),
  },
};

function isEventType(type: string): type is SessionEventType {
  return Object.hasOwn(SESSION_EVENT_SCHEMA_VERSIONS, type);
}

/** Brings a stored event of any known version to the current shape; throws EventUpcastError otherwise. */
export function upcast(type: string, schemaVersion: number, data: unknown): SessionEvent {
  if (!isEventType(type)) throw new EventUpcastError(`Unknown session event type "${type}"`);
  const current = SESSION_EVENT_SCHEMA_VERSIONS[type];
  if (!Number.isInteger(schemaVersion) || schemaVersion < 1 || schemaVersion > current) {
    throw new EventUpcastError(
      `Unknown schema version ${schemaVersion} of ${type} (versions 1..${current} are known)`,
    );
  }
  if (!isPlainObject(data))
    throw new EventUpcastError(`The data of ${type} v${schemaVersion} is not an object`);
  let upgraded: Record<string, unknown> = data;
  for (let version = schemaVersion; version < current; version++) {
    const step = UPCASTERS[type]?.[version];
    if (step === undefined)
      throw new EventUpcastError(`No upcaster for ${type} v${version} → v${version + 1}`);
    upgraded = step(upgraded);
  }
  return { type, data: upgraded } as unknown as SessionEvent;
}
