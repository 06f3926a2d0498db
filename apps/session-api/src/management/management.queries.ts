/**
 * The Management API's queries and their handlers: each waits for `minPosition`, then reads one read model.
 */
import { Query, QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import {
  ReadModelQueries,
  type CustomerProfileView,
  type DailyAnalyticsView,
  type SessionListQuery,
  type SkuAnalyticsView,
} from '@session-engine/read-models';
import type { CustomerSessionV2 } from '@session-engine/session-domain';
import { awaitReadModels } from './read-model-position';

export class ListSessionsQuery extends Query<{ hasMore: boolean; data: CustomerSessionV2[] }> {
  constructor(
    readonly filter: SessionListQuery,
    readonly minPosition?: string,
  ) {
    super();
  }
}

export class GetManagedSessionQuery extends Query<CustomerSessionV2 | undefined> {
  constructor(
    readonly applicationId: number,
    readonly id: number,
    readonly minPosition?: string,
  ) {
    super();
  }
}

export class GetCustomerProfileQuery extends Query<CustomerProfileView | undefined> {
  constructor(
    readonly applicationId: number,
    readonly profileId: string,
    readonly minPosition?: string,
  ) {
    super();
  }
}

export class GetDailyAnalyticsQuery extends Query<DailyAnalyticsView[]> {
  constructor(
    readonly applicationId: number,
    readonly from: string,
    readonly to: string,
    readonly minPosition?: string,
  ) {
    super();
  }
}

export class GetSkuAnalyticsQuery extends Query<SkuAnalyticsView[]> {
  constructor(
    readonly applicationId: number,
    readonly from: string,
    readonly to: string,
    readonly minPosition?: string,
  ) {
    super();
  }
}

@QueryHandler(ListSessionsQuery)
export class ListSessionsHandler implements IQueryHandler<ListSessionsQuery> {
  constructor(private readonly readModels: ReadModelQueries) {}
  async execute({ filter, minPosition }: ListSessionsQuery) {
    await awaitReadModels(this.readModels, minPosition);
    return this.readModels.listSessions(filter);
  }
}

@QueryHandler(GetManagedSessionQuery)
export class GetManagedSessionHandler implements IQueryHandler<GetManagedSessionQuery> {
  constructor(private readonly readModels: ReadModelQueries) {}
  async execute({ applicationId, id, minPosition }: GetManagedSessionQuery) {
    await awaitReadModels(this.readModels, minPosition);
    return this.readModels.getSession(applicationId, id);
  }
}

@QueryHandler(GetCustomerProfileQuery)
export class GetCustomerProfileHandler implements IQueryHandler<GetCustomerProfileQuery> {
  constructor(private readonly readModels: ReadModelQueries) {}
  async execute({ applicationId, profileId, minPosition }: GetCustomerProfileQuery) {
    await awaitReadModels(this.readModels, minPosition);
    return this.readModels.getCustomerProfile(applicationId, profileId);
  }
}

@QueryHandler(GetDailyAnalyticsQuery)
export class GetDailyAnalyticsHandler implements IQueryHandler<GetDailyAnalyticsQuery> {
  constructor(private readonly readModels: ReadModelQueries) {}
  async execute({ applicationId, from, to, minPosition }: GetDailyAnalyticsQuery) {
    await awaitReadModels(this.readModels, minPosition);
    return this.readModels.dailyAnalytics(applicationId, from, to);
  }
}

@QueryHandler(GetSkuAnalyticsQuery)
export class GetSkuAnalyticsHandler implements IQueryHandler<GetSkuAnalyticsQuery> {
  constructor(private readonly readModels: ReadModelQueries) {}
  async execute({ applicationId, from, to, minPosition }: GetSkuAnalyticsQuery) {
    await awaitReadModels(this.readModels, minPosition);
    return this.readModels.skuAnalytics(applicationId, from, to);
  }
}

export const MANAGEMENT_QUERY_HANDLERS = [
  ListSessionsHandler,
  GetManagedSessionHandler,
  GetCustomerProfileHandler,
  GetDailyAnalyticsHandler,
  GetSkuAnalyticsHandler,
];
