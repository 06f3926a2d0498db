/**
 * Input validation. Turns command input (JSON-shaped, money as numbers) into the exact, canonical
 * data the events carry (money as decimal strings, only known fields), or throws a DomainError with a
 * JSON pointer relative to the command's input. Runs before any state check, so bad input is always a 400.
 */
import type { PriceInput, SessionStatus } from './commands';
import { DomainError, DomainErrorCode } from './errors';
import type { CartItemData, Decimal } from './events';
import { escapePointer, findNonJson, findNul, isPlainObject, utf8Length, withoutNegativeZero } from './json';
import { SESSION_LIMITS } from './limits';
import { moneyFromNumber } from './money';

export type CostMap = Record<string, { price: Decimal }>;

/** An UpdateSession patch after validation: `undefined` keeps the stored value. */
export interface ValidPatch {
  profileId?: string;
  storeIntegrationId?: string;
  evaluableCampaignIds?: number[];
  couponCodes?: string[];
  referralCode?: string;
  loyaltyCards?: string[];
  identifiers?: string[];
  state?: SessionStatus;
  cartItems?: CartItemData[];
  additionalCosts?: CostMap;
  attributes?: Record<string, unknown>;
}

export interface ValidReturnEntry {
  position?: number;
  sku?: string;
  quantity?: number;
}

const STATUSES: readonly SessionStatus[] = ['open', 'closed', 'cancelled', 'partially_returned'];

/**
 * The value at `pointer` breaks a rule; `message` says what it must be, naming no field ("must be a string"):
 * the caller names it (see `DomainError.predicate`).
 */
export function invalid(pointer: string, message: string): DomainError {
  return new DomainError(DomainErrorCode.InvalidField, message, pointer, true);
}

function limitExceeded(pointer: string, message: string): DomainError {
  return new DomainError(DomainErrorCode.LimitExceeded, message, pointer, true);
}

/** Length in characters (Unicode code points), as class-validator's Length counts them. */
export function charLength(text: string): number {
  let length = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        length--;
        i++;
      }
    }
  }
  return length;
}

const NUL_MESSAGE = 'must not contain the NUL character (U+0000)';

export function checkString(value: unknown, pointer: string, min: number, max: number): string {
  if (typeof value !== 'string') throw invalid(pointer, 'must be a string');
  // A NUL is no text a checkout sends, and PostgreSQL's text and jsonb cannot hold it (the read models).
  if (value.includes('\u0000')) throw invalid(pointer, NUL_MESSAGE);
  // Cheap path first: UTF-16 length bounds the number of characters from above.
  const length = value.length <= max && value.length >= min ? value.length : charLength(value);
  if (length < min || length > max) {
    throw invalid(
      pointer,
      min > 0 ? `must be ${min}..${max} characters long` : `must be at most ${max} characters long`,
    );
  }
  return value;
}

function checkStringList(
  value: unknown,
  pointer: string,
  maxItems: number,
  maxLength: number,
  minLength = 1,
): string[] {
  if (!Array.isArray(value)) throw invalid(pointer, 'must be an array of strings');
  if (value.length > maxItems) throw invalid(pointer, `must have at most ${maxItems} item(s)`);
  return value.map((item, i) => checkString(item, `${pointer}/${i}`, minLength, maxLength));
}

function checkNonNegative(value: unknown, pointer: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw invalid(pointer, 'must be a finite number ≥ 0');
  }
  // -0 (JSON's `-0` parses so) is 0: the stored event says 0, and a state folded from it must equal this one.
  return value === 0 ? 0 : value;
}

export function checkMoney(value: unknown, pointer: string): Decimal {
  const amount = checkNonNegative(value, pointer);
  if (amount > SESSION_LIMITS.maxMoney) throw invalid(pointer, `must be at most ${SESSION_LIMITS.maxMoney}`);
  return moneyFromNumber(amount);
}

/**
 * A whole number ≥ `min` that JSON carries exactly: one beyond Number.MAX_SAFE_INTEGER (2⁵³ − 1) is refused
 * saying so — it is an integer, and "must be an integer ≥ 1" would not tell the client what is wrong (the
 * JSON number 9007199254740993 already reads as 9007199254740992).
 */
function checkInteger(value: unknown, pointer: string, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw invalid(pointer, `must be an integer ≥ ${min}`);
  }
  if (!Number.isSafeInteger(value)) {
    throw invalid(
      pointer,
      `must be at most ${Number.MAX_SAFE_INTEGER} (the largest safe integer: larger ones lose precision in JSON)`,
    );
  }
  return value === 0 ? 0 : value; // -0 is 0, as in checkNonNegative
}

export function checkJsonObject(value: unknown, pointer: string): Record<string, unknown> {
  if (!isPlainObject(value)) throw invalid(pointer, 'must be a JSON object');
  const bad = findNonJson(value, pointer);
  if (bad !== null)
    throw invalid(
      bad,
      `must be plain JSON (finite numbers, at most ${SESSION_LIMITS.jsonDepth} levels deep)`,
    );
  const nul = findNul(value, pointer);
  if (nul !== null) throw invalid(nul, NUL_MESSAGE);
  if (utf8Length(JSON.stringify(value)) > SESSION_LIMITS.attributesBytes) {
    throw invalid(pointer, `must be at most ${SESSION_LIMITS.attributesBytes} bytes serialized`);
  }
  return withoutNegativeZero(value) as Record<string, unknown>;
}

export function checkCosts(value: unknown, pointer: string): CostMap {
  if (!isPlainObject(value)) throw invalid(pointer, 'must be an object mapping a cost name to {price}');
  const names = Object.keys(value);
  if (names.length > SESSION_LIMITS.additionalCosts) {
    throw invalid(pointer, `must have at most ${SESSION_LIMITS.additionalCosts} entries`);
  }
  return Object.fromEntries(
    names.map((name) => {
      const at = `${pointer}/${escapePointer(name)}`;
      checkString(name, at, 1, SESSION_LIMITS.additionalCostNameLength);
      const cost = value[name] as PriceInput | undefined;
      if (!isPlainObject(cost)) throw invalid(at, 'must be an object {price}');
      return [name, { price: checkMoney(cost.price, `${at}/price`) }];
    }),
  );
}

function checkCartItem(value: unknown, pointer: string): CartItemData {
  if (!isPlainObject(value)) throw invalid(pointer, 'must be a cart item object');
  const item: CartItemData = {
    sku: checkString(value.sku, `${pointer}/sku`, 1, SESSION_LIMITS.skuLength),
    quantity: checkInteger(value.quantity, `${pointer}/quantity`, 1),
  };
  const text = SESSION_LIMITS.textLength;
  if (value.name != null) item.name = checkString(value.name, `${pointer}/name`, 0, text);
  if (value.category != null) item.category = checkString(value.category, `${pointer}/category`, 0, text);
  if (value.price != null) item.price = checkMoney(value.price, `${pointer}/price`);
  if (value.product != null) {
    if (!isPlainObject(value.product)) throw invalid(`${pointer}/product`, 'must be an object {name}');
    item.product = { name: checkString(value.product.name, `${pointer}/product/name`, 0, text) };
  }
  for (const dimension of ['weight', 'height', 'width', 'length'] as const) {
    if (value[dimension] != null)
      item[dimension] = checkNonNegative(value[dimension], `${pointer}/${dimension}`);
  }
  if (value.attributes != null) item.attributes = checkJsonObject(value.attributes, `${pointer}/attributes`);
  if (value.additionalCosts != null) {
    item.additionalCosts = checkCosts(value.additionalCosts, `${pointer}/additionalCosts`);
  }
  return item;
}

/** Validates the cart items of one request, including the per-request limits (§1.1). */
export function checkCartItems(value: unknown, pointer: string): CartItemData[] {
  if (!Array.isArray(value)) throw invalid(pointer, 'must be an array of cart items');
  if (value.length > SESSION_LIMITS.cartItemsPerRequest) {
    throw limitExceeded(
      pointer,
      `must hold at most ${SESSION_LIMITS.cartItemsPerRequest} cart items per request`,
    );
  }
  const items = value.map((item, i) => checkCartItem(item, `${pointer}/${i}`));
  const units = items.reduce((sum, item) => sum + item.quantity, 0);
  if (units > SESSION_LIMITS.quantityPerRequest) {
    throw limitExceeded(
      pointer,
      `must have quantities adding up to at most ${SESSION_LIMITS.quantityPerRequest} per request`,
    );
  }
  return items;
}

export function checkIntegrationId(value: unknown): string {
  return checkString(value, '/integrationId', 1, SESSION_LIMITS.integrationIdLength);
}

/** Validates an UpdateSession patch; `creating` refuses the states a session cannot be created in. */
export function checkPatch(value: unknown, creating: boolean): ValidPatch {
  if (!isPlainObject(value)) throw invalid('', 'must be a JSON object');
  const patch: ValidPatch = {};
  if (value.profileId != null) {
    patch.profileId = checkString(value.profileId, '/profileId', 0, SESSION_LIMITS.profileIdLength);
  }
  if (value.storeIntegrationId != null) {
    patch.storeIntegrationId = checkString(
      value.storeIntegrationId,
      '/storeIntegrationId',
      1,
      SESSION_LIMITS.storeIntegrationIdLength,
    );
  }
  if (value.evaluableCampaignIds != null) {
    const ids = value.evaluableCampaignIds;
    if (!Array.isArray(ids)) throw invalid('/evaluableCampaignIds', 'must be an array of integers');
    if (ids.length > SESSION_LIMITS.evaluableCampaignIds) {
      throw invalid(
        '/evaluableCampaignIds',
        `must have at most ${SESSION_LIMITS.evaluableCampaignIds} items`,
      );
    }
    patch.evaluableCampaignIds = ids.map((id, i) => checkInteger(id, `/evaluableCampaignIds/${i}`, 1));
  }
  if (value.couponCodes != null) {
    patch.couponCodes = checkStringList(
      value.couponCodes,
      '/couponCodes',
      SESSION_LIMITS.couponCodes,
      SESSION_LIMITS.couponCodeLength,
    );
  }
  if (value.referralCode != null) {
    patch.referralCode = checkString(
      value.referralCode,
      '/referralCode',
      0,
      SESSION_LIMITS.referralCodeLength,
    );
  }
  if (value.loyaltyCards != null) {
    patch.loyaltyCards = checkStringList(
      value.loyaltyCards,
      '/loyaltyCards',
      SESSION_LIMITS.loyaltyCards,
      SESSION_LIMITS.loyaltyCardLength,
    );
  }
  if (value.identifiers != null) {
    patch.identifiers = checkStringList(
      value.identifiers,
      '/identifiers',
      SESSION_LIMITS.identifiers,
      SESSION_LIMITS.identifierLength,
    );
  }
  if (value.state != null) {
    if (!STATUSES.includes(value.state as SessionStatus)) {
      throw invalid('/state', `must be one of ${STATUSES.join(', ')}`);
    }
    patch.state = value.state as SessionStatus;
    if (creating && patch.state !== 'open' && patch.state !== 'closed') {
      throw invalid('/state', 'must be open or closed when the session is created');
    }
  }
  if (value.cartItems != null) patch.cartItems = checkCartItems(value.cartItems, '/cartItems');
  if (value.additionalCosts != null)
    patch.additionalCosts = checkCosts(value.additionalCosts, '/additionalCosts');
  if (value.attributes != null) patch.attributes = checkJsonObject(value.attributes, '/attributes');
  return patch;
}

const UNDONE = 'a return cannot be undone, so null is not read as a field not given';

/**
 * What a return entry's field sent as `null` is told. In a cart item `null` is a field not given (some
 * clients send unset fields so) and leaves an optional field empty until the next PUT; in a return entry it
 * is refused, because there an omitted field means something — no `quantity` returns every unit left on the
 * line, no `position` lets the sku pick the line — and a return cannot be undone: a `null` the client meant
 * as a value (a lookup that found nothing) must not return units it did not name.
 */
export const NULL_IN_RETURN_ENTRY = {
  position: `must not be null: give the cart line, or leave position out to name the line by its sku (${UNDONE})`,
  sku: `must not be null: give the sku, or leave sku out (${UNDONE})`,
  quantity: `must not be null: give the number of units, or leave quantity out to return every unit left on the line (${UNDONE})`,
} as const;

export function checkReturnEntries(value: unknown): ValidReturnEntry[] {
  const pointer = '/returnedCartItems';
  if (!Array.isArray(value)) throw invalid(pointer, 'must be an array of returned cart items');
  if (value.length === 0) throw invalid(pointer, 'must name at least one cart item');
  if (value.length > SESSION_LIMITS.returnedCartItemsPerRequest) {
    throw limitExceeded(
      pointer,
      `must hold at most ${SESSION_LIMITS.returnedCartItemsPerRequest} returned items per request`,
    );
  }
  return value.map((entry, i) => {
    const at = `${pointer}/${i}`;
    if (!isPlainObject(entry)) throw invalid(at, 'must be an object {position | sku, quantity?}');
    for (const field of ['position', 'sku', 'quantity'] as const)
      if (entry[field] === null) throw invalid(`${at}/${field}`, NULL_IN_RETURN_ENTRY[field]);
    const valid: ValidReturnEntry = {};
    if (entry.position !== undefined) valid.position = checkInteger(entry.position, `${at}/position`, 0);
    if (entry.sku !== undefined) valid.sku = checkString(entry.sku, `${at}/sku`, 1, SESSION_LIMITS.skuLength);
    if (valid.position === undefined && valid.sku === undefined)
      throw invalid(at, 'must give a position or a sku');
    if (entry.quantity !== undefined) valid.quantity = checkInteger(entry.quantity, `${at}/quantity`, 1);
    return valid;
  });
}
