import { fastMoneySum, fastNormalizeMoney, moneyToNumber } from '@session-engine/session-domain';
import DecimalJs from 'decimal.js';

/**
 * Decimal.js with the domain's precision (no sum of amounts a session can hold, down to 5e-324 and up to
 * 1e24, comes near 1000 significant digits, so nothing is ever rounded) and decimal.js's default printing
 * (exponent notation below 1e-6 and from 1e21), the form read models have always stored.
 */
const Decimal = DecimalJs.clone({ precision: 1000 });
type Decimal = InstanceType<typeof Decimal>;

/**
 * Exact decimal arithmetic on decimal strings; read models never hold money in a float, and never round.
 * Results are printed as `Decimal#toString` prints them: the domain's integer fast path computes them when
 * it can, and decimal.js takes over for anything outside it or printed in exponent notation (non-zero
 * amounts below 1e-6).
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

/** Integer digits of the common key: totals below 1e24 (a cart of 1000 lines at 1e15 each is 1e22). */
const INTEGER_DIGITS = 24;
/** Fraction digits always written; an amount with more (down to 1e-340 or so) writes them all. */
const FRACTION_DIGITS = 12;

function complement(digits: string): string {
  return digits.replace(/\d/g, (d) => String(9 - Number(d)));
}

/**
 * A text key whose byte-wise order is the numeric order of the amount, exactly, so PostgreSQL (`collate "C"`)
 * and SQLite sort totals with the same plain `ORDER BY`: `P`, the integer part zero-padded to 24 digits, the
 * fraction padded to at least 12 and never cut (a longer fraction sorts after its own prefix, as its value
 * does). An integer part longer than 24 digits (possible only at the limits: 1000 lines of 10,000 units at
 * 1e15 with 100 costs of 1e15 each) gets `Q` and its length in 3 digits first, so it sorts after every `P`
 * key and by length. Negative amounts (`N`, `M` for the long ones) get complemented digits and a final `~`,
 * above every digit, so that there a longer fraction sorts first.
 */
export function sortKey(value: Money): string {
  const plain = fastNormalizeMoney(value) ?? new Decimal(value).toFixed();
  const negative = plain.charCodeAt(0) === 45; /* - (never for zero) */
  const abs = negative ? plain.slice(1) : plain;
  const point = abs.indexOf('.');
  const integer = point < 0 ? abs : abs.slice(0, point);
  const fraction = point < 0 ? '' : abs.slice(point + 1).replace(/0+$/, '');
  const long = integer.length > INTEGER_DIGITS;
  const digits = `${long ? String(integer.length).padStart(3, '0') : ''}${integer.padStart(INTEGER_DIGITS, '0')}${fraction.padEnd(FRACTION_DIGITS, '0')}`;
  if (!negative) return `${long ? 'Q' : 'P'}${digits}`;
  return `${long ? 'M' : 'N'}${complement(digits)}~`;
}
