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

  it('tells a key holding a dot or brackets from a nested key or an array index', () => {
    const dotted = diffJson({ attributes: {} }, { attributes: { 'a.b': 1 } });
    const nested = diffJson({ attributes: {} }, { attributes: { a: { b: 1 } } });
    const bracketed = diffJson({ attributes: {} }, { attributes: { 'c[0]': 1 } });
    expect(dotted).toEqual([{ field: 'attributes["a.b"]', from: undefined, to: 1 }]);
    expect(nested).toEqual([{ field: 'attributes.a', from: undefined, to: { b: 1 } }]);
    expect(diffJson({ attributes: { a: { b: 0 } } }, { attributes: { a: { b: 1 } } })).toEqual([
      { field: 'attributes.a.b', from: 0, to: 1 },
    ]);
    expect(bracketed).toEqual([{ field: 'attributes["c[0]"]', from: undefined, to: 1 }]);
    expect(diffJson({ c: [{ x: 0 }] }, { c: [{ x: 1 }] })).toEqual([{ field: 'c[0].x', from: 0, to: 1 }]);
  });

  it('writes any key that is no plain identifier as a JSON string, at the top too', () => {
    const changes = diffJson(
      {},
      { '': 1, 'a b': 2, 'q"\\': 3, 'x\ny': 4, café: 5, '0': 6, _ok9: 7, '["a"]': 8 },
    ).map((c) => c.field);
    expect(changes.sort()).toEqual(
      ['[""]', '["a b"]', '["q\\"\\\\"]', '["x\\ny"]', '["café"]', '["0"]', '_ok9', '["[\\"a\\"]"]'].sort(),
    );
  });
});
