/**
 * class-validator's error tree → our error entries, one per failed constraint, each with a JSON pointer into
 * the body (`/customerSession/cartItems/3/quantity`). Unknown fields are `UNKNOWN_FIELD`; a constraint may
 * name its own code through its `context` (e.g. the 1000-item limit is `LIMIT_EXCEEDED`).
 */
import type { ValidationError } from 'class-validator';
import { ApiError, ErrorCode, type ApiErrorEntry } from './api-error';

/** A JSON Pointer reference token (RFC 6901): `~` as `~0`, `/` as `~1`. */
export const escapePointer = (segment: string): string => segment.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * The entry of an unknown field at `pointer`, as the validation pipe words it (`Unknown field /customerSession/x`),
 * `reason` (if any) after a colon.
 */
export function unknownField(pointer: string, reason?: string): ApiErrorEntry {
  return {
    title: ErrorCode.UnknownField,
    details: `Unknown field ${pointer}${reason === undefined ? '' : `: ${reason}`}`,
    pointer: pointer || undefined,
  };
}

/** 400 with `entries`, the first one's details in its message. */
export function invalidRequest(entries: ApiErrorEntry[]): ApiError {
  return new ApiError(400, entries, `Invalid request: ${entries[0]!.details}`);
}

/** 400 UNKNOWN_FIELD at each of `pointers` (JSON pointers), worded as the validation pipe words them. */
export function unknownFields(pointers: string[]): ApiError {
  return invalidRequest(pointers.map((pointer) => unknownField(pointer)));
}

/** class-validator constraints that check a value's type; a range or length check of a wrong type is noise. */
const TYPE_CONSTRAINTS = new Set([
  'isInt',
  'isNumber',
  'isString',
  'isBoolean',
  'isArray',
  'isObject',
  'nestedValidation',
]);

export function validationEntries(errors: ValidationError[], base = ''): ApiErrorEntry[] {
  const entries: ApiErrorEntry[] = [];
  for (const error of errors) {
    const pointer =
      error.property === undefined || error.property === ''
        ? base
        : `${base}/${escapePointer(error.property)}`;
    const codeOf = (constraint: string) =>
      (error.contexts?.[constraint] as { code?: string } | undefined)?.code;
    // A limit (e.g. the array size) is only worth reporting once the type is right: codes from context go last.
    // A value of the wrong type gets its type error alone ("quantity must be an integer number", not also
    // "must not be less than 1" for "1").
    const all = Object.entries(error.constraints ?? {});
    let typeErrors = all.filter(([constraint]) => TYPE_CONSTRAINTS.has(constraint));
    // Not an array (or object) at all: that alone — not also "a cart item must be a JSON object" at the same
    // place, nor the fields of an object that was validated as the one item of an array it is not.
    const notAContainer = typeErrors.some(
      ([constraint]) => constraint === 'isArray' || constraint === 'isObject',
    );
    if (notAContainer) typeErrors = typeErrors.filter(([constraint]) => constraint !== 'nestedValidation');
    const constraints = (typeErrors.length > 0 ? typeErrors : all).sort(
      ([a], [b]) => Number(codeOf(a) !== undefined) - Number(codeOf(b) !== undefined),
    );
    for (const [constraint, message] of constraints) {
      const entry =
        constraint === 'whitelistValidation'
          ? // An unknown field named "" (`?=x`, `{"": 1}`) is at `<base>/`, a pointer of its own.
            unknownField(error.property === '' ? `${base}/` : pointer)
          : { title: ErrorCode.InvalidField, details: message, pointer: pointer || undefined };
      const contextCode = codeOf(constraint);
      entries.push(contextCode === undefined ? entry : { ...entry, title: contextCode });
    }
    if (error.children?.length && !notAContainer) entries.push(...validationEntries(error.children, pointer));
  }
  return entries;
}

export function validationException(errors: ValidationError[]): ApiError {
  const entries = validationEntries(errors);
  if (entries.length === 0)
    entries.push({ title: ErrorCode.InvalidField, details: 'The request body is invalid' });
  return invalidRequest(entries);
}
