import { plainToInstance } from 'class-transformer';
import { AddCartItemsRequestDto } from '../sessions/commands/add-cart-items/add-cart-items.request.dto';
import { UpdateSessionRequestDto } from '../sessions/commands/update-session/update-session.request.dto';
import { CartItemDto } from '../sessions/shared/cart-item.dto';
import { freeFormTransformer } from './free-form-transformer';

const transform = <T>(type: new () => T, plain: unknown): T =>
  freeFormTransformer.plainToInstance(type as never, plain) as T;

describe('freeFormTransformer', () => {
  it('gives the instance the client’s own attributes objects, session and cart item, never a copy', () => {
    const sessionAttributes = { tier: 'gold', nested: { attributes: { deep: [1, 2] } } };
    const itemAttributes = { colour: 'red' };
    const plain = {
      customerSession: {
        attributes: sessionAttributes,
        cartItems: [{ sku: 'a', quantity: 1, attributes: itemAttributes }],
      },
    };
    const instance = transform(UpdateSessionRequestDto, plain);
    expect(instance.customerSession.attributes).toBe(sessionAttributes);
    expect(instance.customerSession.cartItems![0]).toBeInstanceOf(CartItemDto);
    expect(instance.customerSession.cartItems![0]!.attributes).toBe(itemAttributes);
    // class-transformer alone copies them key by key (in time that grows with the square of their keys).
    const copied = plainToInstance(UpdateSessionRequestDto, plain);
    expect(copied.customerSession.attributes).not.toBe(sessionAttributes);
    expect(copied.customerSession.attributes).toEqual(sessionAttributes);
  });

  it('leaves the body it was given as it was', () => {
    const text = '{"cartItems":[{"sku":"a","quantity":1,"attributes":{"k":1}},{"sku":"b","quantity":2}]}';
    const plain: unknown = JSON.parse(text);
    const instance = transform(AddCartItemsRequestDto, plain);
    expect(JSON.stringify(plain)).toBe(text);
    expect(instance.cartItems[1]).toBeInstanceOf(CartItemDto);
    expect(instance.cartItems[0]!.attributes).toBe(
      (plain as { cartItems: { attributes: unknown }[] }).cartItems[0]!.attributes,
    );
  });

  it('puts back a free-form value of any kind, wherever the key appears, also beside __proto__', () => {
    const plain = JSON.parse(
      '{"customerSession":{"attributes":[1,2]},"__proto__":{"attributes":{"x":1}},"extra":{"attributes":null}}',
    ) as Record<string, unknown>;
    const instance = transform(UpdateSessionRequestDto, plain) as unknown as {
      customerSession: { attributes: unknown };
      extra: { attributes: unknown };
    };
    expect(instance.customerSession.attributes).toBe(
      (plain.customerSession as { attributes: unknown }).attributes,
    );
    expect(instance.extra).toEqual({ attributes: null });
    expect(Object.getPrototypeOf(instance)).toBe(UpdateSessionRequestDto.prototype);
  });

  it('transforms a body without attributes exactly as class-transformer does', () => {
    const plain = {
      cartItems: [{ sku: 'a', quantity: 1, price: 2.5, additionalCosts: { wrap: { price: 1 } } }],
    };
    expect(transform(AddCartItemsRequestDto, plain)).toEqual(plainToInstance(AddCartItemsRequestDto, plain));
  });
});
