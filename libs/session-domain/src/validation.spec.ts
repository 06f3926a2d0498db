import { DeciderSpecification } from '@session-engine/testing';
import type { CartItemInput, SessionCommand, SessionPatch } from './commands';
import { decide } from './decide';
import type { SessionEvent } from './events';
import { evolve } from './evolve';
import { addItems, HISTORIES, update } from './spec-fixtures';
import type { SessionState } from './state';

const spec = DeciderSpecification.for<SessionCommand, SessionEvent, SessionState | null>({
  decide,
  evolve,
  initialState: () => null,
});
const accepts = (patch: SessionPatch) =>
  spec
    .given([])
    .when(update(patch))
    .thenEvents((events) => expect(events.length).toBeGreaterThan(0));
const refuses = (patch: SessionPatch, pointer: string, code = 'INVALID_FIELD') =>
  spec.given([]).when(update(patch)).thenThrows(code, { pointer, category: 'invalid' });

const items = (count: number, quantity = 1): CartItemInput[] =>
  Array.from({ length: count }, (_, i) => ({ sku: `SKU-${i}`, quantity }));

describe('cart limits per request', () => {
  it('accepts 1000 cart items', () => accepts({ cartItems: items(1000) }));
  it('refuses 1001 cart items (LIMIT_EXCEEDED)', () =>
    refuses({ cartItems: items(1001) }, '/cartItems', 'LIMIT_EXCEEDED'));
  it('accepts quantities adding up to 10 000', () => accepts({ cartItems: items(10, 1000) }));
  it('refuses quantities adding up to 10 001 (LIMIT_EXCEEDED)', () =>
    refuses({ cartItems: [...items(10, 1000), { sku: 'X', quantity: 1 }] }, '/cartItems', 'LIMIT_EXCEEDED'));
  it('applies the same limits to AddCartItems', () => {
    spec
      .given(HISTORIES.open())
      .when(addItems([{ sku: 'X', quantity: 10_001 }]))
      .thenThrows('LIMIT_EXCEEDED', { pointer: '/cartItems' });
  });
});

describe('cart item fields', () => {
  const item = (fields: Record<string, unknown>) => ({
    cartItems: [{ sku: 'A', quantity: 1, ...fields }] as never,
  });
  it.each([
    ['a missing sku', { sku: undefined }, '/cartItems/0/sku'],
    ['an empty sku', { sku: '' }, '/cartItems/0/sku'],
    ['a sku of 1001 characters', { sku: 'x'.repeat(1001) }, '/cartItems/0/sku'],
    ['a missing quantity', { quantity: undefined }, '/cartItems/0/quantity'],
    ['a quantity of 0', { quantity: 0 }, '/cartItems/0/quantity'],
    ['a fractional quantity', { quantity: 1.5 }, '/cartItems/0/quantity'],
    ['a quantity beyond safe integers', { quantity: 2 ** 53 }, '/cartItems/0/quantity'],
    ['a quantity given as a string', { quantity: '1' }, '/cartItems/0/quantity'],
    ['a negative price', { price: -0.01 }, '/cartItems/0/price'],
    ['a NaN price', { price: NaN }, '/cartItems/0/price'],
    ['an infinite price', { price: Infinity }, '/cartItems/0/price'],
    ['a price above 1e15', { price: 1e15 + 2 }, '/cartItems/0/price'],
    ['a negative weight', { weight: -1 }, '/cartItems/0/weight'],
    ['an infinite height', { height: Infinity }, '/cartItems/0/height'],
    ['a NaN width', { width: NaN }, '/cartItems/0/width'],
    ['a length given as a string', { length: '3' }, '/cartItems/0/length'],
    ['a product without a name', { product: {} }, '/cartItems/0/product/name'],
    ['a product that is a string', { product: 'lamp' }, '/cartItems/0/product'],
    ['a name that is not a string', { name: 7 }, '/cartItems/0/name'],
    ['a category of 1001 characters', { category: 'c'.repeat(1001) }, '/cartItems/0/category'],
    ['attributes that are an array', { attributes: [] }, '/cartItems/0/attributes'],
    ['attributes holding NaN', { attributes: { a: { b: NaN } } }, '/cartItems/0/attributes/a/b'],
    [
      'an item cost with a negative price',
      { additionalCosts: { wrap: { price: -1 } } },
      '/cartItems/0/additionalCosts/wrap/price',
    ],
    [
      'an item cost without a price',
      { additionalCosts: { wrap: {} } },
      '/cartItems/0/additionalCosts/wrap/price',
    ],
    ['an item cost that is a number', { additionalCosts: { wrap: 1 } }, '/cartItems/0/additionalCosts/wrap'],
    ['item costs that are an array', { additionalCosts: [] }, '/cartItems/0/additionalCosts'],
  ])('refuses %s', (_name, fields, pointer) => refuses(item(fields), pointer));

  it('refuses a cart item that is not an object', () =>
    refuses({ cartItems: [null] as never }, '/cartItems/0'));
  it('refuses cartItems that are not an array', () => refuses({ cartItems: {} as never }, '/cartItems'));
  it('accepts a sku of 1000 characters and a quantity of 1', () => accepts(item({ sku: 's'.repeat(1000) })));
  it('refuses an added item without a quantity', () => {
    spec
      .given(HISTORIES.open())
      .when(addItems([{ sku: 'A', quantity: 1 }, { sku: 'B' } as never]))
      .thenThrows('INVALID_FIELD', { pointer: '/cartItems/1/quantity' });
  });
  it('accepts a price of 0 and of exactly 1e15', () => {
    accepts(item({ price: 0, weight: 0 }));
    accepts(item({ price: 1e15 }));
  });
  it('points at the failing item by index', () =>
    refuses({ cartItems: [...items(3), { sku: 'BAD', quantity: -2 }] }, '/cartItems/3/quantity'));
});

describe('session fields', () => {
  it.each([
    ['an empty integrationId', ''],
    ['an integrationId of 1001 characters', 'i'.repeat(1001)],
  ])('refuses %s', (_name, integrationId) => {
    spec
      .given([])
      .when({ ...update({}), integrationId })
      .thenThrows('INVALID_FIELD', { pointer: '/integrationId' });
  });
  it('accepts an integrationId of 1000 characters', () => {
    spec
      .given([])
      .when({ ...update({}), integrationId: 'i'.repeat(1000) })
      .thenEvents((events) => expect(events).toHaveLength(1));
  });

  it('accepts coupon codes of 100 characters', () => accepts({ couponCodes: ['c'.repeat(100)] }));
  it('refuses a coupon code of 101 characters', () =>
    refuses({ couponCodes: ['ok', 'c'.repeat(101)] }, '/couponCodes/1'));
  it('counts characters, not UTF-16 units: 100 emoji make a valid coupon code', () =>
    accepts({ couponCodes: ['🎁'.repeat(100)] }));
  it('refuses an empty coupon code', () => refuses({ couponCodes: [''] }, '/couponCodes/0'));
  it('accepts 100 coupon codes and refuses 101', () => {
    accepts({ couponCodes: Array.from({ length: 100 }, (_, i) => `C${i}`) });
    refuses({ couponCodes: Array.from({ length: 101 }, (_, i) => `C${i}`) }, '/couponCodes');
  });
  it('refuses coupon codes that are not a list', () =>
    refuses({ couponCodes: 'SUMMER' as never }, '/couponCodes'));
  it('accepts a referral code of 100 characters, and an empty one', () => {
    accepts({ referralCode: 'r'.repeat(100) });
    accepts({ referralCode: '', couponCodes: ['A'] });
  });
  it('refuses a referral code of 101 characters', () =>
    refuses({ referralCode: 'r'.repeat(101) }, '/referralCode'));
  it('accepts one loyalty card and refuses 2', () => {
    accepts({ loyaltyCards: ['card-1'] });
    refuses({ loyaltyCards: ['card-1', 'card-2'] }, '/loyaltyCards');
  });
  it('accepts 5 identifiers and refuses 6', () => {
    accepts({ identifiers: ['1', '2', '3', '4', '5'] });
    refuses({ identifiers: ['1', '2', '3', '4', '5', '6'] }, '/identifiers');
  });
  it('accepts a profileId of 1000 characters and an empty one (anonymous)', () => {
    accepts({ profileId: 'p'.repeat(1000) });
    accepts({ profileId: '', couponCodes: ['A'] });
  });
  it('refuses a profileId of 1001 characters', () => refuses({ profileId: 'p'.repeat(1001) }, '/profileId'));
  it('accepts a storeIntegrationId of 1000 characters', () =>
    accepts({ storeIntegrationId: 's'.repeat(1000) }));
  it('refuses an empty storeIntegrationId', () => refuses({ storeIntegrationId: '' }, '/storeIntegrationId'));
  it('refuses a storeIntegrationId of 1001 characters', () =>
    refuses({ storeIntegrationId: 's'.repeat(1001) }, '/storeIntegrationId'));
  it('refuses evaluableCampaignIds that are not positive integers', () => {
    refuses({ evaluableCampaignIds: [1, 1.5] }, '/evaluableCampaignIds/1');
    refuses({ evaluableCampaignIds: 3 as never }, '/evaluableCampaignIds');
    refuses({ evaluableCampaignIds: Array.from({ length: 1001 }, (_, i) => i + 1) }, '/evaluableCampaignIds');
  });
  it('refuses a patch that is not an object', () => refuses(null as never, ''));
});

describe('attributes', () => {
  /** An object whose JSON.stringify is exactly `bytes` bytes of UTF-8. */
  const ofSize = (bytes: number, filler = 'a') => ({
    k: filler.repeat((bytes - '{"k":""}'.length) / Buffer.byteLength(filler)),
  });

  it('accepts attributes of exactly 64 KiB serialized', () => accepts({ attributes: ofSize(65536) }));
  it('refuses attributes of 64 KiB + 1 byte serialized', () =>
    refuses({ attributes: ofSize(65537) }, '/attributes'));
  it('counts UTF-8 bytes, not characters', () => {
    expect(JSON.stringify(ofSize(65538, 'é')).length).toBeLessThan(65536);
    refuses({ attributes: ofSize(65538, 'é') }, '/attributes');
    accepts({ attributes: ofSize(65536, '😀') });
    refuses({ attributes: ofSize(65540, '😀') }, '/attributes');
  });
  it('refuses attributes that are an array', () => refuses({ attributes: [1] as never }, '/attributes'));
  it('refuses attributes holding Infinity', () =>
    refuses({ attributes: { n: [Infinity] } }, '/attributes/n/0'));
  it('refuses attributes holding a Date instance', () =>
    refuses({ attributes: { at: new Date(0) } }, '/attributes/at'));
  it('refuses attributes holding undefined', () =>
    refuses({ attributes: { gone: undefined } }, '/attributes/gone'));
  it('escapes keys in the pointer', () => refuses({ attributes: { 'a/b~c': NaN } }, '/attributes/a~1b~0c'));
  it('refuses attributes nested deeper than 64 levels', () => {
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 70; i++) deep = { d: deep };
    spec
      .given([])
      .when(update({ attributes: deep }))
      .thenThrows('INVALID_FIELD');
  });
  it('accepts attributes with a "__proto__" key as plain data', () => {
    const attributes = JSON.parse('{"__proto__": {"polluted": true}, "x": 1}');
    spec
      .given([])
      .when(update({ attributes, additionalCosts: JSON.parse('{"__proto__": {"price": 1}}') }))
      .thenEvents((_events, _before, after) => {
        expect(Object.keys(after!.attributes)).toEqual(['__proto__', 'x']);
        expect(Object.keys(after!.additionalCosts)).toEqual(['__proto__']);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      });
  });
});

describe('session-level additional costs', () => {
  it('refuses a negative price', () =>
    refuses({ additionalCosts: { shipping: { price: -5 } } }, '/additionalCosts/shipping/price'));
  it('refuses a NaN price', () =>
    refuses({ additionalCosts: { shipping: { price: NaN } } }, '/additionalCosts/shipping/price'));
  it('refuses an empty cost name', () =>
    refuses({ additionalCosts: { '': { price: 1 } } }, '/additionalCosts/'));
  it('accepts 100 costs and refuses 101', () => {
    const costs = (n: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`c${i}`, { price: 1 }]));
    accepts({ additionalCosts: costs(100) });
    refuses({ additionalCosts: costs(101) }, '/additionalCosts');
  });
});

describe('order of checks', () => {
  it('answers bad input with a 400 even on a session whose state would refuse the command (409)', () => {
    spec
      .given(HISTORIES.cancelled())
      .when(update({ state: 'closed', couponCodes: ['c'.repeat(101)] }))
      .thenThrows('INVALID_FIELD', { pointer: '/couponCodes/0' });
  });

  it('treats a session id that is not a safe positive integer as a programming error on creation', () => {
    expect(() => decide({ ...update({}), sessionId: -1 }, null)).toThrow('UpdateSession.sessionId');
  });
});

describe('the NUL character (U+0000)', () => {
  it.each<[string, SessionPatch, string]>([
    ['profileId', { profileId: 'p\u0000' }, '/profileId'],
    ['storeIntegrationId', { storeIntegrationId: '\u0000' }, '/storeIntegrationId'],
    ['a coupon code', { couponCodes: ['OK', 'BAD\u0000'] }, '/couponCodes/1'],
    ['referralCode', { referralCode: 'r\u0000' }, '/referralCode'],
    ['a loyalty card', { loyaltyCards: ['\u0000'] }, '/loyaltyCards/0'],
    ['an identifier', { identifiers: ['id\u0000'] }, '/identifiers/0'],
    ['a sku', { cartItems: [{ sku: 'A\u0000', quantity: 1 }] }, '/cartItems/0/sku'],
    [
      'a product name',
      { cartItems: [{ sku: 'A', quantity: 1, product: { name: '\u0000' } }] },
      '/cartItems/0/product/name',
    ],
    ['a cost name', { additionalCosts: { 'ship\u0000': { price: 1 } } }, '/additionalCosts/ship\u0000'],
    ['an attribute value, deep', { attributes: { a: [{ b: 'x\u0000' }] } }, '/attributes/a/0/b'],
    ['an attribute key', { attributes: { ok: 1, 'k\u0000': 1 } }, '/attributes/k\u0000'],
    [
      'an item attribute',
      { cartItems: [{ sku: 'A', quantity: 1, attributes: { n: '\u0000' } }] },
      '/cartItems/0/attributes/n',
    ],
  ])('is refused in %s', (_field, patch, pointer) => refuses(patch, pointer));

  it('is refused in the session id, by every command', () => {
    spec
      .given([])
      .when({ ...update({}), integrationId: 'checkout\u0000' })
      .thenThrows('INVALID_FIELD', { pointer: '/integrationId', category: 'invalid' });
    spec
      .given(HISTORIES.open())
      .when({ ...addItems([{ sku: 'X', quantity: 1 }]), integrationId: 'checkout\u0000' })
      .thenThrows('INVALID_FIELD', { pointer: '/integrationId' });
  });

  it('leaves other control characters and any other text alone', () =>
    accepts({ profileId: 'tab\there', couponCodes: ['ẞ😀'], attributes: { note: 'line\nbreak\u0001' } }));
});
