import { canonicalJson, hashCanonical } from './canonical-json';

describe('canonicalJson', () => {
  it('hashes bodies that are equal as JSON the same, whatever the key order', () => {
    const a = {
      customerSession: { profileId: 'p', cartItems: [{ sku: 'a', quantity: 1 }] },
      responseContent: ['customerSession'],
    };
    const b = {
      responseContent: ['customerSession'],
      customerSession: { cartItems: [{ quantity: 1, sku: 'a' }], profileId: 'p' },
    };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(hashCanonical(a)).toBe(hashCanonical(b));
  });

  it('treats 1.0 and 1 as the same number, as JSON does', () => {
    expect(hashCanonical(JSON.parse('{"price": 1.0}'))).toBe(hashCanonical({ price: 1 }));
  });

  it('tells apart bodies that differ in array order or in a value', () => {
    expect(hashCanonical({ couponCodes: ['a', 'b'] })).not.toBe(hashCanonical({ couponCodes: ['b', 'a'] }));
    expect(hashCanonical({ quantity: 1 })).not.toBe(hashCanonical({ quantity: '1' }));
    expect(hashCanonical({ a: null })).not.toBe(hashCanonical({}));
  });

  it('prints nested structures in sorted, compact form', () => {
    expect(canonicalJson({ b: [1, { d: true, c: null }], a: 'x' })).toBe(
      '{"a":"x","b":[1,{"c":null,"d":true}]}',
    );
  });
});
