import DecimalJs from 'decimal.js';
import fc from 'fast-check';
import {
  addMoney,
  fastMoneyProduct,
  fastMoneySum,
  fastNormalizeMoney,
  moneyFromNumber,
  moneyToNumber,
  multiplyMoney,
  normalizeMoney,
  subtractMoney,
  sumMoney,
} from './money';

/** The reference: decimal.js configured exactly as the money module was before its integer fast path. */
const Exact = DecimalJs.clone({
  precision: 1000,
  rounding: DecimalJs.ROUND_HALF_EVEN,
  toExpNeg: -9e15,
  toExpPos: 9e15,
});
const exactSum = (values: string[]) => values.reduce((s, v) => s.plus(v), new Exact(0)).toFixed();

const digits = (min: number, max: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });

/** Plain decimal strings: small and big magnitudes, 0–12 fraction digits, leading/trailing zeros, signs. */
const decimalString = fc.oneof(
  {
    arbitrary: fc
      .tuple(fc.boolean(), fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 0, max: 2 }))
      .map(([negative, cents, scale]) => `${negative ? '-' : ''}${(cents / 100).toFixed(scale)}`),
    weight: 4,
  },
  {
    arbitrary: fc
      .tuple(
        fc.constantFrom('', '-'),
        fc.oneof(digits(1, 3), digits(1, 9), digits(1, 16), digits(15, 24)),
        fc.oneof(fc.constant(''), digits(1, 2), digits(1, 6), digits(1, 12), digits(13, 24)),
      )
      .map(([sign, integer, fraction]) => `${sign}${integer}${fraction ? `.${fraction}` : ''}`),
    weight: 8,
  },
  {
    arbitrary: fc.constantFrom(
      '0',
      '-0',
      '0.000',
      '-0.00',
      '19.99',
      '0.10',
      '0.0000001',
      '-0.000000000001',
      '1e-7',
      '1.5e+3',
      '.5',
      '5.',
      '+3',
      '9007199254740991',
      '9007199254740992',
      '-9007199254740991',
      '900719925474099.1',
      '90071992547409.91',
      '0.9007199254740991',
      '1000000000000000',
      '999999999999999.999999999999',
      '0.0000000000000000000001',
      '0.00000000000000000000001',
    ),
    weight: 2,
  },
);

const quantity = fc.oneof(
  fc.integer({ min: 0, max: 10_000 }),
  fc.integer({ min: -1_000_000, max: 1_000_000 }),
  fc.constantFrom(0, -0, 1, Number.MAX_SAFE_INTEGER, 2 ** 40),
);

const params = { numRuns: 3000 };

describe('money: the integer fast path agrees with decimal.js', () => {
  it('adds', () =>
    fc.assert(
      fc.property(decimalString, decimalString, (a, b) => {
        expect(addMoney(a, b)).toBe(exactSum([a, b]));
      }),
      params,
    ));

  it('subtracts', () =>
    fc.assert(
      fc.property(decimalString, decimalString, (a, b) => {
        expect(subtractMoney(a, b)).toBe(new Exact(a).minus(b).toFixed());
      }),
      params,
    ));

  it('multiplies by an integer quantity', () =>
    fc.assert(
      fc.property(decimalString, quantity, (value, units) => {
        expect(multiplyMoney(value, units)).toBe(new Exact(value).times(units).toFixed());
      }),
      params,
    ));

  it('sums many amounts, from arrays and from any iterable', () =>
    fc.assert(
      fc.property(fc.array(decimalString, { maxLength: 60 }), (values) => {
        const expected = exactSum(values);
        expect(sumMoney(values)).toBe(expected);
        expect(sumMoney(new Set(values).size === values.length ? new Set(values) : values)).toBe(expected);
        expect(addMoney(...values)).toBe(expected);
      }),
      { numRuns: 1000 },
    ));

  it('sums many cart-sized amounts on the fast path', () =>
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 100_000_000 }), fc.integer({ min: 0, max: 4 })), {
          maxLength: 200,
        }),
        (parts) => {
          const values = parts.map(([units, scale]) => (units / 10 ** scale).toFixed(scale));
          const fast = fastMoneySum(values);
          expect(fast).toBeDefined();
          expect(fast).toBe(exactSum(values));
        },
      ),
      { numRuns: 500 },
    ));

  it('normalizes and converts to a number', () =>
    fc.assert(
      fc.property(decimalString, (value) => {
        expect(normalizeMoney(value)).toBe(new Exact(value).toFixed());
        expect(Object.is(moneyToNumber(value), new Exact(value).toNumber())).toBe(true);
      }),
      params,
    ));

  it('normalizes amounts of 16 significant digits around 2^53 exactly (where the integer path must give way)', () => {
    // 2^53 = 9007199254740992: the digits 900719925474099 followed by any digit, the point anywhere.
    for (const head of ['900719925474099', '900719925474098', '900719925474100']) {
      for (let digit = 0; digit <= 9; digit++) {
        const digits = `${head}${digit}`;
        for (let point = 1; point < digits.length; point++) {
          const value = `${digits.slice(0, point)}.${digits.slice(point)}`;
          for (const signed of [value, `-${value}`, digits]) {
            expect({ signed, normalized: normalizeMoney(signed) }).toEqual({
              signed,
              normalized: new Exact(signed).toFixed(),
            });
          }
        }
      }
    }
  });

  it('prints any finite number as decimal.js did', () =>
    fc.assert(
      fc.property(fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer()), (n) => {
        expect(moneyFromNumber(n)).toBe(new Exact(String(n)).toFixed());
      }),
      params,
    ));

  it('keeps the canonical form: 3 × 19.99 + 0.10 = 60.07, no "-0", no trailing zeros, no exponent', () => {
    expect(addMoney(multiplyMoney('19.99', 3), '0.10')).toBe('60.07');
    expect(fastMoneySum(['19.99', '19.99', '19.99', '0.10'])).toBe('60.07');
    expect(subtractMoney('0.10', '0.1')).toBe('0');
    expect(multiplyMoney('-0.50', 0)).toBe('0');
    expect(normalizeMoney('-0.000')).toBe('0');
    expect(normalizeMoney('0.0000001')).toBe('0.0000001');
    expect(fastMoneyProduct('0.000000001', 3)).toBe('0.000000003');
    expect(moneyFromNumber(1e-7)).toBe('0.0000001');
    expect(moneyFromNumber(1e21)).toBe('1000000000000000000000');
    expect(fastNormalizeMoney('1e5')).toBeUndefined();
    expect(fastNormalizeMoney('90071992547409911')).toBeUndefined();
    expect(addMoney('9007199254740991', '1')).toBe('9007199254740992');
  });
});
