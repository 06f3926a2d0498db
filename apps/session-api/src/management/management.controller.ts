import { Controller, Get, Param, Query, UseGuards } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiOkResponse, ApiOperation, ApiParam, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { instantBound, type SessionListQuery } from '@session-engine/read-models';
import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { CUSTOMER_SESSION_SCHEMA } from '../sessions/shared/customer-session.schema';
import { ApiError, ErrorCode, ManagementErrorCode } from '../errors/api-error';
import { parameterRefused } from '../errors/validation-errors';
import {
  ApiErrorResponses,
  RESPONSE_HEADERS,
  type ErrorResponseDoc,
  type ErrorTitle,
} from '../errors/error-response.schema';
import {
  parseApplicationIdParam,
  parseProfileIdParam,
  parseSessionIdParam,
  POSITIVE_ID_SCHEMA,
} from './dto/management-params';
import {
  DateRangeQueryDto,
  ListSessionsQueryDto,
  MinPositionQueryDto,
  TEXT_FILTERS,
} from './dto/management-query.dto';
import { ManagementAuthGuard } from './management-auth.guard';
import {
  GetCustomerProfileQuery,
  GetDailyAnalyticsQuery,
  GetManagedSessionQuery,
  GetSkuAnalyticsQuery,
  ListSessionsQuery,
} from './management.queries';

const APPLICATION = 'v1/applications/:applicationId';
const MAX_RANGE_DAYS = 3660;
const MIN_PARTIAL_LENGTH = 3;

/** The error responses every management query can give. */
const UNAUTHORIZED: ErrorResponseDoc = {
  status: 401,
  description:
    'Missing Authorization header, another scheme (an integration key), or an unknown management key',
  codes: [ErrorCode.Unauthorized],
  examples: { [ErrorCode.Unauthorized]: { details: 'Invalid or unknown management API key' } },
};
const NOT_READY: ErrorResponseDoc = {
  status: 503,
  description:
    'Retry later: NOT_READY, the read models did not reach minPosition within 5 s; SERVICE_UNAVAILABLE, the ' +
    'read-model database is not reachable or (PostgreSQL) did not answer within READ_MODEL_QUERY_TIMEOUT_MS',
  codes: [ManagementErrorCode.NotReady, ErrorCode.ServiceUnavailable],
  examples: {
    [ErrorCode.ServiceUnavailable]: { details: 'The read-model database is not reachable; retry later' },
  },
};
const badRequest = (description: string, ...codes: ErrorTitle[]): ErrorResponseDoc => ({
  status: 400,
  description: `Invalid input: applicationId not an integer ≥ 1, an unknown query parameter, ${description}`,
  codes: [ErrorCode.InvalidField, ErrorCode.UnknownField, ...codes],
  examples: {
    [ErrorCode.InvalidField]: { details: 'applicationId must be an integer ≥ 1', pointer: '/applicationId' },
    [ErrorCode.UnknownField]: { details: 'Unknown field /colour', parameter: 'colour' },
    [ErrorCode.LimitExceeded]: { details: `The range spans at most ${MAX_RANGE_DAYS} days`, parameter: 'to' },
  },
});
const ok = (description: string, schema: SchemaObject) =>
  ApiOkResponse({ description, schema, headers: RESPONSE_HEADERS.requestId });

const SESSION = CUSTOMER_SESSION_SCHEMA;
const dataOf = (properties: Record<string, SchemaObject>) => ({
  type: 'object',
  properties: {
    data: { type: 'array', items: { type: 'object', properties, required: Object.keys(properties) } },
  },
  required: ['data'],
});
/** A count (`integer`) or an amount of money (`number`: exact decimal, as every amount the API returns), described. */
const count = (description: string) => ({ type: 'integer', description });
const money = (description: string) => ({ type: 'number', description });

/** The fields of a daily analytics row (SPEC §4): what an analyst reads in /docs. */
const DAILY_ROW = {
  date: {
    type: 'string',
    format: 'date',
    description:
      'The UTC day; every event counts on the UTC date of its own time. Days without activity are rows of zeros',
  },
  sessionsCreated: count('Sessions created that day, in whatever state they were created'),
  sessionsClosed: count('Sessions that became closed that day: closed from open, or created closed'),
  sessionsCancelled: count('Sessions cancelled that day, from any state'),
  sessionsReopened: count('Closed sessions reopened that day'),
  itemsReturned: count(
    'Units returned that day: the sum of the quantities of its returns, not the number of returns',
  ),
  grossRevenue: money('The totals of the sessions that became closed that day (before discounts)'),
  returnedValue: money(
    'The value of the units returned that day: each unit’s price plus its item-level additional costs',
  ),
  reversedRevenue: money(
    'What sessions cancelled or reopened that day from closed or partially returned still counted (their total ' +
      'minus the value already returned); a cancel from open takes back nothing',
  ),
  netRevenue: money(
    'grossRevenue − returnedValue − reversedRevenue, so that any range of days sums to the net effect',
  ),
};

/** The fields of an SKU analytics row (SPEC §4), by the daily rows' event-date rule. */
const SKU_ROW = {
  sku: { type: 'string' },
  quantitySold: count(
    'Units of the SKU in sessions that became closed in the range, minus the units such sessions still counted ' +
      'when cancelled or reopened in the range',
  ),
  quantityReturned: count('Units of the SKU returned in the range'),
  revenue: money(
    'Value sold, minus value returned, minus value taken back by cancels and reopens, in the range',
  ),
};

/** The errors of the analytics reports (a date range). */
const DATE_RANGE_ERRORS = ApiErrorResponses(
  badRequest(
    'from or to missing or not a calendar date, from after to, or a malformed minPosition; a range over ' +
      `${MAX_RANGE_DAYS} days`,
    ErrorCode.LimitExceeded,
  ),
  UNAUTHORIZED,
  403,
  NOT_READY,
);

/**
 * 400 for the value of query parameter `name`, at `source.parameter` and worded as the validation pipe words the
 * others (and as the Integration API words a refused field or query parameter): "Invalid request: " before the
 * details. The path's ids are refused with their details alone, at their pointer, as the Integration API's
 * customerSessionId is.
 */
const queryRefused = (code: ErrorTitle, details: string, name: string) =>
  parameterRefused(code, details, name);

function toListQuery(applicationId: number, q: ListSessionsQueryDto): SessionListQuery {
  const partialMatch = q.partialMatch?.toLowerCase() === 'true';
  if (partialMatch) {
    for (const name of TEXT_FILTERS) {
      const value = q[name];
      if (value !== undefined && [...value].length < MIN_PARTIAL_LENGTH) {
        throw queryRefused(
          ErrorCode.InvalidField,
          `${name} needs at least ${MIN_PARTIAL_LENGTH} characters with partialMatch=true`,
          name,
        );
      }
    }
  }
  const sort = q.sort;
  return {
    applicationId,
    profile: q.profile,
    coupon: q.coupon,
    referral: q.referral,
    integrationId: q.integrationId,
    storeIntegrationId: q.storeIntegrationId,
    state: q.state,
    createdBefore: q.createdBefore === undefined ? undefined : instantBound(q.createdBefore, 'before'),
    createdAfter: q.createdAfter === undefined ? undefined : instantBound(q.createdAfter, 'after'),
    partialMatch,
    pageSize: q.pageSize === undefined ? 1000 : Number(q.pageSize),
    skip: q.skip === undefined ? 0 : Number(q.skip),
    sort: sort && {
      field: sort.replace(/^-/, '') as 'created' | 'updated' | 'total',
      descending: sort.startsWith('-'),
    },
  };
}

function checkRange({ from, to }: DateRangeQueryDto): void {
  const start = Date.parse(`${from}T00:00:00Z`);
  const end = Date.parse(`${to}T00:00:00Z`);
  for (const [name, value, time] of [
    ['from', from, start],
    ['to', to, end],
  ] as const) {
    if (Number.isNaN(time) || new Date(time).toISOString().slice(0, 10) !== value) {
      throw queryRefused(ErrorCode.InvalidField, `${name} is not a calendar date`, name);
    }
  }
  if (end < start) throw queryRefused(ErrorCode.InvalidField, 'from must not be after to', 'from');
  if ((end - start) / 86_400_000 >= MAX_RANGE_DAYS) {
    throw queryRefused(ErrorCode.LimitExceeded, `The range spans at most ${MAX_RANGE_DAYS} days`, 'to');
  }
}

@ApiTags('management')
@ApiSecurity('ManagementKey-v1')
@ApiParam({
  name: 'applicationId',
  description: 'Application id (a management key not holding it gets 403)',
  schema: POSITIVE_ID_SCHEMA,
})
@UseGuards(ManagementAuthGuard)
@Controller(APPLICATION)
export class ManagementController {
  constructor(private readonly queryBus: QueryBus) {}

  @Get('sessions')
  @ApiOperation({ summary: 'Sessions of the application from the read model, filtered, sorted and paged' })
  @ok('One page of sessions, and whether more match', {
    type: 'object',
    properties: { hasMore: { type: 'boolean' }, data: { type: 'array', items: SESSION } },
    required: ['hasMore', 'data'],
  })
  @ApiErrorResponses(
    badRequest(
      'a filter, sort or paging parameter out of its rules, a malformed minPosition, or a text filter ' +
        'under 3 characters with partialMatch=true',
    ),
    UNAUTHORIZED,
    403,
    NOT_READY,
  )
  list(@Param('applicationId') applicationId: string, @Query() query: ListSessionsQueryDto) {
    const filter = toListQuery(parseApplicationIdParam(applicationId), query);
    return this.queryBus.execute(new ListSessionsQuery(filter, query.minPosition));
  }

  @Get('sessions/:id')
  @ApiOperation({ summary: 'One session by its internal id' })
  @ApiParam({ name: 'id', description: "The session's internal id (its `id`)", schema: POSITIVE_ID_SCHEMA })
  @ok('The session', SESSION)
  @ApiErrorResponses(
    badRequest('an id that is not an integer ≥ 1, or a malformed minPosition'),
    UNAUTHORIZED,
    403,
    {
      status: 404,
      description: 'No session with this id in the application (as of the read model)',
      codes: [ErrorCode.SessionNotFound],
      examples: { [ErrorCode.SessionNotFound]: { details: 'No session with id 42' } },
    },
    NOT_READY,
  )
  async get(
    @Param('applicationId') applicationId: string,
    @Param('id') id: string,
    @Query() query: MinPositionQueryDto,
  ) {
    const session = await this.queryBus.execute(
      new GetManagedSessionQuery(
        parseApplicationIdParam(applicationId),
        parseSessionIdParam(id),
        query.minPosition,
      ),
    );
    if (!session) throw ApiError.of(404, ErrorCode.SessionNotFound, `No session with id ${id}`);
    return session;
  }

  @Get('customer_profiles/:profileId')
  @ApiOperation({ summary: 'Sales and sessions of one customer profile' })
  @ok("The profile's sales and sessions", {
    type: 'object',
    properties: {
      integrationId: { type: 'string', description: 'The profileId' },
      closedSessions: count(
        'Sessions of the profile now closed or partially returned (cancelled and reopened ones do not count)',
      ),
      totalSales: money('The totals of those sessions minus the value of their returned units'),
      sessionCount: count("All the profile's sessions, in any state"),
      firstSessionIntegrationId: {
        type: 'string',
        nullable: true,
        description: 'The session that claimed the profile first (`firstSession: true`); null while none did',
      },
      lastActivity: {
        type: 'string',
        format: 'date-time',
        nullable: true,
        description: "The time of the latest event of any of the profile's sessions",
      },
    },
    // Always sent, the last two as null until the profile has them (`CustomerProfileView`).
    required: [
      'integrationId',
      'closedSessions',
      'totalSales',
      'sessionCount',
      'firstSessionIntegrationId',
      'lastActivity',
    ],
  })
  @ApiErrorResponses(
    badRequest('a profileId over 1000 characters or holding a NUL, or a malformed minPosition'),
    UNAUTHORIZED,
    403,
    {
      status: 404,
      description: 'The read model knows no such profile in the application',
      codes: [ManagementErrorCode.ProfileNotFound],
    },
    NOT_READY,
  )
  async profile(
    @Param('applicationId') applicationId: string,
    @Param('profileId') profileId: string,
    @Query() query: MinPositionQueryDto,
  ) {
    const profile = await this.queryBus.execute(
      new GetCustomerProfileQuery(
        parseApplicationIdParam(applicationId),
        parseProfileIdParam(profileId),
        query.minPosition,
      ),
    );
    if (!profile)
      throw ApiError.of(
        404,
        ManagementErrorCode.ProfileNotFound,
        `No customer profile ${JSON.stringify(profileId)}`,
      );
    return profile;
  }

  @Get('analytics/daily')
  @ApiOperation({ summary: 'One row per UTC day of the range, by event date' })
  @ok('One row per UTC day from `from` to `to`', dataOf(DAILY_ROW))
  @DATE_RANGE_ERRORS
  async daily(@Param('applicationId') applicationId: string, @Query() query: DateRangeQueryDto) {
    checkRange(query);
    const data = await this.queryBus.execute(
      new GetDailyAnalyticsQuery(
        parseApplicationIdParam(applicationId),
        query.from,
        query.to,
        query.minPosition,
      ),
    );
    return { data };
  }

  @Get('analytics/skus')
  @ApiOperation({ summary: 'Units sold and returned and revenue per SKU over the range' })
  @ok('One row per SKU with sales or returns in the range', dataOf(SKU_ROW))
  @DATE_RANGE_ERRORS
  async skus(@Param('applicationId') applicationId: string, @Query() query: DateRangeQueryDto) {
    checkRange(query);
    const data = await this.queryBus.execute(
      new GetSkuAnalyticsQuery(
        parseApplicationIdParam(applicationId),
        query.from,
        query.to,
        query.minPosition,
      ),
    );
    return { data };
  }
}
