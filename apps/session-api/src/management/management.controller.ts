import { Controller, Get, Param, Query, UseGuards } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { SessionListQuery } from '@session-engine/read-models';
import { ApiError, ErrorCode } from '../errors/api-error';
import { parseApplicationIdParam, parseSessionIdParam } from './dto/management-params';
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

function toListQuery(applicationId: number, q: ListSessionsQueryDto): SessionListQuery {
  const partialMatch = q.partialMatch === 'true';
  if (partialMatch) {
    for (const name of TEXT_FILTERS) {
      const value = q[name];
      if (value !== undefined && value.length < MIN_PARTIAL_LENGTH) {
        throw ApiError.of(
          400,
          ErrorCode.InvalidField,
          `${name} needs at least ${MIN_PARTIAL_LENGTH} characters with partialMatch=true`,
          `/${name}`,
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
    createdBefore: q.createdBefore,
    createdAfter: q.createdAfter,
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
      throw ApiError.of(400, ErrorCode.InvalidField, `${name} is not a calendar date`, `/${name}`);
    }
  }
  if (end < start) throw ApiError.of(400, ErrorCode.InvalidField, 'from must not be after to', '/from');
  if ((end - start) / 86_400_000 >= MAX_RANGE_DAYS) {
    throw ApiError.of(400, ErrorCode.LimitExceeded, `The range spans at most ${MAX_RANGE_DAYS} days`, '/to');
  }
}

@ApiTags('management')
@ApiSecurity('ManagementKey-v1')
@UseGuards(ManagementAuthGuard)
@Controller(APPLICATION)
export class ManagementController {
  constructor(private readonly queryBus: QueryBus) {}

  @Get('sessions')
  @ApiOperation({ summary: 'Sessions of the application from the read model, filtered, sorted and paged' })
  list(@Param('applicationId') applicationId: string, @Query() query: ListSessionsQueryDto) {
    const filter = toListQuery(parseApplicationIdParam(applicationId), query);
    return this.queryBus.execute(new ListSessionsQuery(filter, query.minPosition));
  }

  @Get('sessions/:id')
  @ApiOperation({ summary: 'One session by its internal id' })
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
  async profile(
    @Param('applicationId') applicationId: string,
    @Param('profileId') profileId: string,
    @Query() query: MinPositionQueryDto,
  ) {
    const profile = await this.queryBus.execute(
      new GetCustomerProfileQuery(parseApplicationIdParam(applicationId), profileId, query.minPosition),
    );
    if (!profile)
      throw ApiError.of(404, 'PROFILE_NOT_FOUND', `No customer profile ${JSON.stringify(profileId)}`);
    return profile;
  }

  @Get('analytics/daily')
  @ApiOperation({ summary: 'One row per UTC day of the range, by event date' })
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
