/**
 * Whether a session event's data has the shape of its type (events.ts), checked once it is upcast to the newest
 * version, before anyone folds or projects it. The engine writes nothing else; what fails here was written by
 * another tool, changed by hand, or left by an upcaster that forgot a field. Without this check such an event
 * got three answers — a TypeError deep in the API (500 INTERNAL_ERROR), a string spread into letters by the
 * replay CLI, a projector batch failing as `other` — or, worse, was folded: a `SessionClosed` without `total`
 * counted as 0 revenue. Every reader now refuses it as unreadable, naming the field.
 *
 * Only what evolve, the view and the projections rely on is checked: each field's JSON type, money as a decimal
 * string, counts as whole numbers. Fields the type does not name are allowed (a newer writer may add some).
 */
import type { SessionEventType } from './events';

type Check = (value: unknown) => boolean;
interface Field {
  check: Check;
  /** What the field must be, for the message. */
  what: string;
  optional?: boolean;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const text: Field = { check: (v) => typeof v === 'string', what: 'a string' };
const optionalText: Field = { ...text, optional: true };
const flag: Field = { check: (v) => typeof v === 'boolean', what: 'true or false' };
const count: Field = {
  check: (v) => Number.isSafeInteger(v) && (v as number) >= 0,
  what: 'a whole number ≥ 0',
};
const id: Field = { check: (v) => Number.isSafeInteger(v), what: 'a whole number' };
const measure: Field = {
  check: (v) => typeof v === 'number' && Number.isFinite(v),
  what: 'a finite number',
  optional: true,
};
/**
 * Money as the engine writes it: a plain decimal string, never in exponent notation — the closing event's size
 * bound counts an amount's decimal places as written (decide.ts), and "1e500000000" would print as 500 million
 * digits.
 */
const DECIMAL = /^-?\d+(?:\.\d+)?$/;
const money: Field = { check: (v) => typeof v === 'string' && DECIMAL.test(v), what: 'a decimal string' };
const time: Field = {
  check: (v) => typeof v === 'string' && Number.isFinite(Date.parse(v)),
  what: 'a date-time string',
};
const texts: Field = {
  check: (v) => Array.isArray(v) && v.every((item) => typeof item === 'string'),
  what: 'an array of strings',
};
const object: Field = { check: isObject, what: 'an object' };
const STATUSES = new Set(['open', 'closed', 'partially_returned', 'cancelled']);
const status: Field = { check: (v) => STATUSES.has(v as string), what: 'a session state' };

/**
 * Where a member is, built only when something there is wrong (most events have nothing wrong, and a cart of
 * 1,000 lines would otherwise build thousands of path strings per read): `at`, then `[index]` or `["key"]`.
 */
type Place = { at: string; index?: number; key?: string };
const pathOf = ({ at, index, key }: Place): string =>
  index !== undefined ? `${at}[${index}]` : key !== undefined ? `${at}[${JSON.stringify(key)}]` : at;

/** The first problem of `value` against `fields`, named by its path (`place`: the value's own; "" the data). */
function problemOf(
  value: unknown,
  fields: Readonly<Record<string, Field>>,
  place: Place,
): string | undefined {
  if (!isObject(value)) return `${pathOf(place) || 'its data'} is not an object`;
  for (const name in fields) {
    const field = fields[name]!;
    const member = value[name];
    if (member === undefined && field.optional) continue;
    if (member !== undefined && field.check(member)) continue;
    const base = pathOf(place);
    const path = base ? `${base}.${name}` : name;
    return member === undefined ? `${path} is missing (${field.what})` : `${path} is not ${field.what}`;
  }
  return undefined;
}

/** The first problem of each element of `value` (an array) against `fields`. */
function eachProblem(
  value: unknown,
  fields: Readonly<Record<string, Field>>,
  at: string,
  extra?: (element: Record<string, unknown>, place: Place) => string | undefined,
): string | undefined {
  if (!Array.isArray(value)) return `${at} is not an array`;
  for (let index = 0; index < value.length; index++) {
    const place = { at, index };
    const problem =
      problemOf(value[index], fields, place) ?? extra?.(value[index] as Record<string, unknown>, place);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

const COST = { price: money };

function costsProblem(value: unknown, at: string): string | undefined {
  if (!isObject(value)) return `${at} is not an object`;
  for (const key in value) {
    const problem = problemOf(value[key], COST, { at, key });
    if (problem !== undefined) return problem;
  }
  return undefined;
}

const CART_ITEM: Readonly<Record<string, Field>> = {
  sku: text,
  quantity: count,
  name: optionalText,
  category: optionalText,
  price: { ...money, optional: true },
  weight: measure,
  height: measure,
  width: measure,
  length: measure,
  attributes: { ...object, optional: true },
};

const PRODUCT = { name: text };

function cartItemExtra(item: Record<string, unknown>, place: Place): string | undefined {
  if (item.product !== undefined) {
    const problem = problemOf(item.product, PRODUCT, { at: `${pathOf(place)}.product` });
    if (problem !== undefined) return problem;
  }
  return item.additionalCosts === undefined
    ? undefined
    : costsProblem(item.additionalCosts, `${pathOf(place)}.additionalCosts`);
}

const cartItems = (value: unknown, at: string) => eachProblem(value, CART_ITEM, at, cartItemExtra);

const COUNTED_LINE = { position: count, sku: text, quantity: count, value: money };
const countedLines = (value: unknown, at: string) => eachProblem(value, COUNTED_LINE, at);

/** Each type's fields beside `at` and `commandId`, and the checks of its nested members. */
const SHAPES: Record<
  SessionEventType,
  { fields: Readonly<Record<string, Field>>; nested?: (data: Record<string, unknown>) => string | undefined }
> = {
  SessionCreated: {
    fields: {
      sessionId: id,
      applicationId: id,
      integrationId: text,
      profileId: text,
      storeIntegrationId: optionalText,
      couponCodes: texts,
      referralCode: text,
      loyaltyCards: texts,
      identifiers: texts,
      attributes: object,
      firstSession: flag,
    },
    nested: (data) =>
      costsProblem(data.additionalCosts, 'additionalCosts') ?? cartItems(data.cartItems, 'cartItems'),
  },
  ProfileChanged: { fields: { previousProfileId: text, profileId: text, firstSession: flag } },
  StoreChanged: { fields: { storeIntegrationId: text } },
  CouponCodesChanged: { fields: { couponCodes: texts } },
  ReferralCodeChanged: { fields: { referralCode: text } },
  LoyaltyCardsChanged: { fields: { loyaltyCards: texts } },
  IdentifiersChanged: { fields: { identifiers: texts } },
  AttributesChanged: { fields: { attributes: object } },
  AdditionalCostsChanged: {
    fields: {},
    nested: (data) => costsProblem(data.additionalCosts, 'additionalCosts'),
  },
  CartItemsReplaced: { fields: {}, nested: (data) => cartItems(data.cartItems, 'cartItems') },
  CartItemsAdded: {
    fields: { firstPosition: count },
    nested: (data) => cartItems(data.cartItems, 'cartItems'),
  },
  SessionClosed: {
    fields: { profileId: text, total: money },
    nested: (data) => countedLines(data.items, 'items'),
  },
  SessionCancelled: {
    fields: { previousState: status, profileId: text, reversedRevenue: money },
    nested: (data) => countedLines(data.reversedItems, 'reversedItems'),
  },
  SessionReopened: {
    fields: { profileId: text, reversedRevenue: money },
    nested: (data) => countedLines(data.reversedItems, 'reversedItems'),
  },
  CartItemsReturned: {
    fields: { returnId: count, profileId: text, previousState: status, returnedValue: money },
    nested: (data) => countedLines(data.returnedCartItems, 'returnedCartItems'),
  },
};

const BASE = { at: time, commandId: text };
const ROOT: Place = { at: '' };

/**
 * Why the data of a session event of type `type` (upcast to the newest version) does not have the shape of that
 * type, naming the first field at fault; undefined when it does, or when `type` is no session event type (a
 * test's registry).
 */
export function eventShapeProblem(type: string, data: Record<string, unknown>): string | undefined {
  if (!Object.hasOwn(SHAPES, type)) return undefined;
  const shape = SHAPES[type as SessionEventType];
  return problemOf(data, BASE, ROOT) ?? problemOf(data, shape.fields, ROOT) ?? shape.nested?.(data);
}
