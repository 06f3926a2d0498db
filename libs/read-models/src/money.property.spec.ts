import DecimalJs from 'decimal.js';
import fc from 'fast-check';
import { add, normalize, sortKey, sub, toNumber } from './money';

/** decimal.js printing as by default, computing without rounding (its default precision is 20 digits). */
const Decimal = DecimalJs.clone({ precision: 1000 });
type Decimal = InstanceType<typeof Decimal>;

/**
 * The read models print money as decimal.js in its default configuration did before the domain's
 * integer fast path (`Decimal#toString`: exponent notation below 1e-6), and never round.
 * `referenceSortKey` is the sort key of read models written before keys kept fractions past 12 digits:
 * for every amount ≥ 0 (every total) with at most 12 decimal places the key is unchanged, so rows already
 * stored stay valid.
 */
function referenceSortKey(value: string): string {
  const amount = new Decimal(value);
  const fixed = amount.abs().toFixed(12, Decimal.ROUND_DOWN);
  const [integer, fraction] = fixed.split('.');
  const digits = `${integer.padStart(24, '0')}${fraction}`;
  if (!amount.isNegative() || amount.isZero()) return `P${digits}`;
  return `N${digits.replace(/\d/g, (d) => String(9 - Number(d)))}`;
}

const digits = (min: number, max: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });

const money = fc.oneof(
  {
    arbitrary: fc
      .tuple(fc.boolean(), fc.integer({ min: 0, max: 10_000_000 }), fc.integer({ min: 0, max: 3 }))
      .map(([negative, cents, scale]) => `${negative ? '-' : ''}${(cents / 100).toFixed(scale)}`),
    weight: 4,
  },
  {
    arbitrary: fc
      .tuple(
        fc.constantFrom('', '-'),
        fc.oneof(digits(1, 3), digits(1, 9), digits(1, 16), digits(15, 24)),
        fc.oneof(fc.constant(''), digits(1, 2), digits(1, 8), digits(1, 12), digits(13, 20)),
      )
      .map(([sign, integer, fraction]) => `${sign}${integer}${fraction ? `.${fraction}` : ''}`),
    weight: 8,
  },
  {
    arbitrary: fc.constantFrom(
      '0',
      '-0',
      '0.000',
      '60.070',
      '0.000001',
      '0.0000001',
      '-0.00000012',
      '1e-7',
      '9007199254740991',
      '-9007199254740992',
      '12345678901234567890.5',
      '99999999999999999999.9',
      '1e-13',
      '2e-13',
      '0.00000000000010',
      '-1e-13',
      '5e-324',
      '999999999999999999999999.5',
      '1000000000000000000000000',
      '1010000000000000000000000.25',
      '10000000000000000000000000',
      '-1000000000000000000000000',
      '0.1000000000001',
      '0.10000000000009',
    ),
    weight: 2,
  },
);

const params = { numRuns: 3000 };

describe('read-model money agrees with decimal.js', () => {
  it('adds, skipping missing amounts', () =>
    fc.assert(
      fc.property(fc.array(fc.option(money, { nil: undefined }), { maxLength: 12 }), (values) => {
        const expected = values
          .reduce<Decimal>((sum, value) => sum.plus(value ?? 0), new Decimal(0))
          .toString();
        expect(add(...values)).toBe(expected);
      }),
      params,
    ));

  it('subtracts', () =>
    fc.assert(
      fc.property(money, fc.array(money, { maxLength: 4 }), (a, rest) => {
        const expected = rest.reduce<Decimal>((r, value) => r.minus(value), new Decimal(a)).toString();
        expect(sub(a, ...rest)).toBe(expected);
      }),
      params,
    ));

  it('normalizes, converts to a number and builds the sort key', () =>
    fc.assert(
      fc.property(money, (value) => {
        expect(normalize(value)).toBe(new Decimal(value).toString());
        expect(Object.is(toNumber(value), new Decimal(value).toNumber())).toBe(true);
        const amount = new Decimal(value);
        if (amount.decimalPlaces() <= 12 && !amount.isNegative() && amount.lt('1e24'))
          expect(sortKey(value)).toBe(referenceSortKey(value));
      }),
      params,
    ));

  it('sort keys order amounts numerically', () =>
    fc.assert(
      fc.property(money, money, (a, b) => {
        const order = new Decimal(a).comparedTo(b);
        const keys = sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0;
        expect(keys).toBe(order);
      }),
      params,
    ));

  it('sort keys keep every decimal place: totals apart by less than 1e-12 are not tied', () => {
    const amounts = [
      '0.00000000000020',
      '0',
      '1e-13',
      '0.1',
      '0.10000000000001',
      '-1e-13',
      '-0.1000000000000001',
    ];
    const sorted = [...amounts].sort((a, b) =>
      sortKey(a) < sortKey(b) ? -1 : sortKey(a) > sortKey(b) ? 1 : 0,
    );
    expect(sorted).toEqual([
      '-0.1000000000000001',
      '-1e-13',
      '0',
      '1e-13',
      '0.00000000000020',
      '0.1',
      '0.10000000000001',
    ]);
    expect(sortKey('6.007e1')).toBe(sortKey('60.070'));
  });

  it('normalizes numbers and missing values', () => {
    expect(normalize(60.07)).toBe('60.07');
    expect(normalize(1e-7)).toBe('1e-7');
    expect(normalize(null)).toBe('0');
    expect(normalize(undefined)).toBe('0');
    expect(add('19.99', '19.99', '19.99', '0.10')).toBe('60.07');
    expect(add('0.0000001', '0.0000002')).toBe('3e-7');
  });

  it('never rounds a sum, however many significant digits it needs', () => {
    // A profile's sales of 1e15 and of a millionth (decimal.js's default precision kept 20 digits: 1e15).
    expect(add('1000000000000000', '0.000001')).toBe('1000000000000000.000001');
    // A day whose gross is past 1e19 still counts the cents of the next sale, and net stays gross − returned.
    const gross = add('10004999999999999999.59', '25.34');
    expect(gross).toBe('10005000000000000024.93');
    expect(sub(gross, '25.34')).toBe('10004999999999999999.59');
    expect(add('999999999999999.9', '999999999999999.9', '999999999999999.9')).toBe('2999999999999999.7');
    expect(add('1e15', '5e-324')).toBe(`1000000000000000.${'0'.repeat(323)}5`);
  });
});
