import { AddCartItemsRequestDto } from '../commands/add-cart-items/add-cart-items.request.dto';
import { ReturnItemsRequestDto } from '../commands/return-items/return-items.request.dto';
import { UpdateSessionRequestDto } from '../commands/update-session/update-session.request.dto';
import { ApiError } from '../../errors/api-error';
import { assertDeclaredFields, undeclaredFields, unknownCostFields } from './declared-fields';

const parse = (text: string): unknown => JSON.parse(text);

describe('undeclaredFields', () => {
  it('names the keys no DTO level declares, whatever they are named, with their pointers', () => {
    const body = parse(
      '{"customerSession":{"profileId":"p","toString":1,"__proto__":{},"cartItems":[{"sku":"a","quantity":1},' +
        '{"sku":"b","quantity":1,"hasOwnProperty":1,"product":{"name":"n","constructor":1},' +
        '"additionalCosts":{"toString":{"price":1,"valueOf":1}}}],"additionalCosts":{"s":{"price":1,"a/b":1}}},' +
        '"prototype":1,"responseContent":["customerSession"]}',
    );
    expect(undeclaredFields(UpdateSessionRequestDto, body)).toEqual([
      '/customerSession/toString',
      '/customerSession/__proto__',
      '/customerSession/cartItems/1/hasOwnProperty',
      '/customerSession/cartItems/1/product/constructor',
      '/customerSession/cartItems/1/additionalCosts/toString/valueOf',
      '/customerSession/additionalCosts/s/a~1b',
      '/prototype',
    ]);
  });

  it('lets any key be data in attributes and in the names of costs, and the read-only item fields hold anything', () => {
    const data =
      '{"toString":1,"__proto__":{"constructor":{"valueOf":2}},"prototype":[{"hasOwnProperty":3}]}';
    const costs = '{"toString":{"price":1},"__proto__":{"price":2},"constructor":{"price":3}}';
    const item =
      `{"sku":"a","quantity":1,"attributes":${data},"additionalCosts":${costs},` +
      '"position":{"toString":1},"returnedQuantity":null,"remainingQuantity":"x",' +
      // Talon.One's read-only fields: ignored as the computed ones are, whatever they hold.
      '"catalogItemID":{"valueOf":1},"selectedPriceType":[{"constructor":1}],"adjustmentReferenceId":1,' +
      '"adjustmentEffectiveFrom":{"__proto__":1},"adjustmentEffectiveUntil":null,' +
      '"prices":{"member":{"price":1,"toString":2},"__proto__":{"hasOwnProperty":3}}}';
    expect(
      undeclaredFields(
        UpdateSessionRequestDto,
        parse(`{"customerSession":{"attributes":${data},"additionalCosts":${costs},"cartItems":[${item}]}}`),
      ),
    ).toEqual([]);
    expect(undeclaredFields(AddCartItemsRequestDto, parse(`{"cartItems":[${item},${item}]}`))).toEqual([]);
  });

  it('checks the return body at every level', () => {
    const body = parse(
      '{"return":{"returnedCartItems":[{"position":0,"quantity":1},{"sku":"a","valueOf":1}],"toString":1},' +
        '"constructor":1}',
    );
    expect(undeclaredFields(ReturnItemsRequestDto, body)).toEqual([
      '/return/returnedCartItems/1/valueOf',
      '/return/toString',
      '/constructor',
    ]);
  });

  it('leaves values of the wrong type to the validation pipe', () => {
    const body = parse('{"customerSession":{"cartItems":{"toString":1},"additionalCosts":[{"valueOf":1}]}}');
    expect(undeclaredFields(UpdateSessionRequestDto, body)).toEqual([]);
    expect(
      undeclaredFields(AddCartItemsRequestDto, parse('{"cartItems":[1,null,[{"toString":1}]]}')),
    ).toEqual([]);
  });
});

describe('unknownCostFields', () => {
  it('names the keys beside price in every cost map, session and item, by the path of keys to them', () => {
    const body = parse(
      '{"customerSession":{"additionalCosts":{"ship":{"price":1,"foo":2},"a/b":{"price":1}},"cartItems":[' +
        '{"sku":"a","quantity":1},{"sku":"b","quantity":1,"additionalCosts":{"gift":{"price":1,"":1,"x":1}},' +
        '"attributes":{"additionalCosts":{"c":{"price":1,"y":1}}}}]},"responseContent":[]}',
    );
    // In the order the DTO declares its fields (cartItems before additionalCosts), as the pipe's own errors.
    expect(unknownCostFields(UpdateSessionRequestDto, body)).toEqual([
      ['customerSession', 'cartItems', '1', 'additionalCosts', 'gift', ''],
      ['customerSession', 'cartItems', '1', 'additionalCosts', 'gift', 'x'],
      ['customerSession', 'additionalCosts', 'ship', 'foo'],
    ]);
    expect(
      unknownCostFields(
        AddCartItemsRequestDto,
        parse('{"cartItems":[{"sku":"a","quantity":1,"additionalCosts":{"g":{"price":1,"foo":1}}}]}'),
      ),
    ).toEqual([['cartItems', '0', 'additionalCosts', 'g', 'foo']]);
  });

  it('leaves maps and entries of the wrong type, and a cost named "", to the validators', () => {
    const body = parse(
      '{"customerSession":{"additionalCosts":{"":{"price":1,"foo":1},"s":[{"foo":1}],"t":3},' +
        '"cartItems":{"additionalCosts":{"g":{"foo":1}}}}}',
    );
    expect(unknownCostFields(UpdateSessionRequestDto, body)).toEqual([]);
    expect(unknownCostFields(ReturnItemsRequestDto, parse('{"return":{"returnedCartItems":[]}}'))).toEqual(
      [],
    );
  });
});

describe('assertDeclaredFields', () => {
  it('refuses with 400 UNKNOWN_FIELD, worded as the validation pipe words it', () => {
    let error: unknown;
    try {
      assertDeclaredFields(
        AddCartItemsRequestDto,
        parse('{"cartItems":[{"sku":"a","quantity":1,"valueOf":1}]}'),
      );
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({
      status: 400,
      message: 'Invalid request: Unknown field /cartItems/0/valueOf',
      entries: [
        {
          title: 'UNKNOWN_FIELD',
          details: 'Unknown field /cartItems/0/valueOf',
          pointer: '/cartItems/0/valueOf',
        },
      ],
    });
    expect(() => assertDeclaredFields(AddCartItemsRequestDto, parse('{"cartItems":[]}'))).not.toThrow();
  });
});
