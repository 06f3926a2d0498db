/**
 * Exact money. Amounts live as decimal strings in events and state; arithmetic goes through a
 * decimal.js clone whose precision is far beyond anything a cart can reach (prices ≤ 1e15 with at
 * most ~340 significant digits, quantities ≤ 10 000, ≤ 1000 lines), so no operation ever rounds.
 * Conversion to a JSON number happens once, in the view.
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

/** A finite JS number as the shortest decimal string that reads back as the same number ("19.99", "0.0000001"). */
export function moneyFromNumber(value: number): string {
  // String(n) is the shortest round-trip representation; Decimal only rewrites exponent notation.
  return new Exact(String(value)).toFixed();
}

/** A decimal string as the nearest JSON number (used only when building the view). */
export function moneyToNumber(value: string): number {
  return new Exact(value).toNumber();
}

export function addMoney(...values: string[]): string {
  let sum: Exact = new Exact(0);
  for (const value of values) sum = sum.plus(value);
  return sum.toFixed();
}

export function subtractMoney(a: string, b: string): string {
  return new Exact(a).minus(b).toFixed();
}

export function multiplyMoney(value: string, units: number): string {
  return new Exact(value).times(units).toFixed();
}

export function sumMoney(values: Iterable<string>): string {
  let sum: Exact = new Exact(0);
  for (const value of values) sum = sum.plus(value);
  return sum.toFixed();
}

/** Canonical form of a decimal string (drops trailing zeros and exponent notation), e.g. "19.990" → "19.99". */
export function normalizeMoney(value: string): string {
  return new Exact(value).toFixed();
}
