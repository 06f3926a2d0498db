/**
 * Query parameters of the Integration API, validated like the Management API's (the global ValidationPipe):
 * a route accepts exactly the parameters its DTO names; any other is 400 `UNKNOWN_FIELD` at `/<name>`, so a
 * misspelt or unsupported option (`?Dry=true`, `?dry[]=true`, `dry` on `/close`) is refused instead of being
 * ignored by a command that then commits.
 */
import {
  Injectable,
  ValidationPipe,
  type ArgumentMetadata,
  type PipeTransform,
  type Type,
} from '@nestjs/common';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  IsIn,
  IsOptional,
  type ValidationArguments,
  type ValidationError,
  type ValidatorOptions,
} from 'class-validator';
import { ApiError, ErrorCode } from '../../errors/api-error';
import {
  entryErrors,
  escapePointer,
  invalidRequest,
  unknownField,
  unknownFields,
} from '../../errors/validation-errors';
import { unknownCostFields } from './declared-fields';
import { invalidCosts, isPlainObject, type DtoType } from './validators';

const pointerOf = (name: string): string => `/${escapePointer(name)}`;

/**
 * The names of `query` that class-transformer would drop without a word when it builds the DTO: those of
 * members its prototype has (Object.prototype's `toString`, `constructor`, `__proto__`, `valueOf`, ...). The
 * whitelist never sees them, so without this check `?toString=1` would pass where `?foo=1` is refused.
 */
export function inheritedNamesIn(query: object, metatype?: Type<unknown>): string[] {
  const prototype: object = metatype?.prototype ?? Object.prototype;
  const names: string[] = [];
  for (const name in query) if (name in prototype) names.push(name);
  return names;
}

/**
 * The global ValidationPipe, plus:
 * - a query parameter named like a member of the DTO's prototype is 400 UNKNOWN_FIELD, as any unknown
 *   parameter is (see `inheritedNamesIn`). One string comparison for the body and path parameters; for the
 *   query, a loop over its names (none on the hot routes);
 * - a body that is not a JSON object (`[]`, `5`, `"x"`, `null`, `[{...}]`) is 400 INVALID_FIELD saying so, with
 *   no pointer (the whole body): otherwise class-transformer would read it as an object with no fields
 *   ("customerSession should not be null or undefined") or with the array's indices as unknown fields;
 * - a constraint on every entry of an array (`@Length(1, 100, { each: true })`) is reported at each entry
 *   that fails it (`/customerSession/couponCodes/1`), not once at the array (`entryErrors`);
 * - the entries of a cost map (`additionalCosts`, session or item) are checked as a cart item's fields are,
 *   each fault at its own pointer among the pipe's other errors: a cost that is no object at
 *   `…/additionalCosts/<name>`, a bad price at `…/additionalCosts/<name>/price` (`invalidCosts`), a key other
 *   than `price` as an unknown field (`unknownCostFields`). class-validator checks a map whose names are data
 *   as one value (`IsPriceMap`), and its whitelist does not reach into it. A walk through the DTO's nested
 *   objects and cost maps only.
 */
export class QueryAwareValidationPipe extends ValidationPipe {
  override transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body' && value !== undefined && !isPlainObject(value)) {
      return Promise.reject(bodyNotAnObject(value));
    }
    if (metadata.type === 'query' && metadata.data === undefined && typeof value === 'object' && value) {
      const inherited = inheritedNamesIn(value, metadata.metatype);
      if (inherited.length > 0) {
        return Promise.reject(unknownFields(inherited.map(pointerOf)));
      }
    }
    return super.transform(value, metadata);
  }

  protected override async validate(
    object: object,
    validatorOptions?: ValidatorOptions,
  ): Promise<ValidationError[]> {
    const found = await super.validate(object, validatorOptions);
    // A bad entry of an array of scalars is named at its index, not at the array.
    const errors = found.length === 0 ? found : entryErrors(found, object);
    const type = object.constructor as DtoType;
    const costs = [
      ...invalidCosts(type, object).map(({ path, constraint, message }) =>
        nestedError(path, constraint, message),
      ),
      ...unknownCostFields(type, object).map((path) =>
        nestedError(path, 'whitelistValidation', `property ${path.at(-1)} should not exist`),
      ),
    ];
    return costs.length === 0 ? errors : [...errors, ...costs];
  }
}

/** What a JSON value is, in words, for a message about a value of the wrong type. */
export function jsonKindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    default:
      return typeof value;
  }
}

/** 400 INVALID_FIELD for a request body that is JSON but not an object (the whole body: no pointer). */
export function bodyNotAnObject(value: unknown): ApiError {
  return invalidRequest([
    {
      title: ErrorCode.InvalidField,
      details: `The request body must be a JSON object, not ${jsonKindOf(value)}`,
    },
  ]);
}

/**
 * The error class-validator would give for `constraint` failed at `path` (its keys), nested as it nests its
 * errors, so that the exception factory words it and points at it like any other (`whitelistValidation`: an
 * unknown field).
 */
function nestedError(path: string[], constraint: string, message: string): ValidationError {
  let error: ValidationError = {
    property: path.at(-1)!,
    constraints: { [constraint]: message },
    children: [],
  };
  for (let i = path.length - 2; i >= 0; i--) error = { property: path[i]!, children: [error] };
  return error;
}

/**
 * Routes without query parameters (`@Query(NoQueryParameters)`): any parameter is 400 UNKNOWN_FIELD, `dry`
 * with the reason. A pipe of its own rather than an empty DTO: these are the hot routes (AddCartItems), and
 * this check costs nothing when the query is empty, where the validation pipe costs a few microseconds.
 */
@Injectable()
export class NoQueryParameters implements PipeTransform<Record<string, unknown>> {
  transform(query: Record<string, unknown>): Record<string, unknown> {
    const names = Object.keys(query ?? {});
    if (names.length === 0) return query;
    throw invalidRequest(
      names.map((name) =>
        unknownField(pointerOf(name), name === 'dry' ? 'this endpoint has no dry run' : undefined),
      ),
    );
  }
}

/**
 * A boolean query value in any letter case, as the lower-case text `IsIn(['true', 'false'])` checks: Talon.One's
 * Python SDK sends `dry=True` / `dry=False` (Python's `str(bool)` through `urlencode`). Anything that is not a
 * string (`?dry=true&dry=true` is an array) is left for the validator to refuse, saying it is given more than once.
 */
const lowerCaseBoolean = () =>
  Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.toLowerCase() : value));

/** UpdateSession and ReturnItems: `dry=true` evaluates and answers, storing nothing. */
/** `true` or `false` in any letter case, as an OpenAPI pattern (JSON Schema patterns take no `i` flag). */
export const BOOLEAN_QUERY_PATTERN = '^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$';

export class DryRunQueryDto {
  @ApiPropertyOptional({
    type: String,
    pattern: BOOLEAN_QUERY_PATTERN,
    description:
      'true: evaluate and return the would-be result, store nothing. Any letter case (True, FALSE) is accepted',
  })
  @IsOptional()
  @lowerCaseBoolean()
  @IsIn(['true', 'false'], {
    message: ({ value }: ValidationArguments) =>
      Array.isArray(value)
        ? `dry is given more than once (${value.length} times): send it once, true or false`
        : 'dry must be true or false',
  })
  dry?: 'true' | 'false';
}
