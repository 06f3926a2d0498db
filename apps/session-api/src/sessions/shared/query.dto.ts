/**
 * Query parameters of the Integration API, validated like the Management API's (the global ValidationPipe):
 * a route accepts exactly the parameters its DTO names; any other is 400 `UNKNOWN_FIELD`, so a misspelt or
 * unsupported option (`?Dry=true`, `?dry[]=true`, `dry` on `/close`) is refused instead of being ignored by a
 * command that then commits. Every error about a query parameter is at `source.parameter`, the name as the
 * request spelt it (`{"parameter": "Dry"}`), never at a `source.pointer`, which is the body's (or a path
 * parameter's): Talon.One's `ErrorSource.parameter`.
 */
import {
  Injectable,
  ValidationPipe,
  type ArgumentMetadata,
  type PipeTransform,
  type Type,
} from '@nestjs/common';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { parseInstant } from '@session-engine/read-models';
import { Transform } from 'class-transformer';
import {
  IsIn,
  IsOptional,
  ValidateBy,
  type ValidationArguments,
  type ValidationError,
  type ValidatorOptions,
} from 'class-validator';
import { ApiError, ErrorCode } from '../../errors/api-error';
import {
  atQueryParameters,
  entryErrors,
  invalidRequest,
  MAX_LISTED_ERRORS,
  unknownFields,
  unknownParameter,
  unknownParameters,
} from '../../errors/validation-errors';
import { undeclaredFields, unknownCostFields } from './declared-fields';
import { invalidCosts, isPlainObject, type DtoType } from './validators';

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
 * - every error it finds in a query is at the query parameter (`source.parameter`, `atQueryParameters`), not at
 *   a pointer: a DTO's parameters (`DryRunQueryDto`, the Management API's), any added later included;
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
    if (metadata.type === 'body' && value !== undefined && metadata.metatype !== undefined) {
      // More unknown fields than a refusal lists are answered alone, found in one walk through the DTO's levels:
      // class-validator would make an error of each after class-transformer copied them (400,000 unknown keys
      // took the event loop a second to refuse). Fewer are listed beside the body's other errors, as usual.
      const unknown = undeclaredFields(metadata.metatype as DtoType, value);
      if (unknown.length > MAX_LISTED_ERRORS) return Promise.reject(unknownFields(unknown));
    }
    if (metadata.type === 'query') {
      if (metadata.data === undefined && typeof value === 'object' && value) {
        const inherited = inheritedNamesIn(value, metadata.metatype);
        if (inherited.length > 0) return Promise.reject(unknownParameters(inherited));
      }
      const validated = super.transform(value, metadata);
      // Only a DTO is validated (not the query of a route without parameters, `NoQueryParameters`'s).
      if (!this.toValidate(metadata)) return validated;
      return validated.catch((error: unknown) => {
        throw atQueryParameters(error, metadata.data);
      });
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
 * Routes without query parameters (`@Query(NoQueryParameters)`): any parameter is 400 UNKNOWN_FIELD at its
 * `source.parameter`, `dry` with the reason. A pipe of its own rather than an empty DTO: these are the hot
 * routes (AddCartItems), and this check costs nothing when the query is empty, where the validation pipe costs
 * a few microseconds.
 */
@Injectable()
export class NoQueryParameters implements PipeTransform<Record<string, unknown>> {
  transform(query: Record<string, unknown>): Record<string, unknown> {
    const names = Object.keys(query ?? {});
    if (names.length === 0) return query;
    throw invalidRequest(
      names.map((name) =>
        unknownParameter(name, name === 'dry' ? 'this endpoint has no dry run' : undefined),
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

/** `true` or `false` in any letter case, as an OpenAPI pattern (JSON Schema patterns take no `i` flag). */
export const BOOLEAN_QUERY_PATTERN = '^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$';

/**
 * The message of a boolean query parameter that is not `true` or `false`; one given more than once (the query
 * parser makes an array of it) is told so.
 */
const trueOrFalse =
  (name: string) =>
  ({ value }: ValidationArguments): string =>
    Array.isArray(value)
      ? `${name} is given more than once (${value.length} times): send it once, true or false`
      : `${name} must be true or false`;

/** UpdateSession and ReturnItems: `dry=true` evaluates and answers, storing nothing. */
export class DryRunQueryDto {
  @ApiPropertyOptional({
    type: String,
    pattern: BOOLEAN_QUERY_PATTERN,
    description:
      'true: evaluate and return the would-be result, store nothing. Any letter case (True, FALSE) is accepted',
  })
  @IsOptional()
  @lowerCaseBoolean()
  @IsIn(['true', 'false'], { message: trueOrFalse('dry') })
  dry?: 'true' | 'false';
}

/**
 * A date-time whose zone's `+` arrived as a space: a query string decodes an unencoded `+` as a space, so
 * `createdAfter=2026-03-01T12:00:00+01:00` reaches us as `2026-03-01T12:00:00 01:00`.
 */
export const ZONE_PLUS_AS_SPACE = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)? \d{2}:\d{2}$/;

/**
 * The message for such a value: what happened and the value to send. It is refused rather than read as `+`:
 * the same client sends every other `+` unencoded too — `profile=ann+shop@example.com`, `coupon=SAVE+10` —
 * and those reach us as spaces that nothing can tell from real ones, so the filters would silently match
 * other sessions or none. Only here can the mistake be seen, so here it is named, for the client to fix its
 * encoding everywhere.
 */
export function plusAsSpace(name: string, value: string): string {
  const sent = value.replace(' ', '%2B');
  return (
    `${name} has a space where its zone's + belongs (${JSON.stringify(value)}): a query string decodes an ` +
    `unencoded + as a space. Encode the + as %2B: ${name}=${sent}`
  );
}

/** What `now` takes, for its messages. */
const NOW_FORM =
  'a date-time in the future with its zone, 2030-03-01T12:00:00Z or 2030-03-01T12:00:00+01:00 (RFC 3339; ' +
  'seconds and fractions optional)';

/** The last instant RFC 3339 can write (a four-digit year). */
const LATEST_INSTANT_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * Why `now` (Talon.One's `updateCustomerSessionV2?now=`) cannot be taken with the query it came in (`query`: its
 * `dry` as the DTO holds it, in lower case), at the clock's `nowMs`; undefined when it can. In that order: given
 * more than once; without `dry=true` (an invalid `dry` is refused on its own); not a date-time with its zone, as
 * the Management API's `createdBefore` reads one (`parseInstant`; a bare date is no date-time); not after the
 * clock.
 */
export function dryRunTimeProblem(
  value: unknown,
  query: { dry?: unknown },
  nowMs: number,
): string | undefined {
  if (Array.isArray(value))
    return `now is given more than once (${value.length} times): send it once, ${NOW_FORM}`;
  if (query.dry === undefined || query.dry === 'false') {
    return 'now needs dry=true: it is the time a dry run is decided at, and only a dry run takes one';
  }
  if (typeof value !== 'string') return `now must be ${NOW_FORM}`;
  if (ZONE_PLUS_AS_SPACE.test(value)) return plusAsSpace('now', value);
  const parsed = parseInstant(value);
  if (!parsed.ok || parsed.dateOnly) {
    const reason =
      parsed.ok || parsed.problem === 'format'
        ? 'is not a date-time'
        : parsed.problem === 'zone'
          ? 'has no time zone (add Z for UTC)'
          : 'is not a valid date or time';
    return `now ${reason}: give ${NOW_FORM}`;
  }
  if (parsed.epochMs > LATEST_INSTANT_MS) {
    return `now must be at most 9999-12-31T23:59:59.999Z: a later one has no RFC 3339 form (${value})`;
  }
  if (parsed.epochMs <= nowMs) {
    return `now must be in the future: ${value} is not later than the server's time, ${new Date(nowMs).toISOString()}`;
  }
  return undefined;
}

/** `now` as `dryRunTimeProblem` takes it, at the time the request is validated. */
function IsDryRunTime(): PropertyDecorator {
  return ValidateBy({
    name: 'isDryRunTime',
    validator: {
      validate: (value: unknown, args?: ValidationArguments) =>
        dryRunTimeProblem(value, args?.object ?? {}, Date.now()) === undefined,
      defaultMessage: (args) =>
        dryRunTimeProblem(args?.value, args?.object ?? {}, Date.now()) ?? `now must be ${NOW_FORM}`,
    },
  });
}

/** UpdateSession (Talon.One `updateCustomerSessionV2`): `dry`, and the time of a dry run, `now`. */
export class UpdateSessionQueryDto extends DryRunQueryDto {
  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    example: '2030-03-01T12:00:00Z',
    description:
      "With dry=true only: the dry run is decided as of this instant instead of the server's clock (the " +
      "would-be session's updated, and created for a session that does not exist yet). An RFC 3339 date-time " +
      "with its zone, later than the server's clock. Without dry=true, in the past, or without a zone: 400",
  })
  @IsOptional()
  @IsDryRunTime()
  now?: string;
}

/** ReturnItems (Talon.One `returnCartItems`): `dry`, and `runRuleEngine`, which changes nothing here. */
export class ReturnItemsQueryDto extends DryRunQueryDto {
  @ApiPropertyOptional({
    type: String,
    pattern: BOOLEAN_QUERY_PATTERN,
    description:
      'Accepted for Talon.One compatibility (true or false, any letter case) and ignored: the engine has no ' +
      'rule engine, so there are no campaigns to reevaluate after a return',
  })
  @IsOptional()
  @lowerCaseBoolean()
  @IsIn(['true', 'false'], { message: trueOrFalse('runRuleEngine') })
  runRuleEngine?: 'true' | 'false';
}

/**
 * The query of a session's GET: nothing but `_`, the cache-buster Talon.One's SDKs add to every GET when their
 * client's `cache` is off (`?_=<timestamp>`, as jQuery does), taken with any value and ignored. Any other
 * parameter is refused as on every route without parameters.
 */
@Injectable()
export class CacheBusterOnly extends NoQueryParameters {
  override transform(query: Record<string, unknown>): Record<string, unknown> {
    if (query === undefined || query === null || !Object.prototype.hasOwnProperty.call(query, '_')) {
      return super.transform(query);
    }
    const { _: ignored, ...rest } = query;
    void ignored;
    return super.transform(rest);
  }
}
