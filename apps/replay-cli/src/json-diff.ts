/**
 * What changed between two JSON values, as paths (`cartItems[1].returnedQuantity`). Objects and arrays of
 * objects are compared member by member; scalars and arrays of scalars (coupon codes…) as a whole.
 * `undefined` means absent.
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

export function diffJson(before: unknown, after: unknown, path = ''): FieldChange[] {
  if (jsonEqual(before, after)) return [];
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(after), ...Object.keys(before)])];
    return keys.flatMap((key) => diffJson(before[key], after[key], path ? `${path}.${key}` : key));
  }
  if (Array.isArray(before) && Array.isArray(after) && (holdsObjects(before) || holdsObjects(after))) {
    const length = Math.max(before.length, after.length);
    const changes: FieldChange[] = [];
    for (let i = 0; i < length; i++) changes.push(...diffJson(before[i], after[i], `${path}[${i}]`));
    return changes;
  }
  return [{ field: path, from: before, to: after }];
}
