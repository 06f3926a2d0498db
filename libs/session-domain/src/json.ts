/**
 * Plain JSON values: validation, canonical form (for deep equality where object key order does not
 * matter) and the UTF-8 size of their serialization.
 */

import { SESSION_LIMITS } from './limits';

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Returns the JSON pointer (relative to `pointer`) of the first value that is not plain JSON
 * (undefined, a function, a non-finite number, a class instance, nesting deeper than SESSION_LIMITS.jsonDepth),
 * or null when the whole value is plain JSON.
 */
export function findNonJson(value: unknown, pointer = '', depth = 0): string | null {
  if (depth > SESSION_LIMITS.jsonDepth) return pointer;
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return null;
  if (typeof value === 'number') return Number.isFinite(value) ? null : pointer;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findNonJson(value[i], `${pointer}/${i}`, depth + 1);
      if (found !== null) return found;
    }
    return null;
  }
  if (isPlainObject(value)) {
    for (const key of Object.keys(value)) {
      const found = findNonJson(value[key], `${pointer}/${escapePointer(key)}`, depth + 1);
      if (found !== null) return found;
    }
    return null;
  }
  return pointer;
}

/**
 * `value` (plain JSON) with every -0 made 0, a copy only where one was found. JSON.parse reads `-0` as -0 and
 * JSON.stringify writes it as 0, so the event stored says 0: without this the state a command leaves in memory
 * (-0) and the state folded from its stored events (0) would differ.
 */
export function withoutNegativeZero(value: unknown): unknown {
  if (typeof value === 'number') return Object.is(value, -0) ? 0 : value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const normal = withoutNegativeZero(value[i]);
      if (!Object.is(normal, value[i])) (copy ??= value.slice())[i] = normal;
    }
    return copy ?? value;
  }
  if (isPlainObject(value)) {
    let copy: Record<string, unknown> | undefined;
    for (const key of Object.keys(value)) {
      const normal = withoutNegativeZero(value[key]);
      if (!Object.is(normal, value[key])) {
        copy ??= { ...value };
        Object.defineProperty(copy, key, {
          value: normal,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
    }
    return copy ?? value;
  }
  return value;
}

/**
 * The JSON pointer (relative to `pointer`) of the first string, key or value, that holds U+0000, or null.
 * Call on plain JSON (see findNonJson), whose depth is already bounded.
 */
export function findNul(value: unknown, pointer = ''): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? pointer : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findNul(value[i], `${pointer}/${i}`);
      if (found !== null) return found;
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [key, member] of Object.entries(value)) {
      const at = `${pointer}/${escapePointer(key)}`;
      if (key.includes('\u0000')) return at;
      const found = findNul(member, at);
      if (found !== null) return found;
    }
  }
  return null;
}

export function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** JSON text with object keys sorted, so two values are deep-equal exactly when their canonical texts are. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record)
      .filter((key) => record[key] !== undefined)
      .sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function jsonEqual(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

// eslint-disable-next-line no-control-regex -- U+0000 to U+007F is ASCII, controls included
const NON_ASCII = /[^\x00-\x7f]/;

/**
 * Number of bytes of the UTF-8 encoding of a string (a lone surrogate counts as the 3 bytes of U+FFFD, as
 * Node encodes it; JSON.stringify never leaves one). The ASCII before the first other character is measured by
 * the regular expression engine: most event text is ASCII. A refused 4.8 MB body of ASCII attributes has about
 * 19 MB of JSON measured (attributes and events, each decided twice); that took ~90 ms of the API's CPU
 * character by character, ~60 ms so.
 */
export function utf8Length(text: string): number {
  const firstNonAscii = text.search(NON_ASCII);
  if (firstNonAscii < 0) return text.length;
  let bytes = firstNonAscii;
  for (let i = firstNonAscii; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}
