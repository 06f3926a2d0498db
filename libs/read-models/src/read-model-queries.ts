import type { CustomerSessionV2, SessionStatus } from '@session-engine/session-domain';
import Decimal from 'decimal.js';
import { type RawBuilder, sql } from 'kysely';
import { isPostgres, type ReadModelDb } from './database';
import { add, toNumber, type Money } from './money';
import { textKey, textKeyColumn, withoutNul } from './postgres-text';
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

type TextColumn = 'profile_id' | 'referral_code' | 'integration_id' | 'store_integration_id';

/**
 * Case-insensitive text as partial filters compare it: lower case (the `_lc` columns hold `toLowerCase()`), with
 * - the final sigma ς as σ: `toLowerCase` picks ς for a Σ that ends the text, so "ΟΔΟΣ" was no substring of
 *   "ΟΔΟΣΑ" (ς against σ); Unicode's case folding makes them one letter;
 * - the dot above an i dropped: `toLowerCase` makes the capital dotted İ an i followed by U+0307 (a combining
 *   dot above), so "istanbul" was no substring of "İSTANBUL"; the dot changes nothing over an i.
 * The stored columns are folded the same way in the query (`folded`), so rows written before need nothing.
 */
function caseFolded(text: string): string {
  return text
    .toLowerCase()
    .replace(/ς/g, 'σ')
    .replace(/i\u0307/g, 'i');
}

/** A `_lc` column folded as `caseFolded` folds the pattern. */
function folded(column: string): RawBuilder<string> {
  return sql<string>`replace(replace(${sql.ref(column)}, 'ς', 'σ'), ${'i\u0307'}, 'i')`;
}

function likePattern(text: string): string {
  return `%${caseFolded(text).replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * `column = value`, or with `key` (PostgreSQL, a column with a key column — postgres-text.ts) the key
 * column equal to the value's key and the text equal: its index answers, with the text's answer.
 */
function sameText(column: string, value: string, key?: string): RawBuilder<boolean> {
  const ref = sql.ref(column);
  if (key === undefined) return sql<boolean>`${ref} = ${value}`;
  return sql<boolean>`${sql.ref(key)} = ${textKey(sql.val(value))} and ${ref} = ${value}`;
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

/**
 * The management API's reads. Every answer is built from the read models only. On PostgreSQL, text
 * filters are read as the rows were written (U+0000 as U+FFFD) and long text columns are found by
 * their text key (postgres-text.ts); the answers are those SQLite gives.
 */
export class ReadModelQueries {
  private readonly postgres: boolean;
  /** A filter's text as the rows hold it. */
  private readonly text: (value: string) => string;

  constructor(private readonly db: ReadModelDb) {
    this.postgres = isPostgres(db);
    this.text = this.postgres ? withoutNul : (value) => value;
  }

  /** The key column of `table.column` on PostgreSQL, if it has one. */
  private key(table: string, column: string, alias = table): string | undefined {
    const key = this.postgres ? textKeyColumn(table, column) : undefined;
    return key && `${alias}.${key}`;
  }

  private textFilter(column: TextColumn, value: string, partial: boolean) {
    const text = this.text(value);
    if (partial) return sql<boolean>`${folded(`${column}_lc`)} like ${likePattern(text)} escape '\\'`;
    return sameText(`sessions.${column}`, text, this.key('sessions', column));
  }

  /** The commit position every projection has processed (0 when nothing yet). */
  async processedPosition(): Promise<bigint> {
    return lowestCheckpoint(await readCheckpoints(this.db)) ?? 0n;
  }

  async listSessions(q: SessionListQuery): Promise<{ hasMore: boolean; data: CustomerSessionV2[] }> {
    const rows = await this.sessionListQuery(q).execute();
    return {
      hasMore: rows.length > q.pageSize,
      data: rows.slice(0, q.pageSize).map((r) => JSON.parse(r.session_json) as CustomerSessionV2),
    };
  }

  /** The query `listSessions` runs (its page and one row more, to tell `hasMore`). */
  sessionListQuery(q: SessionListQuery) {
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
      if (value !== undefined) query = query.where(() => this.textFilter(column, value, partial));
    }
    if (q.coupon !== undefined) {
      const coupon = this.text(q.coupon);
      const applicationId = q.applicationId;
      const codeKey = this.key('session_coupons', 'code', 'c');
      query = query.where((eb) => {
        const codeMatches = partial
          ? sql<boolean>`${folded('c.code_lc')} like ${likePattern(coupon)} escape '\\'`
          : sameText('c.code', coupon, codeKey);
        if (!this.postgres) {
          // SQLite: the sessions holding a matching code, as a set. The planner then either looks the sessions up
          // by it (a rare code: through the code index) or walks them in the list's order testing membership (a
          // common one), whichever its statistics say is cheaper. A correlated EXISTS allowed only the second: a
          // rare code read every session of the application (220–250 ms at 46,700 sessions).
          return eb(
            'sessions.stream_id',
            'in',
            eb
              .selectFrom('session_coupons as c')
              .select('c.stream_id')
              .where('c.application_id', '=', applicationId)
              .where(codeMatches),
          );
        }
        // PostgreSQL: the session's coupon rows by its stream's key, a code by its key (both indexed).
        const coupons = eb
          .selectFrom('session_coupons as c')
          .select(sql.lit(1).as('one'))
          .whereRef('c.stream_id', '=', 'sessions.stream_id')
          .where(sql<boolean>`c.stream_id_key = sessions.stream_id_key`)
          .where('c.application_id', '=', applicationId);
        return eb.exists(coupons.where(codeMatches));
      });
    }
    if (q.state !== undefined) query = query.where('state', '=', q.state);
    if (q.createdBefore !== undefined) query = query.where('created', '<', isoTime(q.createdBefore));
    if (q.createdAfter !== undefined) query = query.where('created', '>', isoTime(q.createdAfter));
    const sort = q.sort ?? { field: 'created', descending: false };
    return query
      .orderBy(SORT_COLUMNS[sort.field], sort.descending ? 'desc' : 'asc')
      .orderBy('id', 'asc')
      .limit(q.pageSize + 1)
      .offset(q.skip);
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
      .where(
        sameText(
          'customer_profiles.profile_id',
          this.text(profileId),
          this.key('customer_profiles', 'profile_id'),
        ),
      )
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
