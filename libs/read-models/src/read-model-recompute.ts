/**
 * Audits (`replay verify`): the read models recomputed in memory from the event log with the
 * projections' own pure functions, and compared, row by row and column by column, with what the
 * database holds. Only events up to each projection's stored checkpoint are folded, so a projector
 * that is still catching up is not reported as a mismatch.
 */
import type { ReadModelDb, ReadModelTables, SqlDialectName } from './database';
import { normalize } from './money';
import { parseSessionStream, type ProjectedEvent } from './projected-event';
import { foldCustomerProfiles, type ProfileState } from './projections/customer-profiles.projection';
import { dailyAnalyticsProjection, type DailyAnalyticsRow } from './projections/daily-analytics.projection';
import { foldFlow, type FlowProjection, type FlowState } from './projections/flow-projection';
import { foldSessions, type SessionRow } from './projections/sessions.projection';
import { skuAnalyticsProjection, type SkuAnalyticsRow } from './projections/sku-analytics.projection';
import { readCheckpoints, type Checkpoints } from './read-model-writer';
import { profileColumns, sessionColumns } from './writers/customer-profiles.writer';
import { dailyFromColumns, skuFromColumns } from './writers/flow.writer';
import type { ProjectionName } from './writers/projection-writer';
import { toColumns as sessionRowColumns } from './writers/sessions.writer';

export type ComparedTable =
  | 'sessions'
  | 'session_coupons'
  | 'profile_sessions'
  | 'customer_profiles'
  | 'daily_analytics'
  | 'sku_analytics'
  | 'projection_streams';

export interface ReadModelMismatch {
  table: ComparedTable;
  /** The row's key (`stream_id`, `id`, `projection|stream_id`…). */
  key: string;
  /** The column, or `(row)` when the row exists on one side only. */
  field: string;
  expected: unknown;
  found: unknown;
}

type Row = Record<string, unknown>;

/** Money strings `Decimal#toString` would print unchanged (no exponent, no trailing zeros, no "-0"). */
const CANONICAL_MONEY = /^(?:-?[1-9]\d{0,19}(?:\.\d*[1-9])?|-?0\.0{0,5}[1-9](?:\d*[1-9])?|0)$/;

/** `normalize`, without parsing the amounts already in canonical form (nearly all of them). */
function canonicalMoney(value: unknown): string {
  return typeof value === 'string' && CANONICAL_MONEY.test(value)
    ? value
    : normalize(value as string | number | null | undefined);
}

/** Folds events (in log order) into in-memory copies of every read model. */
export class ReadModelRecomputation {
  readonly sessions = new Map<string, SessionRow>();
  readonly profiles: ProfileState = { sessions: new Map(), profiles: new Map() };
  readonly daily: FlowState<DailyAnalyticsRow> = { rows: new Map(), revisions: new Map() };
  readonly sku: FlowState<SkuAnalyticsRow> = { rows: new Map(), revisions: new Map() };
  private readonly limits: Record<ProjectionName, bigint>;
  /** Highest checkpoint: events beyond it matter to no projection. */
  readonly upTo: bigint;

  /** `checkpoints`: how far each stored projection has got (`undefined`: nothing projected yet). */
  constructor(checkpoints: Checkpoints) {
    const limit = (name: ProjectionName) => checkpoints.get(name) ?? -1n;
    this.limits = {
      sessions: limit('sessions'),
      customer_profiles: limit('customer_profiles'),
      daily_analytics: limit('daily_analytics'),
      sku_analytics: limit('sku_analytics'),
    };
    this.upTo = Object.values(this.limits).reduce((a, b) => (b > a ? b : a), -1n);
  }

  /**
   * Folds a run of events (in log order): the same result as `apply` on each, with one fold call per
   * projection. Positions only grow, so the events a projection has reached are a prefix of the run.
   */
  applyAll(events: readonly ProjectedEvent[]): void {
    const upTo = (limit: bigint) => {
      let n = events.length;
      while (n > 0 && events[n - 1].position > limit) n--;
      return n === events.length ? events : events.slice(0, n);
    };
    foldSessions(this.sessions, upTo(this.limits.sessions));
    foldCustomerProfiles(this.profiles, upTo(this.limits.customer_profiles));
    foldFlow(
      dailyAnalyticsProjection as FlowProjection<unknown, DailyAnalyticsRow>,
      this.daily,
      upTo(this.limits.daily_analytics),
    );
    foldFlow(
      skuAnalyticsProjection as FlowProjection<unknown, SkuAnalyticsRow>,
      this.sku,
      upTo(this.limits.sku_analytics),
    );
  }

  apply(event: ProjectedEvent): void {
    const one = [event];
    if (event.position <= this.limits.sessions) foldSessions(this.sessions, one);
    if (event.position <= this.limits.customer_profiles) foldCustomerProfiles(this.profiles, one);
    if (event.position <= this.limits.daily_analytics)
      foldFlow(dailyAnalyticsProjection as FlowProjection<unknown, DailyAnalyticsRow>, this.daily, one);
    if (event.position <= this.limits.sku_analytics)
      foldFlow(skuAnalyticsProjection as FlowProjection<unknown, SkuAnalyticsRow>, this.sku, one);
  }

  /** Every expected row per table, keyed, in the stored tables' column form (money canonical). */
  expectedRows(): Record<ComparedTable, Map<string, Row>> {
    const sessions = new Map<string, Row>();
    const coupons = new Map<string, Row>();
    for (const row of this.sessions.values()) {
      const columns: Row = sessionRowColumns(row);
      columns.total = canonicalMoney(columns.total);
      columns.id = Number(columns.id);
      sessions.set(row.streamId, columns);
      for (const code of row.state.couponCodes) {
        coupons.set(`${row.streamId}|${code}`, {
          stream_id: row.streamId,
          application_id: row.state.applicationId,
          code,
          code_lc: code.toLowerCase(),
        });
      }
    }
    const profileSessions = new Map<string, Row>();
    for (const [streamId, row] of this.profiles.sessions) {
      const columns: Row = sessionColumns(streamId, row);
      columns.counted_sales = canonicalMoney(columns.counted_sales);
      profileSessions.set(streamId, columns);
    }
    const profiles = new Map<string, Row>();
    for (const [id, row] of this.profiles.profiles) {
      const columns: Row = profileColumns(id, row);
      columns.total_sales = canonicalMoney(columns.total_sales);
      profiles.set(id, columns);
    }
    const streams = new Map<string, Row>();
    for (const [projection, state] of [
      ['daily_analytics', this.daily],
      ['sku_analytics', this.sku],
    ] as const) {
      for (const [streamId, revision] of state.revisions) {
        streams.set(`${projection}|${streamId}`, { projection, stream_id: streamId, revision });
      }
    }
    return {
      sessions,
      session_coupons: coupons,
      profile_sessions: profileSessions,
      customer_profiles: profiles,
      daily_analytics: new Map([...this.daily.rows].map(([id, row]) => [id, { id, ...row } as Row])),
      sku_analytics: new Map([...this.sku.rows].map(([id, row]) => [id, { id, ...row } as Row])),
      projection_streams: streams,
    };
  }
}

export interface StoredReadModels {
  checkpoints: Checkpoints;
  rows: Record<ComparedTable, Map<string, Row>>;
}

const keyOf: Record<ComparedTable, (row: Row) => string> = {
  sessions: (r) => String(r.stream_id),
  session_coupons: (r) => `${String(r.stream_id)}|${String(r.code)}`,
  profile_sessions: (r) => String(r.stream_id),
  customer_profiles: (r) => String(r.id),
  daily_analytics: (r) => String(r.id),
  sku_analytics: (r) => String(r.id),
  projection_streams: (r) => `${String(r.projection)}|${String(r.stream_id)}`,
};

function applicationOf(table: ComparedTable, row: Row): number {
  if (table === 'projection_streams') return parseSessionStream(String(row.stream_id)).applicationId;
  return Number(row.application_id);
}

/**
 * The stored rows and checkpoints, read in one transaction so they are one consistent snapshot
 * (the projector commits rows and checkpoints together). Rows in the comparison's form: money
 * canonical, analytics in the projections' row shape.
 */
export async function readStoredReadModels(
  db: ReadModelDb,
  options: { applicationId?: number; dialect?: SqlDialectName } = {},
): Promise<StoredReadModels> {
  // SQLite: a read transaction is a snapshot already; PostgreSQL needs REPEATABLE READ for one.
  const transaction =
    options.dialect === 'postgres' ? db.transaction().setIsolationLevel('repeatable read') : db.transaction();
  return transaction.execute(async (trx) => {
    const checkpoints = await readCheckpoints(trx);
    const select = (table: ComparedTable) => trx.selectFrom(table).selectAll().execute() as Promise<Row[]>;
    const shape: Record<ComparedTable, (row: Row) => Row> = {
      sessions: (r) => {
        r.id = Number(r.id);
        r.total = canonicalMoney(r.total);
        return r;
      },
      session_coupons: (r) => r,
      profile_sessions: (r) => {
        r.counted_sales = canonicalMoney(r.counted_sales);
        return r;
      },
      customer_profiles: (r) => {
        r.total_sales = canonicalMoney(r.total_sales);
        return r;
      },
      daily_analytics: (r) => ({
        id: r.id,
        ...dailyFromColumns(r as unknown as ReadModelTables['daily_analytics']),
      }),
      sku_analytics: (r) => ({
        id: r.id,
        ...skuFromColumns(r as unknown as ReadModelTables['sku_analytics']),
      }),
      projection_streams: (r) => {
        r.revision = Number(r.revision);
        return r;
      },
    };
    const rows = {} as Record<ComparedTable, Map<string, Row>>;
    for (const table of Object.keys(keyOf) as ComparedTable[]) {
      const map = new Map<string, Row>();
      for (const raw of await select(table)) {
        if (options.applicationId !== undefined && applicationOf(table, raw) !== options.applicationId)
          continue;
        const row = shape[table](raw);
        map.set(keyOf[table](row), row);
      }
      rows[table] = map;
    }
    return { checkpoints, rows };
  });
}

function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || a === undefined || b === undefined) return false;
  return String(a) === String(b);
}

/** Every difference between the expected and the stored rows, table by table, in key order. */
export function compareReadModels(
  expected: Record<ComparedTable, Map<string, Row>>,
  stored: Record<ComparedTable, Map<string, Row>>,
): ReadModelMismatch[] {
  const mismatches: ReadModelMismatch[] = [];
  for (const table of Object.keys(keyOf) as ComparedTable[]) {
    const want = expected[table];
    const have = stored[table];
    const found: ReadModelMismatch[] = [];
    for (const [key, a] of want) {
      const b = have.get(key);
      if (!b) {
        found.push({ table, key, field: '(row)', expected: a, found: null });
        continue;
      }
      for (const field of Object.keys(a)) {
        if (!same(a[field], b[field]))
          found.push({ table, key, field, expected: a[field] ?? null, found: b[field] ?? null });
      }
      for (const field of Object.keys(b)) {
        if (!Object.prototype.hasOwnProperty.call(a, field) && !same(undefined, b[field]))
          found.push({ table, key, field, expected: null, found: b[field] ?? null });
      }
    }
    for (const [key, b] of have) {
      if (!want.has(key)) found.push({ table, key, field: '(row)', expected: null, found: b });
    }
    // Only the mismatches are sorted (stable: a row's fields keep their column order).
    found.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
    mismatches.push(...found);
  }
  return mismatches;
}
