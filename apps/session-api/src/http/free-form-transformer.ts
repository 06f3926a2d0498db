/**
 * class-transformer for the validation pipe, without its walk through free-form JSON.
 *
 * class-transformer copies every object of a body key by key, and de-duplicates each object's keys in time that
 * grows with the square of their number: one `attributes` object of 200,000 keys held the event loop — every
 * tenant's requests, the health checks — for 38 s before the size check refused it. The free-form JSON of a body
 * (every value under a key named `attributes`, session and cart item alike) is data the DTOs never look into:
 * their check (`IsJsonObject`) takes the value whole. So it is set aside before the transformation, a
 * placeholder in its place, and put back into the instance afterwards, where the validators see the client's own
 * value, in time linear in its size. The rest of the body is bounded before it gets here (`inspectBody`: members
 * per object, entries per array), so the quadratic walk stays short.
 *
 * The body itself is never changed (the handlers take the body as the client sent it): the objects and arrays on
 * the way to a free-form value are copied, and only those.
 */
import type { TransformerPackage } from '@nestjs/common/interfaces/external/transformer-package.interface';
import { classToPlain, plainToInstance, type ClassTransformOptions } from 'class-transformer';
import { READ_ONLY_CART_ITEM_FIELDS } from '../sessions/shared/cart-item.dto';

/** The key whose value is free-form JSON wherever it appears in a body. */
export const FREE_FORM_KEY = 'attributes';

/**
 * The keys whose values the DTOs never look into: free-form `attributes`, and the read-only cart item fields a
 * request may send back with any value (`prices`, `position`…), which are ignored. Set aside wherever they appear.
 */
export const SET_ASIDE_KEYS: ReadonlySet<string> = new Set([FREE_FORM_KEY, ...READ_ONLY_CART_ITEM_FIELDS]);

/**
 * Stands for a free-form value during the transformation. class-transformer makes a new instance of the class
 * of an object it finds (`new SetAside()`) and copies its keys: `index` survives the copy, a reference would
 * not.
 */
class SetAside {
  index = -1;
}

function placeholder(value: unknown, setAside: unknown[]): SetAside {
  const stand = new SetAside();
  stand.index = setAside.push(value) - 1;
  return stand;
}

/** Sets `key` on `record` as data, also when it is `__proto__`. */
function setMember(record: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
}

/** `value` with each free-form value in it replaced by a placeholder; `value` itself when it holds none. */
function withoutFreeForm(value: unknown, setAside: unknown[]): unknown {
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item === null || typeof item !== 'object') continue;
      const replaced = withoutFreeForm(item, setAside);
      if (replaced !== item) (copy ??= value.slice())[i] = replaced;
    }
    return copy ?? value;
  }
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const key in record) {
    const member = record[key];
    if (member === null || typeof member !== 'object') continue;
    const replaced = SET_ASIDE_KEYS.has(key)
      ? placeholder(member, setAside)
      : withoutFreeForm(member, setAside);
    if (replaced !== member) setMember((copy ??= { ...record }), key, replaced);
  }
  return copy ?? value;
}

/** Puts the values set aside back where their placeholders ended up in the instance. */
function putBack(value: unknown, setAside: readonly unknown[]): unknown {
  if (value instanceof SetAside) return setAside[value.index];
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = putBack(value[i], setAside);
    return value;
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const member = record[key];
    if (member === null || typeof member !== 'object') continue;
    const restored = putBack(member, setAside);
    if (restored !== member) setMember(record, key, restored);
  }
  return value;
}

export const freeFormTransformer: TransformerPackage = {
  plainToInstance<T>(
    cls: new (...args: unknown[]) => T,
    plain: unknown,
    options?: ClassTransformOptions,
  ): T | T[] {
    const setAside: unknown[] = [];
    const stripped = withoutFreeForm(plain, setAside);
    const instance = plainToInstance(cls, stripped, options) as T | T[];
    return setAside.length === 0 ? instance : (putBack(instance, setAside) as T | T[]);
  },
  classToPlain(object: unknown, options?: ClassTransformOptions) {
    return classToPlain(object, options) as Record<string, unknown> | Record<string, unknown>[];
  },
};
