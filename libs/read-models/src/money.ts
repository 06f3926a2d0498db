import { fastMoneySum, fastNormalizeMoney, moneyToNumber } from '@session-engine/session-domain';
import Decimal from 'decimal.js';

/**
 * Exact decimal arithmetic on decimal strings; read models never hold money in a float. Results are
 * what decimal.js in its default configuration prints (`Decimal#toString`): the domain's integer fast
 * path computes them (its results have at most 16 significant digits, so the 20-digit default
 * precision never rounds them), and decimal.js takes over for anything outside it or printed in
 * exponent notation (non-zero amounts below 1e-6).
 */
export type Money = string;

export const ZERO: Money = '0';

/** A fast-path result as `Decimal#toString` prints it, or `undefined` when that is exponent notation. */
function printed(plain: string | undefined): Money | undefined {
  if (plain === undefined) return undefined;
  const tiny = plain.startsWith('0.000000') || plain.startsWith('-0.000000');
  return tiny ? undefined : plain;
}

export function add(...values: (Money | undefined)[]): Money {
  return (
    printed(fastMoneySum(values)) ??
    values.reduce<Decimal>((sum, value) => sum.plus(value ?? 0), new Decimal(0)).toString()
  );
}

export function sub(a: Money, ...values: Money[]): Money {
  return (
    printed(fastMoneySum([a, ...values], 1)) ??
    values.reduce<Decimal>((rest, value) => rest.minus(value), new Decimal(a)).toString()
  );
}

/** Canonical form ("60.070" from PostgreSQL NUMERIC becomes "60.07"). */
export function normalize(value: Money | number | null | undefined): Money {
  return (
    (typeof value === 'string' ? printed(fastNormalizeMoney(value)) : undefined) ??
    new Decimal(value ?? 0).toString()
  );
}

export function toNumber(value: Money): number {
  return moneyToNumber(value);
}

const INTEGER_DIGITS = 24;
const FRACTION_DIGITS = 12;

function complement(digits: string): string {
  return digits.replace(/\d/g, (d) => String(9 - Number(d)));
}

/**
 * A text key whose lexicographic order is the numeric order of the amount, so PostgreSQL and SQLite
 * sort totals exactly with the same plain `ORDER BY` (fixed width; negative amounts get
 * complemented digits).
 */
export function sortKey(value: Money): string {
  const plain = fastNormalizeMoney(value);
  if (plain !== undefined) {
    const negative = plain.charCodeAt(0) === 45; /* - (never for zero) */
    const abs = negative ? plain.slice(1) : plain;
    const point = abs.indexOf('.');
    const fraction = point < 0 ? '' : abs.slice(point + 1);
    if (fraction.length <= FRACTION_DIGITS) {
      const integer = point < 0 ? abs : abs.slice(0, point);
      const digits = `${integer.padStart(INTEGER_DIGITS, '0')}${fraction.padEnd(FRACTION_DIGITS, '0')}`;
      return negative ? `N${complement(digits)}` : `P${digits}`;
    }
  }
  const amount = new Decimal(value);
  const fixed = amount.abs().toFixed(FRACTION_DIGITS, Decimal.ROUND_DOWN);
  const [integer, fraction] = fixed.split('.');
  const digits = `${integer.padStart(INTEGER_DIGITS, '0')}${fraction}`;
  if (!amount.isNegative() || amount.isZero()) return `P${digits}`;
  return `N${complement(digits)}`;
}
