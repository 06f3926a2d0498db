import { applyDecorators } from '@nestjs/common';
import { ApiPropertyOptional, ApiProperty } from '@nestjs/swagger';
import { INSTANT_FORMS, parseInstant } from '@session-engine/read-models';
import { BOOLEAN_QUERY_PATTERN, plusAsSpace, ZONE_PLUS_AS_SPACE } from '../../sessions/shared/query.dto';
import {
  Allow,
  IsIn,
  IsOptional,
  IsString,
  Length,
  Matches,
  ValidateBy,
  type ValidationArguments,
} from 'class-validator';

const UINT64_MAX = 18446744073709551615n;

/**
 * A query parameter given more than once — the query parser makes it an array, which every check below refuses —
 * is told so, as the Integration API tells `dry` ("dry is given more than once (2 times): send it once, true or
 * false"), instead of "must be an integer from 1 to 1000" for `?pageSize=5&pageSize=6` or "must be a string".
 */
export function givenMoreThanOnce(name: string, times: number, expected: string): string {
  return `${name} is given more than once (${times} times): send it once, ${expected}`;
}

/**
 * The message of a check of the query parameter `name`, whose values are `expected`: `message` (the check's own
 * words), or for a parameter given more than once, that.
 */
function once(name: string, expected: string, message = `${name} must be ${expected}`) {
  return (args: ValidationArguments): string =>
    Array.isArray(args.value) ? givenMoreThanOnce(name, args.value.length, expected) : message;
}

/** `IsIn` with class-validator's own wording ("must be one of the following values: …"), and `once`. */
const isOneOf = (name: string, values: readonly string[]) =>
  IsIn(values, {
    message: once(
      name,
      `one of ${values.join(', ')}`,
      `${name} must be one of the following values: ${values.join(', ')}`,
    ),
  });

/**
 * A text filter: a string of `min`..`max` characters, `what` in the message of one given more than once; the
 * limits documented as the parameter's. No NUL (U+0000): no stored text holds one (the domain refuses it, as
 * the profile id of a path), and the databases would each read it their way — SQLite's `LIKE` ended the
 * pattern there (`%\0zzz%` matched every session), PostgreSQL's rows hold U+FFFD in its place.
 */
const isText = (name: string, what: string, min: number, max: number) =>
  applyDecorators(
    ApiPropertyOptional({ type: String, ...(min > 0 ? { minLength: min } : {}), maxLength: max }),
    IsString({
      message: once(
        name,
        `${what} (${min === 0 ? 'at most' : `${min} to`} ${max} characters)`,
        `${name} must be a string`,
      ),
    }),
    Length(min, max),
    ValidateBy({
      name: 'hasNoNul',
      validator: {
        validate: (value: unknown) => typeof value !== 'string' || !value.includes('\u0000'),
        defaultMessage: () => `${name} must not contain the NUL character (U+0000)`,
      },
    }),
  );

/**
 * A commit position (`X-Event-Position`): a decimal unsigned 64-bit integer, 0..18446744073709551615, with any
 * number of leading zeros (30 digits were taken and 31 refused, whatever their value).
 */
function IsCommitPosition(): PropertyDecorator {
  return ValidateBy({
    name: 'isCommitPosition',
    validator: {
      validate: (value: unknown) =>
        typeof value === 'string' && /^0*\d{1,20}$/.test(value) && BigInt(value) <= UINT64_MAX,
      defaultMessage: (args) =>
        once('minPosition', 'a decimal integer from 0 to 18446744073709551615 (X-Event-Position)')(args!),
    },
  });
}
const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** `createdBefore` / `createdAfter`: an instant with its zone, or a date (00:00 UTC) — see `parseInstant`. */
function IsInstant(): PropertyDecorator {
  return ValidateBy({
    name: 'isInstant',
    validator: {
      validate: (value: unknown) => typeof value === 'string' && parseInstant(value).ok,
      defaultMessage: (args) => {
        const name = args?.property ?? 'The time';
        if (Array.isArray(args?.value)) return givenMoreThanOnce(name, args.value.length, INSTANT_FORMS);
        if (typeof args?.value === 'string' && ZONE_PLUS_AS_SPACE.test(args.value)) {
          return plusAsSpace(name, args.value);
        }
        const parsed = typeof args?.value === 'string' ? parseInstant(args.value) : undefined;
        const reason =
          parsed?.ok === false && parsed.problem === 'zone'
            ? 'has no time zone (add Z for UTC)'
            : parsed?.ok === false && parsed.problem === 'range'
              ? 'is not a valid date or time'
              : 'is not a time';
        return `${name} ${reason}: give ${INSTANT_FORMS}`;
      },
    },
  });
}

/** Every management query may wait for the read models to reach a commit position (`X-Event-Position`). */
export class MinPositionQueryDto {
  @ApiPropertyOptional({
    description:
      'Wait (at most 5 s, then 503 NOT_READY) until the read models processed this commit position ' +
      '(X-Event-Position)',
  })
  @IsOptional()
  @IsCommitPosition()
  minPosition?: string;

  /**
   * The cache-buster HTTP clients add to a GET (`?_=<timestamp>`: Talon.One's SDKs when their client's cache is
   * off, jQuery): taken with any value, given any number of times, and ignored, as on a session's GET.
   */
  @ApiPropertyOptional({
    name: '_',
    type: String,
    description: 'A cache-buster, ignored: clients add `_=<timestamp>` to a GET to bypass caches',
  })
  @Allow()
  _?: unknown;
}

export const SESSION_SORTS = ['created', '-created', 'updated', '-updated', 'total', '-total'] as const;
export const SESSION_STATES = ['open', 'closed', 'cancelled', 'partially_returned'] as const;
/** Filters that `partialMatch=true` turns into case-insensitive substring matches. */
export const TEXT_FILTERS = ['profile', 'coupon', 'referral', 'integrationId', 'storeIntegrationId'] as const;

export class ListSessionsQueryDto extends MinPositionQueryDto {
  @IsOptional()
  @isText('profile', 'a profile id', 0, 1000)
  profile?: string;

  @IsOptional()
  @isText('coupon', 'a coupon code', 1, 100)
  coupon?: string;

  @IsOptional()
  @isText('referral', 'a referral code', 0, 100)
  referral?: string;

  @IsOptional()
  @isText('integrationId', 'a session integrationId', 1, 1000)
  integrationId?: string;

  @IsOptional()
  @isText('storeIntegrationId', 'a store integrationId', 1, 1000)
  storeIntegrationId?: string;

  @ApiPropertyOptional({ enum: SESSION_STATES })
  @IsOptional()
  @isOneOf('state', SESSION_STATES)
  state?: (typeof SESSION_STATES)[number];

  @ApiPropertyOptional({
    description:
      'Sessions created strictly before this instant: a date-time with its zone (`2025-03-01T12:00:00Z`, ' +
      '`2025-03-01T12:00:00.250+01:00`) or a date (`2025-03-01`, 00:00 UTC)',
    example: '2025-03-01T00:00:00Z',
  })
  @IsOptional()
  @IsInstant()
  createdBefore?: string;

  @ApiPropertyOptional({
    description:
      'Sessions created strictly after this instant: a date-time with its zone (`2025-03-01T12:00:00Z`, ' +
      '`2025-03-01T12:00:00.250+01:00`) or a date (`2025-03-01`, 00:00 UTC)',
    example: '2025-03-01T00:00:00Z',
  })
  @IsOptional()
  @IsInstant()
  createdAfter?: string;

  @ApiPropertyOptional({
    description:
      '`true`: text filters match case-insensitive substrings (at least 3 characters); `false` (default): exact. ' +
      'Any letter case',
    type: String,
    pattern: BOOLEAN_QUERY_PATTERN,
  })
  @IsOptional()
  @Matches(/^(?:true|false)$/i, { message: once('partialMatch', 'true or false') })
  partialMatch?: string;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 1000, default: 1000 })
  @IsOptional()
  @Matches(/^(1000|[1-9]\d{0,2})$/, { message: once('pageSize', 'an integer from 1 to 1000') })
  pageSize?: string;

  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: 999_999_999, default: 0 })
  @IsOptional()
  @Matches(/^\d{1,9}$/, { message: once('skip', 'an integer from 0 to 999999999') })
  skip?: string;

  @ApiPropertyOptional({ enum: SESSION_SORTS, description: '`-` for descending; ties broken by id' })
  @IsOptional()
  @isOneOf('sort', SESSION_SORTS)
  sort?: (typeof SESSION_SORTS)[number];
}

export class DateRangeQueryDto extends MinPositionQueryDto {
  @ApiProperty({ example: '2025-03-01', description: 'First UTC day (inclusive)' })
  @Matches(DAY, { message: once('from', 'a date YYYY-MM-DD') })
  from: string;

  @ApiProperty({ example: '2025-03-31', description: 'Last UTC day (inclusive)' })
  @Matches(DAY, { message: once('to', 'a date YYYY-MM-DD') })
  to: string;
}
