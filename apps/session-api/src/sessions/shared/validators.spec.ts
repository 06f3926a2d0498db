import { plainToInstance } from 'class-transformer';
import { IsInt, validateSync } from 'class-validator';
import { validationEntries, validationException } from '../../errors/validation-errors';
import type { ApiError } from '../../errors/api-error';
import { AddCartItemsRequestDto } from '../commands/add-cart-items/add-cart-items.request.dto';
import {
  RETURN_RESPONSE_CONTENT,
  ReturnItemsRequestDto,
} from '../commands/return-items/return-items.request.dto';
import {
  RESPONSE_CONTENT,
  UpdateSessionRequestDto,
} from '../commands/update-session/update-session.request.dto';
import {
  DryRunQueryDto,
  dryRunTimeProblem,
  NoQueryParameters,
  QueryAwareValidationPipe,
  ReturnItemsQueryDto,
  UpdateSessionQueryDto,
} from './query.dto';
import { invalidCosts, IsOptionalNotNull, NestedObject, type DtoType } from './validators';

class Leaf {
  @IsInt()
  n: number;
}

class Root {
  @NestedObject(() => Leaf, { message: 'one must be a JSON object' })
  one: Leaf;

  @IsOptionalNotNull()
  @NestedObject(() => Leaf, { each: true, message: 'a leaf must be a JSON object' })
  many?: Leaf[];
}

const problems = (type: new () => object, plain: object) =>
  validationEntries(
    validateSync(plainToInstance(type, plain), {
      whitelist: true,
      forbidNonWhitelisted: true,
      forbidUnknownValues: true,
    }),
  ).map(({ title, pointer, details }) => ({ title, pointer, details }));

describe('NestedObject', () => {
  it('validates an object as its DTO', () => {
    expect(problems(Root, { one: { n: 1 }, many: [{ n: 2 }] })).toEqual([]);
    expect(problems(Root, { one: { n: 'x' }, many: [{ n: 2 }, { n: 'y' }] }).map((p) => p.pointer)).toEqual([
      '/one/n',
      '/many/1/n',
    ]);
  });

  it('refuses an array where an object belongs, once, at its own pointer', () => {
    for (const one of [[], [{ n: 1 }], [{ n: 'x', extra: true }], 5, 'text']) {
      expect(problems(Root, { one })).toEqual([
        { title: 'INVALID_FIELD', pointer: '/one', details: 'one must be a JSON object' },
      ]);
    }
    expect(problems(Root, { one: { n: 1 }, many: [{ n: 1 }, [], [{ n: 1 }], 3] })).toEqual(
      ['/many/1', '/many/2', '/many/3'].map((pointer) => ({
        title: 'INVALID_FIELD',
        pointer,
        details: 'a leaf must be a JSON object',
      })),
    );
  });
});

/** The global pipe, as app.factory.ts configures it. */
const pipe = new QueryAwareValidationPipe({
  whitelist: true,
  forbidNonWhitelisted: true,
  transform: true,
  forbidUnknownValues: true,
  validationError: { target: false, value: false },
  exceptionFactory: validationException,
});

/** What the pipe refuses in the query `query` (as the query parser gives it), as the response's error entries. */
async function refusedQuery(type: DtoType, query: Record<string, unknown>) {
  try {
    await pipe.transform(query, { type: 'query', metatype: type });
    return [];
  } catch (error) {
    return (error as ApiError).entries.map(({ title, pointer, parameter, details }) => ({
      title,
      ...(pointer === undefined ? {} : { pointer }),
      ...(parameter === undefined ? {} : { parameter }),
      details,
    }));
  }
}

/** What the pipe refuses in the body `text` (JSON), as the response's error entries. */
async function refused(type: DtoType, text: string) {
  try {
    await pipe.transform(JSON.parse(text), { type: 'body', metatype: type });
    return [];
  } catch (error) {
    return (error as ApiError).entries.map(({ title, pointer, details }) => ({ title, pointer, details }));
  }
}

describe('query DTOs', () => {
  it('take dry=true|false where there is a dry run, and nothing else, each error at its parameter', async () => {
    expect(await refusedQuery(DryRunQueryDto, {})).toEqual([]);
    expect(await refusedQuery(DryRunQueryDto, { dry: 'true' })).toEqual([]);
    expect(await refusedQuery(DryRunQueryDto, { dry: 'FALSE' })).toEqual([]);
    // Given twice: said so (the simple query parser makes an array of it), not "must be true or false".
    expect(await refusedQuery(DryRunQueryDto, { dry: ['true', 'true'] })).toEqual([
      {
        title: 'INVALID_FIELD',
        parameter: 'dry',
        details: 'dry is given more than once (2 times): send it once, true or false',
      },
    ]);
    expect(await refusedQuery(DryRunQueryDto, { dry: 'yes' })).toEqual([
      { title: 'INVALID_FIELD', parameter: 'dry', details: 'dry must be true or false' },
    ]);
    expect((await refusedQuery(DryRunQueryDto, { dry: { a: 'true' } }))[0]?.parameter).toBe('dry');
    // An unknown parameter, named as it was sent (a "/" in it is no pointer's "~1").
    expect(await refusedQuery(DryRunQueryDto, { Dry: 'true', 'a/b~c': 'x', 'dry[]': 'true' })).toEqual([
      { title: 'UNKNOWN_FIELD', parameter: 'Dry', details: 'Unknown field /Dry' },
      { title: 'UNKNOWN_FIELD', parameter: 'a/b~c', details: 'Unknown field /a~1b~0c' },
      { title: 'UNKNOWN_FIELD', parameter: 'dry[]', details: 'Unknown field /dry[]' },
    ]);
    // Named like a member of Object.prototype: refused before the pipe validates, at its parameter too.
    expect(await refusedQuery(DryRunQueryDto, { toString: '1' })).toEqual([
      { title: 'UNKNOWN_FIELD', parameter: 'toString', details: 'Unknown field /toString' },
    ]);
  });

  it('leave the body its pointers: the same name in the body is a body field, not a parameter', async () => {
    expect(await refused(UpdateSessionRequestDto, '{"customerSession":{},"dry":true}')).toEqual([
      { title: 'UNKNOWN_FIELD', pointer: '/dry', details: 'Unknown field /dry' },
    ]);
  });

  it('take runRuleEngine=true|false on returns, in any letter case, as dry', () => {
    for (const runRuleEngine of ['true', 'false', 'TRUE', 'False'])
      expect(problems(ReturnItemsQueryDto, { dry: 'true', runRuleEngine })).toEqual([]);
    expect(problems(ReturnItemsQueryDto, { runRuleEngine: 'yes' })).toEqual([
      { title: 'INVALID_FIELD', pointer: '/runRuleEngine', details: 'runRuleEngine must be true or false' },
    ]);
    expect(problems(ReturnItemsQueryDto, { runRuleEngine: ['true', 'false'] })).toEqual([
      {
        title: 'INVALID_FIELD',
        pointer: '/runRuleEngine',
        details: 'runRuleEngine is given more than once (2 times): send it once, true or false',
      },
    ]);
    // A PUT has no runRuleEngine, a return no now.
    expect(problems(UpdateSessionQueryDto, { runRuleEngine: 'true' })[0]?.title).toBe('UNKNOWN_FIELD');
    expect(problems(ReturnItemsQueryDto, { dry: 'true', now: '2999-01-01T00:00:00Z' })[0]?.title).toBe(
      'UNKNOWN_FIELD',
    );
  });

  it('take now on PUT with dry=true only: a date-time with its zone, in the future', () => {
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect(problems(UpdateSessionQueryDto, { dry: 'true', now: future })).toEqual([]);
    expect(problems(UpdateSessionQueryDto, { dry: 'TRUE', now: '2999-01-01T00:00:00+01:00' })).toEqual([]);
    const refusal = (query: Record<string, unknown>) => {
      const found = problems(UpdateSessionQueryDto, query);
      expect(found.map(({ title, pointer }) => ({ title, pointer }))).toEqual([
        { title: 'INVALID_FIELD', pointer: '/now' },
      ]);
      return found[0]!.details;
    };
    const needsDry =
      'now needs dry=true: it is the time a dry run is decided at, and only a dry run takes one';
    expect(refusal({ now: future })).toBe(needsDry);
    expect(refusal({ dry: 'false', now: future })).toBe(needsDry);
    expect(refusal({ dry: 'true', now: '2020-01-01T00:00:00Z' })).toMatch(
      /^now must be in the future: 2020-01-01T00:00:00Z is not later than the server's time, \d{4}-/,
    );
    expect(refusal({ dry: 'true', now: '2999-01-01T00:00:00' })).toMatch(/^now has no time zone \(add Z/);
    expect(problems(UpdateSessionQueryDto, { dry: 'true', now: '9999-12-31T23:59:59.999Z' })).toEqual([]);
    expect(refusal({ dry: 'true', now: '9999-12-31T23:59:59-12:00' })).toBe(
      'now must be at most 9999-12-31T23:59:59.999Z: a later one has no RFC 3339 form (9999-12-31T23:59:59-12:00)',
    );
  });

  it("words each reason now is refused for, against the server's clock", () => {
    const clock = Date.parse('2030-01-01T00:00:00.000Z');
    const dry = { dry: 'true' };
    const form =
      'a date-time in the future with its zone, 2030-03-01T12:00:00Z or 2030-03-01T12:00:00+01:00 (RFC 3339; ' +
      'seconds and fractions optional)';
    expect(dryRunTimeProblem('2030-01-01T00:00:00.001Z', dry, clock)).toBeUndefined();
    expect(dryRunTimeProblem('2030-01-01T01:00:00.001+01:00', dry, clock)).toBeUndefined();
    expect(dryRunTimeProblem('2030-01-01T00:00Z', dry, clock)).toBe(
      "now must be in the future: 2030-01-01T00:00Z is not later than the server's time, 2030-01-01T00:00:00.000Z",
    );
    expect(dryRunTimeProblem('2030-01-01T00:59:59.999+01:00', dry, clock)).toMatch(
      /^now must be in the future/,
    );
    for (const [value, reason] of [
      ['2031-01-01', 'is not a date-time'],
      ['tomorrow', 'is not a date-time'],
      ['', 'is not a date-time'],
      ['2031-01-01T00:00:00', 'has no time zone (add Z for UTC)'],
      ['2031-02-30T00:00:00Z', 'is not a valid date or time'],
    ])
      expect(dryRunTimeProblem(value, dry, clock)).toBe(`now ${reason}: give ${form}`);
    expect(dryRunTimeProblem('2031-01-01T12:00:00 01:00', dry, clock)).toBe(
      'now has a space where its zone\'s + belongs ("2031-01-01T12:00:00 01:00"): a query string decodes an ' +
        'unencoded + as a space. Encode the + as %2B: now=2031-01-01T12:00:00%2B01:00',
    );
    expect(dryRunTimeProblem(['2031-01-01T00:00:00Z', '2032-01-01T00:00:00Z'], dry, clock)).toBe(
      `now is given more than once (2 times): send it once, ${form}`,
    );
    // Without dry=true that comes first; an invalid dry is refused on its own.
    expect(dryRunTimeProblem('2020-01-01', {}, clock)).toMatch(/^now needs dry=true/);
    expect(dryRunTimeProblem('2031-01-01T00:00:00Z', { dry: 'maybe' }, clock)).toBeUndefined();
  });

  it('refuse any parameter, dry included, where there is none', () => {
    const refusal = (query: Record<string, unknown>) => {
      try {
        new NoQueryParameters().transform(query);
        return [];
      } catch (error) {
        return (error as ApiError).entries;
      }
    };
    expect(refusal({})).toEqual([]);
    expect(refusal({ dry: 'true' })).toEqual([
      {
        title: 'UNKNOWN_FIELD',
        parameter: 'dry',
        details: 'Unknown field /dry: this endpoint has no dry run',
      },
    ]);
    expect(refusal({ force: '1', 'a/b': 'x' })).toEqual([
      { title: 'UNKNOWN_FIELD', parameter: 'force', details: 'Unknown field /force' },
      { title: 'UNKNOWN_FIELD', parameter: 'a/b', details: 'Unknown field /a~1b' },
    ]);
  });
});

describe('cost maps (IsPriceMap and the pipe)', () => {
  const session = (costs: string) => `{"customerSession":{"additionalCosts":${costs}}}`;

  it("names a bad price at the cost's own price, saying what is wrong, as a cart item's", async () => {
    for (const [price, details] of [
      ['-1', 'price must not be less than 0'],
      ['"abc"', 'price must be a finite number'],
      ['"1"', 'price must be a finite number'],
      ['1e400', 'price must be a finite number'],
      ['true', 'price must be a finite number'],
      ['{}', 'price must be a finite number'],
      ['null', 'price is required: a finite number ≥ 0'],
    ]) {
      expect(
        await refused(UpdateSessionRequestDto, session(`{"ok":{"price":1},"shipping":{"price":${price}}}`)),
      ).toEqual([
        { title: 'INVALID_FIELD', pointer: '/customerSession/additionalCosts/shipping/price', details },
      ]);
      // The same words as a cart item's price.
      if (details !== 'price is required: a finite number ≥ 0')
        expect(
          await refused(
            UpdateSessionRequestDto,
            `{"customerSession":{"cartItems":[{"sku":"a","quantity":1,"price":${price}}]}}`,
          ),
        ).toEqual([{ title: 'INVALID_FIELD', pointer: '/customerSession/cartItems/0/price', details }]);
    }
  });

  it('names every bad entry, item costs and added items too, beside the unknown fields', async () => {
    expect(
      await refused(
        UpdateSessionRequestDto,
        '{"customerSession":{"additionalCosts":{"a/b":{},"c":7,"d":{"price":-2,"foo":1}},"cartItems":' +
          '[{"sku":"a","quantity":1,"additionalCosts":{"gift":{"price":"x"}}}]}}',
      ),
    ).toEqual([
      {
        title: 'INVALID_FIELD',
        pointer: '/customerSession/cartItems/0/additionalCosts/gift/price',
        details: 'price must be a finite number',
      },
      {
        title: 'INVALID_FIELD',
        pointer: '/customerSession/additionalCosts/a~1b/price',
        details: 'price is required: a finite number ≥ 0',
      },
      {
        title: 'INVALID_FIELD',
        pointer: '/customerSession/additionalCosts/c',
        details: 'a cost must be a JSON object {"price": <finite number ≥ 0>}',
      },
      {
        title: 'INVALID_FIELD',
        pointer: '/customerSession/additionalCosts/d/price',
        details: 'price must not be less than 0',
      },
      {
        title: 'UNKNOWN_FIELD',
        pointer: '/customerSession/additionalCosts/d/foo',
        details: 'Unknown field /customerSession/additionalCosts/d/foo',
      },
    ]);
    expect(
      await refused(
        AddCartItemsRequestDto,
        '{"cartItems":[{"sku":"a","quantity":1},{"sku":"b","quantity":1,"additionalCosts":{"g":{"price":-0.01}}}]}',
      ),
    ).toEqual([
      {
        title: 'INVALID_FIELD',
        pointer: '/cartItems/1/additionalCosts/g/price',
        details: 'price must not be less than 0',
      },
    ]);
  });

  it('refuses at the map a map that is no object or has a name out of bounds, and takes good maps', async () => {
    const atMap = {
      title: 'INVALID_FIELD',
      pointer: '/customerSession/additionalCosts',
      details: 'additionalCosts must map names (1..1000 characters) to {"price": <finite number ≥ 0>}',
    };
    const emoji = (count: number) => '\u{1F600}'.repeat(count);
    for (const costs of [
      '[]',
      '5',
      '{"":{"price":1}}',
      `{"${'n'.repeat(1001)}":{"price":1}}`,
      `{"${emoji(1001)}":{"price":1}}`,
    ])
      expect(await refused(UpdateSessionRequestDto, session(costs))).toEqual([atMap]);
    expect(
      await refused(UpdateSessionRequestDto, session('{"shipping":{"price":4.99},"gift":{"price":0}}')),
    ).toEqual([]);
    // Characters are code points, as for every other text: 1,000 emoji are 2,000 UTF-16 units.
    expect(await refused(UpdateSessionRequestDto, session(`{"${emoji(1000)}":{"price":1}}`))).toEqual([]);
    expect(await refused(UpdateSessionRequestDto, session('{}'))).toEqual([]);
  });

  it('invalidCosts: the path of keys to each fault', () => {
    expect(
      invalidCosts(UpdateSessionRequestDto, {
        customerSession: { additionalCosts: { s: { price: Number.NaN }, t: null, u: { price: 1 } } },
      }),
    ).toEqual([
      {
        path: ['customerSession', 'additionalCosts', 's', 'price'],
        constraint: 'isNumber',
        message: 'price must be a finite number',
      },
      {
        path: ['customerSession', 'additionalCosts', 't'],
        constraint: 'isObject',
        message: 'a cost must be a JSON object {"price": <finite number ≥ 0>}',
      },
    ]);
  });
});

describe('entries of an array of scalars (each: true, and the pipe)', () => {
  const session = (fields: string) => `{"customerSession":{${fields}}}`;

  it("names each bad entry at its own pointer, once, in the domain's words", async () => {
    expect(
      await refused(UpdateSessionRequestDto, session(`"couponCodes":["OK","","${'c'.repeat(101)}",null,5]`)),
    ).toEqual([
      {
        title: 'INVALID_FIELD',
        pointer: '/customerSession/couponCodes/1',
        details: '/customerSession/couponCodes/1 must be 1..100 characters long',
      },
      {
        title: 'INVALID_FIELD',
        pointer: '/customerSession/couponCodes/2',
        details: '/customerSession/couponCodes/2 must be 1..100 characters long',
      },
      // A value of the wrong type gets its type error alone, as a field does.
      {
        title: 'INVALID_FIELD',
        pointer: '/customerSession/couponCodes/3',
        details: '/customerSession/couponCodes/3 must be a string',
      },
      {
        title: 'INVALID_FIELD',
        pointer: '/customerSession/couponCodes/4',
        details: '/customerSession/couponCodes/4 must be a string',
      },
    ]);
    expect(await refused(UpdateSessionRequestDto, session('"couponCodes":["OK","A"]'))).toEqual([]);
  });

  it('keeps a limit of the array itself at the array, beside its bad entries', async () => {
    expect(await refused(UpdateSessionRequestDto, session('"loyaltyCards":["a",""]'))).toEqual([
      {
        title: 'INVALID_FIELD',
        pointer: '/customerSession/loyaltyCards',
        details: 'loyaltyCards must contain no more than 1 elements',
      },
      {
        title: 'INVALID_FIELD',
        pointer: '/customerSession/loyaltyCards/1',
        details: '/customerSession/loyaltyCards/1 must be 1..1000 characters long',
      },
    ]);
    // Not an array: that alone, at the field.
    expect(await refused(UpdateSessionRequestDto, session('"identifiers":"a"'))).toEqual([
      {
        title: 'INVALID_FIELD',
        pointer: '/customerSession/identifiers',
        details: 'identifiers must be an array',
      },
    ]);
  });

  it('does so for every each-validator: integers and enums too', async () => {
    expect(await refused(UpdateSessionRequestDto, session('"evaluableCampaignIds":[1,"2",3.5]'))).toEqual([
      {
        title: 'INVALID_FIELD',
        pointer: '/customerSession/evaluableCampaignIds/1',
        details: '/customerSession/evaluableCampaignIds/1 must be an integer number',
      },
      {
        title: 'INVALID_FIELD',
        pointer: '/customerSession/evaluableCampaignIds/2',
        details: '/customerSession/evaluableCampaignIds/2 must be an integer number',
      },
    ]);
    expect(
      await refused(UpdateSessionRequestDto, '{"customerSession":{},"responseContent":["coupons","all"]}'),
    ).toEqual([
      {
        title: 'INVALID_FIELD',
        pointer: '/responseContent/1',
        details: expect.stringMatching(
          /^\/responseContent\/1 must be one of the following values: customerSession, /,
        ),
      },
    ]);
  });
});

describe('responseContent', () => {
  it("accepts every one of Talon.One's values on a PUT, and refuses another at its entry", async () => {
    expect(RESPONSE_CONTENT).toHaveLength(13);
    const body = (values: unknown[]) => JSON.stringify({ customerSession: {}, responseContent: values });
    expect(await refused(UpdateSessionRequestDto, body([...RESPONSE_CONTENT]))).toEqual([]);
    for (const value of ['previousReturns', 'campaignEligibility', 'achievements', 'unlockedRewards'])
      expect(await refused(UpdateSessionRequestDto, body([value]))).toEqual([]);
    expect(await refused(UpdateSessionRequestDto, body(['coupons', 'return']))).toEqual([
      {
        title: 'INVALID_FIELD',
        pointer: '/responseContent/1',
        details: `/responseContent/1 must be one of the following values: ${RESPONSE_CONTENT.join(', ')}`,
      },
    ]);
  });

  it("accepts Talon.One's return values on a return, refused at the entry otherwise, as a PUT's", async () => {
    const body = (values: unknown) =>
      JSON.stringify({ return: { returnedCartItems: [{ position: 0 }] }, responseContent: values });
    expect(await refused(ReturnItemsRequestDto, body([...RETURN_RESPONSE_CONTENT]))).toEqual([]);
    expect(await refused(ReturnItemsRequestDto, body([]))).toEqual([]);
    // A PUT's value that a return does not take, and a value of the wrong type.
    expect(await refused(ReturnItemsRequestDto, body(['customerSession', 'achievements', 7]))).toEqual([
      {
        title: 'INVALID_FIELD',
        pointer: '/responseContent/1',
        details: `/responseContent/1 must be one of the following values: ${RETURN_RESPONSE_CONTENT.join(', ')}`,
      },
      {
        title: 'INVALID_FIELD',
        pointer: '/responseContent/2',
        details: `/responseContent/2 must be one of the following values: ${RETURN_RESPONSE_CONTENT.join(', ')}`,
      },
    ]);
    expect(await refused(ReturnItemsRequestDto, body('previousReturns'))).toEqual([
      { title: 'INVALID_FIELD', pointer: '/responseContent', details: 'responseContent must be an array' },
    ]);
    // Any other field beside return stays unknown.
    expect(
      await refused(
        ReturnItemsRequestDto,
        '{"return":{"returnedCartItems":[{"position":0}]},"responseContent":[],"dry":true}',
      ),
    ).toEqual([{ title: 'UNKNOWN_FIELD', pointer: '/dry', details: 'Unknown field /dry' }]);
  });
});
