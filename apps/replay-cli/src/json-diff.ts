/**
 * What changed between two JSON values, as paths (`cartItems[1].returnedQuantity`). Objects and arrays of
 * objects are compared member by member; scalars and arrays of scalars (coupon codes…) as a whole.
 * `undefined` means absent.
 *
 * A path is unambiguous: a key that is a plain identifier (`[A-Za-z_][A-Za-z0-9_]*`) is written `.key` (bare at
 * the start), any other key — one holding `.`, `[`, `"`, a space, a letter outside ASCII, the empty key… — as
 * `["…"]` with the key as a JSON string (`attributes["a.b"]`, `attributes["c[0]"]`, `attributes[""]`), and an
 * array index as `[n]`. So `{"a.b":1}` is `attributes["a.b"]` and `{"a":{"b":1}}` is `attributes.a.b`.
 */
export interface FieldChange {
  field: string;
  from: unknown;
  to: unknown;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const holdsObjects = (value: unknown): value is unknown[] =>
  Array.isArray(value) && value.some((item) => isObject(item) || Array.isArray(item));

export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]));
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a).filter((k) => a[k] !== undefined);
    return (
      keys.length === Object.keys(b).filter((k) => b[k] !== undefined).length &&
      keys.every((k) => jsonEqual(a[k], b[k]))
    );
  }
  return false;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `path` followed by the member `key`: `.key` for a plain identifier, `["key"]` (a JSON string) otherwise. */
export function memberPath(path: string, key: string): string {
  if (!IDENTIFIER.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path ? `${path}.${key}` : key;
}

export function diffJson(before: unknown, after: unknown, path = ''): FieldChange[] {
  if (jsonEqual(before, after)) return [];
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(after), ...Object.keys(before)])];
    return keys.flatMap((key) => diffJson(before[key], after[key], memberPath(path, key)));
  }
  if (Array.isArray(before) && Array.isArray(after) && (holdsObjects(before) || holdsObjects(after))) {
    const length = Math.max(before.length, after.length);
    const changes: FieldChange[] = [];
    for (let i = 0; i < length; i++) changes.push(...diffJson(before[i], after[i], `${path}[${i}]`));
    return changes;
  }
  return [{ field: path, from: before, to: after }];
}
