import { hashCanonical } from '@session-engine/event-store';
import { inspectBody, parseJsonBody } from './json-body.middleware';

const parsed = (text: string) => parseJsonBody(Buffer.from(text), {});

describe('keys the validation pipe never sees', () => {
  it.each([
    ['"__proto__"', '"\\u005f_proto__"'],
    ['"__proto__"', '"\\u005F\\u005Fproto\\u005f\\u005f"'],
    ['"constructor"', '"\\u0063onstructor"'],
    ['"prototype"', '"prot\\u006ftype"'],
    ['"toString"', '"to\\u0053tring"'],
  ])('are found by their parsed value, not their spelling: %s and %s', (plain, escaped) => {
    for (const key of [plain, escaped]) {
      const text = `{"customerSession":{"attributes":{${key}:{"x":1},"y":2}}}`;
      const { body, clientBody } = parsed(text);
      expect(clientBody).not.toBe(body);
      expect(JSON.stringify(clientBody)).toBe(JSON.stringify(JSON.parse(text)));
      expect(JSON.stringify(clientBody)).toContain(`${plain}:{"x":1}`);
    }
  });

  it('make two spellings of one key the same body for an Idempotency-Key', () => {
    const plain = parsed('{"customerSession":{"additionalCosts":{"__proto__":{"price":7}}}}').clientBody;
    const escaped = parsed(
      '{"customerSession":{"additionalCosts":{"\\u005f_proto__":{"price":7}}}}',
    ).clientBody;
    expect(hashCanonical({ dry: false, body: escaped })).toBe(hashCanonical({ dry: false, body: plain }));
    const other = parsed(
      '{"customerSession":{"additionalCosts":{"\\u005f_proto__":{"price":8}}}}',
    ).clientBody;
    expect(hashCanonical({ dry: false, body: other })).not.toBe(hashCanonical({ dry: false, body: plain }));
  });

  it('are every member of Object.prototype and prototype, at any depth and inside arrays', () => {
    for (const name of [...Object.getOwnPropertyNames(Object.prototype), 'prototype']) {
      expect(inspectBody(JSON.parse(`[{"a":[[{"${name}":1}]]}]`))).toEqual({
        problem: undefined,
        hiddenKeys: true,
      });
    }
    for (const text of [
      '{"a":{"b":[{"c":"toString"}]},"Constructor":1,"__proto":2}',
      '["__proto__"]',
      '"valueOf"',
      '1',
    ])
      expect(inspectBody(JSON.parse(text))).toEqual({ problem: undefined, hiddenKeys: false });
  });

  it('leave an ordinary body parsed once', () => {
    const { body, clientBody } = parsed('{"cartItems":[{"sku":"toString","quantity":1,"name":"__proto__"}]}');
    expect(clientBody).toBe(body);
  });

  it('still let the walk refuse what it refuses', () => {
    expect(inspectBody(JSON.parse('{"toString":{"k\\ud800":1}}'))).toMatchObject({
      problem: { status: 400 },
      hiddenKeys: true,
    });
  });
});
