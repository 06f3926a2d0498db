import { diffJson } from './json-diff';

describe('diffJson', () => {
  it('names nested object and array-of-object members by path', () => {
    expect(
      diffJson(
        { state: 'open', cartItems: [{ sku: 'a', returnedQuantity: 0 }] },
        { state: 'closed', cartItems: [{ sku: 'a', returnedQuantity: 1 }, { sku: 'b' }] },
      ),
    ).toEqual([
      { field: 'state', from: 'open', to: 'closed' },
      { field: 'cartItems[0].returnedQuantity', from: 0, to: 1 },
      { field: 'cartItems[1]', from: undefined, to: { sku: 'b' } },
    ]);
  });

  it('compares arrays of scalars as a whole', () => {
    expect(diffJson({ couponCodes: ['A'] }, { couponCodes: ['B', 'C'] })).toEqual([
      { field: 'couponCodes', from: ['A'], to: ['B', 'C'] },
    ]);
  });

  it('reports nothing for equal values whatever their key order', () => {
    expect(diffJson({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 })).toEqual([]);
  });
});
