/**
 * Exact money. Amounts live as decimal strings in events and state; arithmetic goes through a
 * decimal.js clone whose precision is far beyond anything a cart can reach (prices ≤ 1e15 with at
 * most ~340 significant digits, quantities ≤ 10 000, ≤ 1000 lines), so no operation ever rounds.
 * Conversion to a JSON number happens once, in the view.
 *
 * Fast path: nearly every amount is a plain decimal string ("19.99") whose value in its smallest
 * unit (1999 at scale 2) is a safe integer, so sums, differences and integer multiples are computed
 * exactly on those integers and printed back in the canonical form decimal.js would print (no
 * trailing zeros, no exponent, never "-0"). Anything else (other notations, more than 15 significant
 * digits, a result beyond 2^53 units) goes through decimal.js. `money.property.spec.ts` proves both
 * paths agree.
 */
import DecimalJs from 'decimal.js';

const Exact = DecimalJs.clone({
  precision: 1000,
  rounding: DecimalJs.ROUND_HALF_EVEN,
  toExpNeg: -9e15,
  toExpPos: 9e15,
});
type Exact = InstanceType<typeof Exact>;

export const ZERO = '0';

/** Largest number of fraction digits the fast path takes: 10^22 is the last power of ten a double holds exactly. */
const MAX_SCALE = 22;
const POW10: number[] = [1];
for (let k = 1; k <= MAX_SCALE; k++) POW10.push(POW10[k - 1] * 10);
/** Below this, `units * 10 + digit` is still a safe integer. */
const SAFE_TENTH = Math.floor(Number.MAX_SAFE_INTEGER / 10);

// Result of the last successful `parse` (module state, to allocate nothing per amount).
let parsedUnits = 0;
let parsedScale = 0;

/**
 * Reads a plain decimal string (`-?\d+(\.\d+)?`) whose digits form a safe integer into
 * `parsedUnits` / `parsedScale` (value = units / 10^scale). False for anything else.
 */
function parse(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  const length = value.length;
  let i = 0;
  let negative = false;
  if (length > 0 && value.charCodeAt(0) === 45 /* - */) {
    negative = true;
    i = 1;
  }
  let units = 0;
  let digits = 0;
  let scale = -1;
  for (; i < length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (units >= SAFE_TENTH) return false;
      units = units * 10 + (c - 48);
      digits++;
      if (scale >= 0) scale++;
    } else if (c === 46 /* . */ && scale < 0 && digits > 0 && i + 1 < length) {
      scale = 0;
    } else {
      return false;
    }
  }
  if (digits === 0 || scale > MAX_SCALE) return false;
  parsedUnits = negative ? -units : units;
  parsedScale = scale < 0 ? 0 : scale;
  return true;
}

/** units / 10^scale in canonical form: no trailing zeros, no exponent, "0" for any zero. */
function format(units: number, scale: number): string {
  if (units === 0) return ZERO;
  while (scale > 0 && units % 10 === 0) {
    units /= 10;
    scale--;
  }
  // A safe integer always prints in plain digits.
  if (scale === 0) return String(units);
  const negative = units < 0;
  let digits = String(negative ? -units : units);
  if (digits.length <= scale) digits = '0'.repeat(scale - digits.length + 1) + digits;
  const point = digits.length - scale;
  const text = `${digits.slice(0, point)}.${digits.slice(point)}`;
  return negative ? `-${text}` : text;
}

/**
 * Exact Σ values[i] − Σ values[j] (i < negateFrom ≤ j) in canonical form, `null`/`undefined` counting
 * as zero; `undefined` when an amount or a partial result is outside the fast path (callers then use
 * decimal.js). Shared with the read models, which print through it too.
 */
export function fastMoneySum(
  values: ArrayLike<string | null | undefined>,
  negateFrom: number = values.length,
): string | undefined {
  let units = 0;
  let scale = 0;
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (value == null) continue;
    if (!parse(value)) return undefined;
    let term = parsedUnits;
    if (parsedScale > scale) {
      units *= POW10[parsedScale - scale];
      scale = parsedScale;
      if (!Number.isSafeInteger(units)) return undefined;
    } else if (parsedScale < scale) {
      term *= POW10[scale - parsedScale];
      if (!Number.isSafeInteger(term)) return undefined;
    }
    units = i < negateFrom ? units + term : units - term;
    // A double sum or product rounds monotonically, so an exact result ≥ 2^53 never looks safe.
    if (!Number.isSafeInteger(units)) return undefined;
  }
  return format(units, scale);
}

/** Exact value × factor (a safe integer) in canonical form, or `undefined` outside the fast path. */
export function fastMoneyProduct(value: string, factor: number): string | undefined {
  if (!Number.isSafeInteger(factor) || !parse(value)) return undefined;
  const units = parsedUnits * factor;
  return Number.isSafeInteger(units) ? format(units, parsedScale) : undefined;
}

/** Canonical form of a plain decimal string, or `undefined` outside the fast path. */
export function fastNormalizeMoney(value: string): string | undefined {
  return parse(value) ? format(parsedUnits, parsedScale) : undefined;
}

/** A finite JS number as the shortest decimal string that reads back as the same number ("19.99", "0.0000001"). */
export function moneyFromNumber(value: number): string {
  // String(n) is the shortest round-trip representation, already canonical unless in exponent notation.
  const text = String(value);
  if (Number.isFinite(value) && !text.includes('e')) return text;
  return new Exact(text).toFixed();
}

/** A decimal string as the nearest JSON number (used only when building the view). */
export function moneyToNumber(value: string): number {
  // Both round the exact decimal value to the nearest double.
  return parse(value) ? Number(value) : new Exact(value).toNumber();
}

function exactSum(values: Iterable<string>): string {
  let sum: Exact = new Exact(0);
  for (const value of values) sum = sum.plus(value);
  return sum.toFixed();
}

export function addMoney(...values: string[]): string {
  return fastMoneySum(values) ?? exactSum(values);
}

export function subtractMoney(a: string, b: string): string {
  return fastMoneySum([a, b], 1) ?? new Exact(a).minus(b).toFixed();
}

export function multiplyMoney(value: string, units: number): string {
  return fastMoneyProduct(value, units) ?? new Exact(value).times(units).toFixed();
}

export function sumMoney(values: Iterable<string>): string {
  const list = Array.isArray(values) ? (values as string[]) : [...values];
  return fastMoneySum(list) ?? exactSum(list);
}

/** Canonical form of a decimal string (drops trailing zeros and exponent notation), e.g. "19.990" → "19.99". */
export function normalizeMoney(value: string): string {
  return fastNormalizeMoney(value) ?? new Exact(value).toFixed();
}
