import { canonicalJson, findNonJson, jsonEqual, utf8Length } from './json';

describe('json helpers', () => {
  it('measures UTF-8 bytes like Buffer.byteLength, lone surrogates included', () => {
    const texts = [
      '',
      'abc',
      'é',
      '€',
      '😀',
      'a😀é€',
      '\ud800',
      '\ud800x',
      'x\udc00',
      '\ud83d',
      '\x7f\x80',
      'ab\ud83d',
    ];
    for (const text of [...texts, ...texts.map((text) => `${'x'.repeat(1000)}${text}y`)]) {
      expect(utf8Length(text)).toBe(Buffer.byteLength(text, 'utf8'));
    }
  });

  it('treats objects with the same members in another key order as equal, arrays in another order as not', () => {
    expect(jsonEqual({ a: 1, b: { c: [1, { d: null }] } }, { b: { c: [1, { d: null }] }, a: 1 })).toBe(true);
    expect(jsonEqual([1, 2], [2, 1])).toBe(false);
    expect(jsonEqual({ a: '1' }, { a: 1 })).toBe(false);
    expect(canonicalJson({ b: 1, a: undefined })).toBe('{"b":1}');
  });

  it('finds the first value that is not plain JSON', () => {
    expect(findNonJson({ a: [1, 'x', true, null, { b: 2 }] })).toBeNull();
    expect(findNonJson({ a: [1, () => 1] })).toBe('/a/1');
    expect(findNonJson(Object.create(null))).toBeNull();
  });
});
