import type { CustomerSessionV2, SessionStatus } from '@session-engine/session-domain';
import Decimal from 'decimal.js';
import { type ExpressionBuilder, sql } from 'kysely';
import type { ReadModelDb, ReadModelTables } from './database';
import { add, toNumber, type Money } from './money';
import { emptyDailyRow } from './projections/daily-analytics.projection';
import { lowestCheckpoint, readCheckpoints } from './read-model-writer';
import { profileFromColumns } from './writers/customer-profiles.writer';
import { dailyFromColumns, skuFromColumns } from './writers/flow.writer';

export type SessionSortField = 'created' | 'updated' | 'total';

export interface SessionListQuery {
  applicationId: number;
  profile?: string;
  coupon?: string;
  referral?: string;
  integrationId?: string;
  storeIntegrationId?: string;
  state?: SessionStatus;
  /** ISO-8601; sessions created strictly before / after. */
  createdBefore?: string;
  createdAfter?: string;
  /** Text filters become case-insensitive substring matches (callers ensure ≥ 3 characters). */
  partialMatch?: boolean;
  pageSize: number;
  skip: number;
  sort?: { field: SessionSortField; descending: boolean };
}

export interface CustomerProfileView {
  integrationId: string;
  closedSessions: number;
  totalSales: number;
  sessionCount: number;
  firstSessionIntegrationId: string | null;
  lastActivity: string | null;
}

export interface DailyAnalyticsView {
  date: string;
  sessionsCreated: number;
  sessionsClosed: number;
  sessionsCancelled: number;
  sessionsReopened: number;
  itemsReturned: number;
  grossRevenue: number;
  returnedValue: number;
  reversedRevenue: number;
  netRevenue: number;
}

export interface SkuAnalyticsView {
  sku: string;
  quantitySold: number;
  quantityReturned: number;
  revenue: number;
}

const SORT_COLUMNS = { created: 'created', updated: 'updated', total: 'total_key' } as const;

type SessionsEb = ExpressionBuilder<ReadModelTables, 'sessions'>;
type TextColumn = 'profile_id' | 'referral_code' | 'integration_id' | 'store_integration_id';

function likePattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

function textFilter(eb: SessionsEb, column: TextColumn, value: string, partial: boolean) {
  if (!partial) return eb(column, '=', value);
  return eb(sql.ref(`${column}_lc`), 'like', sql<string>`${likePattern(value)} escape '\\'`);
}

function isoTime(value: string): string {
  return new Date(value).toISOString();
}

function dayList(from: string, to: string): string[] {
  const days: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86_400_000) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  return days;
}

/** The management API's reads. Every answer is built from the read models only. */
export class ReadModelQueries {
  constructor(private readonly db: ReadModelDb) {}

  /** The commit position every projection has processed (0 when nothing yet). */
  async processedPosition(): Promise<bigint> {
    return lowestCheckpoint(await readCheckpoints(this.db)) ?? 0n;
  }

  async listSessions(q: SessionListQuery): Promise<{ hasMore: boolean; data: CustomerSessionV2[] }> {
    const partial = q.partialMatch === true;
    let query = this.db
      .selectFrom('sessions')
      .select('session_json')
      .where('application_id', '=', q.applicationId);
    const texts: [TextColumn, string | undefined][] = [
      ['profile_id', q.profile],
      ['referral_code', q.referral],
      ['integration_id', q.integrationId],
      ['store_integration_id', q.storeIntegrationId],
    ];
    for (const [column, value] of texts) {
      if (value !== undefined) query = query.where((eb) => textFilter(eb, column, value, partial));
    }
    if (q.coupon !== undefined) {
      const coupon = q.coupon;
      query = query.where((eb) =>
        eb.exists(
          eb
            .selectFrom('session_coupons as c')
            .select(sql.lit(1).as('one'))
            .whereRef('c.stream_id', '=', 'sessions.stream_id')
            .where(
              partial
                ? sql<boolean>`c.code_lc like ${likePattern(coupon)} escape '\\'`
                : sql<boolean>`c.code = ${coupon}`,
            ),
        ),
      );
    }
    if (q.state !== undefined) query = query.where('state', '=', q.state);
    if (q.createdBefore !== undefined) query = query.where('created', '<', isoTime(q.createdBefore));
    if (q.createdAfter !== undefined) query = query.where('created', '>', isoTime(q.createdAfter));
    const sort = q.sort ?? { field: 'created', descending: false };
    const rows = await query
      .orderBy(SORT_COLUMNS[sort.field], sort.descending ? 'desc' : 'asc')
      .orderBy('id', 'asc')
      .limit(q.pageSize + 1)
      .offset(q.skip)
      .execute();
    return {
      hasMore: rows.length > q.pageSize,
      data: rows.slice(0, q.pageSize).map((r) => JSON.parse(r.session_json) as CustomerSessionV2),
    };
  }

  async getSession(applicationId: number, id: number): Promise<CustomerSessionV2 | undefined> {
    const row = await this.db
      .selectFrom('sessions')
      .select('session_json')
      .where('application_id', '=', applicationId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row && (JSON.parse(row.session_json) as CustomerSessionV2);
  }

  async getCustomerProfile(
    applicationId: number,
    profileId: string,
  ): Promise<CustomerProfileView | undefined> {
    const row = await this.db
      .selectFrom('customer_profiles')
      .selectAll()
      .where('application_id', '=', applicationId)
      .where('profile_id', '=', profileId)
      .executeTakeFirst();
    if (!row) return undefined;
    const p = profileFromColumns(row);
    return {
      integrationId: p.profileId,
      closedSessions: p.closedSessions,
      totalSales: toNumber(p.totalSales),
      sessionCount: p.sessionCount,
      firstSessionIntegrationId: p.firstSessionIntegrationId,
      lastActivity: p.lastActivity,
    };
  }

  /** One row per UTC day from `from` to `to` (inclusive), days without activity as zero rows. */
  async dailyAnalytics(applicationId: number, from: string, to: string): Promise<DailyAnalyticsView[]> {
    const rows = await this.db
      .selectFrom('daily_analytics')
      .selectAll()
      .where('application_id', '=', applicationId)
      .where('date', '>=', from)
      .where('date', '<=', to)
      .execute();
    const byDate = new Map(rows.map((r) => [r.date, dailyFromColumns(r)]));
    return dayList(from, to).map((date) => {
      const r = byDate.get(date) ?? emptyDailyRow(applicationId, date);
      return {
        date,
        sessionsCreated: r.sessionsCreated,
        sessionsClosed: r.sessionsClosed,
        sessionsCancelled: r.sessionsCancelled,
        sessionsReopened: r.sessionsReopened,
        itemsReturned: r.itemsReturned,
        grossRevenue: toNumber(r.grossRevenue),
        returnedValue: toNumber(r.returnedValue),
        reversedRevenue: toNumber(r.reversedRevenue),
        netRevenue: toNumber(r.netRevenue),
      };
    });
  }

  /** Per SKU over the days from `from` to `to` (inclusive), ordered by SKU. */
  async skuAnalytics(applicationId: number, from: string, to: string): Promise<SkuAnalyticsView[]> {
    const rows = await this.db
      .selectFrom('sku_analytics')
      .selectAll()
      .where('application_id', '=', applicationId)
      .where('date', '>=', from)
      .where('date', '<=', to)
      .execute();
    const bySku = new Map<string, { sold: number; returned: number; revenue: Money }>();
    for (const r of rows.map(skuFromColumns)) {
      const total = bySku.get(r.sku) ?? { sold: 0, returned: 0, revenue: '0' };
      bySku.set(r.sku, {
        sold: total.sold + r.quantitySold,
        returned: total.returned + r.quantityReturned,
        revenue: add(total.revenue, r.revenue),
      });
    }
    return [...bySku]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([sku, t]) => ({
        sku,
        quantitySold: t.sold,
        quantityReturned: t.returned,
        revenue: new Decimal(t.revenue).toNumber(),
      }));
  }
}
