import { plainToInstance } from 'class-transformer';
import { IsInt, validateSync } from 'class-validator';
import { validationEntries, validationException } from '../../errors/validation-errors';
import type { ApiError } from '../../errors/api-error';
import { AddCartItemsRequestDto } from '../commands/add-cart-items/add-cart-items.request.dto';
import { UpdateSessionRequestDto } from '../commands/update-session/update-session.request.dto';
import { DryRunQueryDto, NoQueryParameters, QueryAwareValidationPipe } from './query.dto';
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

describe('query DTOs', () => {
  it('take dry=true|false where there is a dry run, and nothing else', () => {
    expect(problems(DryRunQueryDto, {})).toEqual([]);
    expect(problems(DryRunQueryDto, { dry: 'true' })).toEqual([]);
    // Given twice: said so (the simple query parser makes an array of it), not "must be true or false".
    expect(problems(DryRunQueryDto, { dry: ['true', 'true'] })).toEqual([
      {
        title: 'INVALID_FIELD',
        pointer: '/dry',
        details: 'dry is given more than once (2 times): send it once, true or false',
      },
    ]);
    expect(problems(DryRunQueryDto, { dry: { a: 'true' } })[0]?.pointer).toBe('/dry');
    expect(problems(DryRunQueryDto, { Dry: 'true' })).toEqual([
      { title: 'UNKNOWN_FIELD', pointer: '/Dry', details: 'Unknown field /Dry' },
    ]);
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
        pointer: '/dry',
        details: 'Unknown field /dry: this endpoint has no dry run',
      },
    ]);
    expect(refusal({ force: '1', 'a/b': 'x' })).toEqual([
      { title: 'UNKNOWN_FIELD', pointer: '/force', details: 'Unknown field /force' },
      { title: 'UNKNOWN_FIELD', pointer: '/a~1b', details: 'Unknown field /a~1b' },
    ]);
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

/** What the pipe refuses in the body `text` (JSON), as the response's error entries. */
async function refused(type: DtoType, text: string) {
  try {
    await pipe.transform(JSON.parse(text), { type: 'body', metatype: type });
    return [];
  } catch (error) {
    return (error as ApiError).entries.map(({ title, pointer, details }) => ({ title, pointer, details }));
  }
}

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
    for (const costs of ['[]', '5', '{"":{"price":1}}', `{"${'n'.repeat(1001)}":{"price":1}}`])
      expect(await refused(UpdateSessionRequestDto, session(costs))).toEqual([atMap]);
    expect(
      await refused(UpdateSessionRequestDto, session('{"shipping":{"price":4.99},"gift":{"price":0}}')),
    ).toEqual([]);
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
