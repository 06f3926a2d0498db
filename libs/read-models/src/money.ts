import Decimal from 'decimal.js';

/** Exact decimal arithmetic on decimal strings; read models never hold money in a float. */
export type Money = string;

export const ZERO: Money = '0';

export function add(...values: (Money | undefined)[]): Money {
  return values.reduce<Decimal>((sum, value) => sum.plus(value ?? 0), new Decimal(0)).toString();
}

export function sub(a: Money, ...values: Money[]): Money {
  return values.reduce<Decimal>((rest, value) => rest.minus(value), new Decimal(a)).toString();
}

/** Canonical form ("60.070" from PostgreSQL NUMERIC becomes "60.07"). */
export function normalize(value: Money | number | null | undefined): Money {
  return new Decimal(value ?? 0).toString();
}

export function toNumber(value: Money): number {
  return new Decimal(value).toNumber();
}

const INTEGER_DIGITS = 24;
const FRACTION_DIGITS = 12;

/**
 * A text key whose lexicographic order is the numeric order of the amount, so PostgreSQL and SQLite
 * sort totals exactly with the same plain `ORDER BY` (fixed width; negative amounts get
 * complemented digits).
 */
export function sortKey(value: Money): string {
  const amount = new Decimal(value);
  const fixed = amount.abs().toFixed(FRACTION_DIGITS, Decimal.ROUND_DOWN);
  const [integer, fraction] = fixed.split('.');
  const digits = `${integer.padStart(INTEGER_DIGITS, '0')}${fraction}`;
  if (!amount.isNegative() || amount.isZero()) return `P${digits}`;
  return `N${digits.replace(/\d/g, (d) => String(9 - Number(d)))}`;
}
