/**
 * class-validator's error tree → our error entries, one per failed constraint, each with a JSON pointer into
 * the body (`/customerSession/cartItems/3/quantity`). Unknown fields are `UNKNOWN_FIELD`; a constraint may
 * name its own code through its `context` (e.g. the 1000-item limit is `LIMIT_EXCEEDED`). A constraint on
 * every entry of an array (`each: true`) is reported at each entry that fails it (`entryErrors`).
 */
import {
  getMetadataStorage,
  type MetadataStorage,
  type ValidationArguments,
  type ValidationError,
  type ValidatorConstraintInterface,
} from 'class-validator';
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

/**
 * Most errors one response lists: a body with thousands of faults (an unknown field on each of 1,000 cart items)
 * is answered with the first ones and their count, not a reply larger than the request.
 */
export const MAX_LISTED_ERRORS = 100;

/** 400 with `entries` (the first MAX_LISTED_ERRORS of them), the first one's details in its message. */
export function invalidRequest(entries: ApiErrorEntry[]): ApiError {
  if (entries.length <= MAX_LISTED_ERRORS) {
    return new ApiError(400, entries, `Invalid request: ${entries[0]!.details}`);
  }
  return new ApiError(
    400,
    entries.slice(0, MAX_LISTED_ERRORS),
    `Invalid request: ${entries[0]!.details} (${entries.length} errors; the first ${MAX_LISTED_ERRORS} are listed)`,
  );
}

/** 400 UNKNOWN_FIELD at each of `pointers` (JSON pointers), worded as the validation pipe words them. */
export function unknownFields(pointers: string[]): ApiError {
  return invalidRequest(pointers.map((pointer) => unknownField(pointer)));
}

/**
 * The entry of an unknown query parameter `name` (as the request spelt it): worded as an unknown field of the
 * body is (`Unknown field /Dry`), but at `source.parameter` (`Dry`), not at a pointer, so that a client tells
 * `?dry=true` from a body `{"dry": true}` (Talon.One's `ErrorSource.parameter`).
 */
export function unknownParameter(name: string, reason?: string): ApiErrorEntry {
  const { title, details } = unknownField(`/${escapePointer(name)}`, reason);
  return { title, details, parameter: name };
}

/** 400 UNKNOWN_FIELD at each of the query parameters `names`. */
export function unknownParameters(names: string[]): ApiError {
  return invalidRequest(names.map((name) => unknownParameter(name)));
}

/** 400 `code` for the value of the query parameter `name`: "Invalid request: " before `details`. */
export function parameterRefused(code: string, details: string, name: string): ApiError {
  return invalidRequest([{ title: code, details, parameter: name }]);
}

/** A JSON pointer's reference token as the name it stands for (RFC 6901: `~1` is `/`, `~0` is `~`). */
const unescapePointer = (token: string): string => token.replace(/~1/g, '/').replace(/~0/g, '~');

/**
 * `error`, refused by the validation pipe while it validated a query (its pointers built from the query's
 * names, `/dry`, `/a~1b`), with each entry at the query parameter it is about (`source.parameter`: `dry`,
 * `a/b`) instead: `name` when the pipe validated one parameter (`@Query('name')`), else the pointer's first
 * token. An error of another kind is left as it is.
 */
export function atQueryParameters(error: unknown, name?: string): unknown {
  if (!(error instanceof ApiError)) return error;
  const entries = error.entries.map(({ pointer, ...entry }): ApiErrorEntry => {
    if (pointer === undefined && name === undefined) return entry;
    return { ...entry, parameter: name ?? unescapePointer(pointer!.slice(1).split('/', 1)[0]!) };
  });
  return new ApiError(error.status, entries, error.message, error.headers);
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
    // One at a time: spread as arguments, the entries of thousands of faulty array entries overflow the stack.
    if (error.children?.length && !notAContainer) {
      for (const entry of validationEntries(error.children, pointer)) entries.push(entry);
    }
  }
  return entries;
}

export function validationException(errors: ValidationError[]): ApiError {
  const entries = validationEntries(errors);
  if (entries.length === 0)
    entries.push({ title: ErrorCode.InvalidField, details: 'The request body is invalid' });
  return invalidRequest(entries);
}

type ValidationMetadata = ReturnType<MetadataStorage['getTargetValidationMetadatas']>[number];

/** What class-validator puts before the message of a constraint declared with `each: true`. */
const EACH_PREFIX = 'each value in ';

/**
 * `errors`, found validating `object` (at `pointer`), with every failed constraint declared with `each: true`
 * (`@Length(1, 100, { each: true })`) moved from the array to the entries that fail it. class-validator checks
 * such a constraint entry by entry but reports it once, at the array, naming no entry ("each value in
 * couponCodes must be longer than or equal to 1 characters"), where SPEC §5's pointer names the element. So
 * each such constraint is checked again on every entry of the array, and each failing entry becomes a child
 * error named by its index — one per bad entry, at `/customerSession/couponCodes/1` — worded as class-validator
 * words the constraint, without "each value in", and naming the entry by its pointer, as every message names
 * an array entry ("/customerSession/couponCodes/1 must be 1..100 characters long", as the domain says it).
 * The entry's own type error then stands alone, as a field's does (`validationEntries`). Only for requests
 * that failed: the errors of a valid one are `[]`.
 */
export function entryErrors(errors: ValidationError[], object: unknown, pointer = ''): ValidationError[] {
  return errors.map((error) => entryError(error, object, pointer));
}

function entryError(error: ValidationError, object: unknown, base: string): ValidationError {
  const owner =
    typeof object === 'object' && object !== null ? (object as Record<string, unknown>) : undefined;
  const value = owner?.[error.property];
  const pointer = `${base}/${escapePointer(error.property)}`;
  const children = error.children?.length ? entryErrors(error.children, value, pointer) : error.children;
  const constraints = { ...error.constraints };
  const entries = new Map<number, ValidationError>();
  if (owner !== undefined && Array.isArray(value)) {
    for (const metadata of eachMetadata(owner, error.property)) {
      for (const { name, instance } of getMetadataStorage().getTargetValidatorConstraints(
        metadata.constraintCls,
      )) {
        if (constraints[name] === undefined) continue;
        const failed = failingEntries(value, instance, metadata, owner, pointer);
        if (failed === undefined) continue; // asynchronous: left at the array
        delete constraints[name];
        for (const [index, message] of failed) {
          let entry = entries.get(index);
          if (entry === undefined) {
            entry = { property: String(index), constraints: {}, children: [] };
            entries.set(index, entry);
          }
          entry.constraints![name] = message;
          if (metadata.context !== undefined)
            entry.contexts = { ...entry.contexts, [name]: metadata.context };
        }
      }
    }
  }
  if (entries.size === 0 && children === error.children) return error;
  return {
    ...error,
    constraints,
    children: [...(children ?? []), ...[...entries].sort(([a], [b]) => a - b).map(([, entry]) => entry)],
  };
}

/** The constraints declared with `each: true` on `property` of `object`'s class (and of those it extends). */
function eachMetadata(object: object, property: string): ValidationMetadata[] {
  return getMetadataStorage()
    .getTargetValidationMetadatas(object.constructor, '', true, false)
    .filter((metadata) => metadata.propertyName === property && metadata.each === true);
}

/**
 * The index and message of each entry of `array` that fails the constraint (`instance`, declared by
 * `metadata` on a field of `object`); undefined if the constraint is asynchronous.
 */
function failingEntries(
  array: unknown[],
  instance: ValidatorConstraintInterface,
  metadata: ValidationMetadata,
  object: Record<string, unknown>,
  pointer: string,
): [number, string][] | undefined {
  const failed: [number, string][] = [];
  for (let index = 0; index < array.length; index++) {
    const args: ValidationArguments = {
      targetName: object.constructor.name,
      property: `${pointer}/${index}`,
      object,
      value: array[index],
      constraints: metadata.constraints,
    };
    const valid = instance.validate(array[index], args);
    if (typeof valid !== 'boolean') return undefined;
    if (!valid) failed.push([index, entryMessage(metadata, instance, args)]);
  }
  return failed;
}

/**
 * The message class-validator would give for the constraint on one value (`ValidationUtils`'s tokens
 * replaced), without "each value in": `args.property` names the entry.
 */
function entryMessage(
  metadata: ValidationMetadata,
  instance: ValidatorConstraintInterface,
  args: ValidationArguments,
): string {
  const template = metadata.message ?? instance.defaultMessage?.(args) ?? '';
  let text = typeof template === 'function' ? template(args) : template;
  if (text.startsWith(EACH_PREFIX)) text = text.slice(EACH_PREFIX.length);
  const replace = (token: string, by: string) => (text = text.split(token).join(by));
  (metadata.constraints ?? []).forEach((constraint: unknown, i: number) =>
    replace(`$constraint${i + 1}`, Array.isArray(constraint) ? constraint.join(', ') : String(constraint)),
  );
  if (['string', 'number', 'boolean'].includes(typeof args.value)) replace('$value', String(args.value));
  replace('$property', args.property);
  replace('$target', args.targetName);
  return text;
}
