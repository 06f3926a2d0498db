/**
 * Audits (`replay verify`): the read models recomputed in memory from the event log — sessions with the
 * projection's own pure function, customer profiles and analytics with in-place folds held to the
 * projections' pure folds by `read-model-recompute.spec.ts` — and compared, row by row and column by
 * column, with what the database holds. Only events up to each projection's stored checkpoint are folded, so a projector
 * that is still catching up is not reported as a mismatch.
 */
import type { CountedLine } from '@session-engine/session-domain';
import type { ReadModelDb, ReadModelTables, SqlDialectName } from './database';
import { add, normalize, sub, ZERO } from './money';
import { parseSessionStream, utcDay, type ProjectedEvent, type SessionStreamName } from './projected-event';
import type {
  ProfileChanges,
  ProfileSessionRow,
  ProfileState,
} from './projections/customer-profiles.projection';
import { emptyDailyRow, type DailyAnalyticsRow } from './projections/daily-analytics.projection';
import type { FlowState } from './projections/flow-projection';
import { evolveSessionRow, type SessionRow } from './projections/sessions.projection';
import type { SkuAnalyticsRow } from './projections/sku-analytics.projection';
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

/**
 * The customer-profile and flow folds on rows the recomputation owns, updated in place instead of
 * copied per event. The projections' pure functions (`evolveProfileSession`,
 * `evolveCustomerProfile`, the flow projections' `evolve`) spread a new row for every event, which made
 * these the costliest folds; here are the same steps and the same money operations in the same order,
 * so the rows are the same (`read-model-recompute.spec.ts` checks them against `foldCustomerProfiles`
 * and `foldFlow`). Each fold takes `events[0 … n)` and, when given, records the
 * keys of the rows it changed as the pure folds report them.
 */

/** `parseSessionStream`, remembered per stream (every projection needs it for every event). */
class StreamNames {
  private readonly names = new Map<string, SessionStreamName>();

  of(streamId: string): SessionStreamName {
    let name = this.names.get(streamId);
    if (name === undefined) {
      name = parseSessionStream(streamId);
      this.names.set(streamId, name);
    }
    return name;
  }
}

/** `foldCustomerProfiles` in place. */
function foldCustomerProfilesInPlace(
  state: ProfileState,
  events: readonly ProjectedEvent[],
  n: number,
  names: StreamNames,
  changed?: ProfileChanges,
): void {
  const { sessions } = state;
  for (let i = 0; i < n; i++) {
    const projected = events[i];
    const { event, revision } = projected;
    let row = sessions.get(projected.streamId);
    if (row !== undefined && revision <= row.revision) continue;
    if (row === undefined) {
      if (event.type !== 'SessionCreated') continue; // a stream read from its middle: nothing to count
      const { applicationId, integrationId } = names.of(projected.streamId);
      row = {
        applicationId,
        integrationId,
        revision,
        profileId: '',
        state: 'open',
        countedSales: ZERO,
        firstSession: false,
        lastActivity: event.data.at,
      };
      sessions.set(projected.streamId, row);
    } else if (row.profileId !== '') {
      // The session's contribution as it was leaves its profile…
      contribute(state, row, -1, changed);
    }
    changed?.sessions.add(projected.streamId);
    row.revision = revision;
    row.lastActivity = event.data.at;
    switch (event.type) {
      case 'SessionCreated':
      case 'ProfileChanged':
        row.profileId = event.data.profileId;
        row.firstSession = event.data.firstSession;
        break;
      case 'SessionClosed':
        row.state = 'closed';
        row.countedSales = event.data.total;
        break;
      case 'CartItemsReturned':
        row.state = 'partially_returned';
        row.countedSales = sub(row.countedSales, event.data.returnedValue);
        break;
      case 'SessionCancelled':
        row.state = 'cancelled';
        row.countedSales = ZERO;
        break;
      case 'SessionReopened':
        row.state = 'open';
        row.countedSales = ZERO;
        break;
      default:
        break;
    }
    // … and the new one joins its (possibly other) profile.
    if (row.profileId !== '') contribute(state, row, 1, changed);
  }
}

/** `evolveCustomerProfile` in place: adds (`sign` = 1) or removes (-1) a session's contribution. */
function contribute(
  state: ProfileState,
  session: ProfileSessionRow,
  sign: 1 | -1,
  changed: ProfileChanges | undefined,
): void {
  const id = `${session.applicationId}|${session.profileId}`;
  let profile = state.profiles.get(id);
  if (profile === undefined) {
    profile = {
      applicationId: session.applicationId,
      profileId: session.profileId,
      sessionCount: 0,
      closedSessions: 0,
      totalSales: ZERO,
      firstSessionIntegrationId: null,
      lastActivity: null,
    };
    state.profiles.set(id, profile);
  }
  changed?.profiles.add(id);
  const counts = session.state === 'closed' || session.state === 'partially_returned';
  const sales = counts ? session.countedSales : ZERO;
  profile.sessionCount += sign;
  if (counts) profile.closedSessions += sign;
  if (sign > 0) {
    profile.totalSales = add(profile.totalSales, sales);
    // The session that claimed the profile stays its first session, even if it later moves away.
    if (session.firstSession) profile.firstSessionIntegrationId = session.integrationId;
    if (profile.lastActivity === null || session.lastActivity > profile.lastActivity)
      profile.lastActivity = session.lastActivity;
  } else {
    profile.totalSales = sub(profile.totalSales, sales);
  }
}

/** `foldFlow(dailyAnalyticsProjection)` in place; the same money operations in the same order as `evolveDailyAnalytics`. */
function foldDailyAnalyticsInPlace(
  state: FlowState<DailyAnalyticsRow>,
  events: readonly ProjectedEvent[],
  n: number,
  names: StreamNames,
  changed?: Set<string>,
): void {
  const { rows, revisions } = state;
  for (let i = 0; i < n; i++) {
    const projected = events[i];
    const applied = revisions.get(projected.streamId);
    if (applied !== undefined && projected.revision <= applied) continue;
    revisions.set(projected.streamId, projected.revision);
    const { event } = projected;
    switch (event.type) {
      case 'SessionCreated':
      case 'SessionClosed':
      case 'SessionCancelled':
      case 'SessionReopened':
      case 'CartItemsReturned':
        break;
      default:
        continue;
    }
    const { applicationId } = names.of(projected.streamId);
    const date = utcDay(event.data.at);
    const id = `${applicationId}|${date}`;
    let row = rows.get(id);
    if (row === undefined) {
      row = emptyDailyRow(applicationId, date);
      rows.set(id, row);
    }
    changed?.add(id);
    switch (event.type) {
      case 'SessionCreated':
        row.sessionsCreated += 1;
        continue;
      case 'SessionClosed':
        row.sessionsClosed += 1;
        row.grossRevenue = add(row.grossRevenue, event.data.total);
        break;
      case 'SessionCancelled':
        row.sessionsCancelled += 1;
        row.reversedRevenue = add(row.reversedRevenue, event.data.reversedRevenue);
        break;
      case 'SessionReopened':
        row.sessionsReopened += 1;
        row.reversedRevenue = add(row.reversedRevenue, event.data.reversedRevenue);
        break;
      case 'CartItemsReturned': {
        const lines = event.data.returnedCartItems;
        let items = row.itemsReturned;
        for (let k = 0; k < lines.length; k++) items += lines[k].quantity;
        row.itemsReturned = items;
        row.returnedValue = add(row.returnedValue, event.data.returnedValue);
        break;
      }
    }
    row.netRevenue = sub(row.grossRevenue, row.returnedValue, row.reversedRevenue);
  }
}

/** Index of the first line of `sku` (events carry a handful of lines). */
function indexOfSku(lines: readonly CountedLine[], sku: string): number {
  for (let i = 0; i < lines.length; i++) if (lines[i].sku === sku) return i;
  return -1;
}

/**
 * `foldFlow(skuAnalyticsProjection)` in place. As the projection does, lines of one SKU in one event
 * are first added together (their revenue from zero, line by line), then added to the SKU's row of
 * that day.
 */
function foldSkuAnalyticsInPlace(
  state: FlowState<SkuAnalyticsRow>,
  events: readonly ProjectedEvent[],
  n: number,
  names: StreamNames,
  changed?: Set<string>,
): void {
  const { rows, revisions } = state;
  for (let i = 0; i < n; i++) {
    const projected = events[i];
    const applied = revisions.get(projected.streamId);
    if (applied !== undefined && projected.revision <= applied) continue;
    revisions.set(projected.streamId, projected.revision);
    const { event } = projected;
    let lines: readonly CountedLine[];
    let sign: 1 | -1 = -1;
    let sold = true;
    switch (event.type) {
      case 'SessionClosed':
        lines = event.data.items;
        sign = 1;
        break;
      case 'SessionCancelled':
      case 'SessionReopened':
        lines = event.data.reversedItems;
        break;
      case 'CartItemsReturned':
        lines = event.data.returnedCartItems;
        sold = false;
        break;
      default:
        continue;
    }
    if (lines.length === 0) continue;
    const { applicationId } = names.of(projected.streamId);
    const date = utcDay(event.data.at);
    for (let k = 0; k < lines.length; k++) {
      const sku = lines[k].sku;
      if (indexOfSku(lines, sku) < k) continue; // added with the first line of its SKU
      let quantity = 0;
      let revenue: string = ZERO;
      for (let j = k; j < lines.length; j++) {
        const line = lines[j];
        if (line.sku !== sku) continue;
        quantity += sold ? sign * line.quantity : line.quantity;
        revenue = sign > 0 ? add(revenue, line.value) : sub(revenue, line.value);
      }
      const id = `${applicationId}|${date}|${sku}`;
      let row = rows.get(id);
      if (row === undefined) {
        row = { applicationId, sku, date, quantitySold: 0, quantityReturned: 0, revenue: ZERO };
        rows.set(id, row);
      }
      changed?.add(id);
      if (sold) row.quantitySold += quantity;
      else row.quantityReturned += quantity;
      row.revenue = add(row.revenue, revenue);
    }
  }
}

export class ReadModelRecomputation {
  readonly sessions = new Map<string, SessionRow>();
  readonly profiles: ProfileState = { sessions: new Map(), profiles: new Map() };
  readonly daily: FlowState<DailyAnalyticsRow> = { rows: new Map(), revisions: new Map() };
  readonly sku: FlowState<SkuAnalyticsRow> = { rows: new Map(), revisions: new Map() };
  private readonly limits: Record<ProjectionName, bigint>;
  private readonly streamNames = new StreamNames();
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
   * Folds a run of events (in log order) into the rows: the same rows as `foldSessions`,
   * `foldCustomerProfiles` and `foldFlow` give, but customer profiles and analytics are folded in place
   * on rows this recomputation owns (the projections' pure functions copy a row per event, which made
   * them the costliest part of verify). Positions only grow, so the events a projection has reached are
   * a prefix of the run.
   */
  applyAll(events: readonly ProjectedEvent[]): void {
    const reached = (limit: bigint) => {
      let n = events.length;
      while (n > 0 && events[n - 1].position > limit) n--;
      return n;
    };
    this.foldSessions(events, reached(this.limits.sessions));
    // Rows this recomputation owns: updated in place (the projections' pure functions copy them per event).
    foldCustomerProfilesInPlace(
      this.profiles,
      events,
      reached(this.limits.customer_profiles),
      this.streamNames,
    );
    foldDailyAnalyticsInPlace(this.daily, events, reached(this.limits.daily_analytics), this.streamNames);
    foldSkuAnalyticsInPlace(this.sku, events, reached(this.limits.sku_analytics), this.streamNames);
  }

  apply(event: ProjectedEvent): void {
    this.applyAll([event]);
  }

  /** `foldSessions` on `events[0 … n)`. */
  private foldSessions(events: readonly ProjectedEvent[], n: number): void {
    const rows = this.sessions;
    for (let i = 0; i < n; i++) {
      const event = events[i];
      const before = rows.get(event.streamId) ?? null;
      const after = evolveSessionRow(before, event);
      if (after !== before && after !== null) rows.set(event.streamId, after);
    }
  }

  /**
   * The expected rows of every table, in table order, as `(key, row)` visits (rows in the stored
   * tables' column form, money canonical), and each table's keys alone: `compare` checks each row
   * as it is made, without a map of every expected row.
   */
  private tables(): ExpectedTable[] {
    const streams = (visit: (key: string, row: Row) => void, keysOnly: boolean) => {
      for (const [projection, state] of [
        ['daily_analytics', this.daily],
        ['sku_analytics', this.sku],
      ] as const) {
        for (const [streamId, revision] of state.revisions) {
          const key = `${projection}|${streamId}`;
          visit(key, keysOnly ? NO_ROW : { projection, stream_id: streamId, revision });
        }
      }
    };
    return [
      {
        table: 'sessions',
        rows: (visit, keysOnly) => {
          for (const row of this.sessions.values()) {
            if (keysOnly) {
              visit(row.streamId, NO_ROW);
              continue;
            }
            const columns: Row = sessionRowColumns(row);
            columns.total = canonicalMoney(columns.total);
            columns.id = Number(columns.id);
            visit(row.streamId, columns);
          }
        },
      },
      {
        table: 'session_coupons',
        rows: (visit, keysOnly) => {
          const seen = new Set<string>(); // one row per key, as in a map of them
          for (const row of this.sessions.values()) {
            for (const code of row.state.couponCodes) {
              const key = `${row.streamId}|${code}`;
              if (seen.has(key)) continue;
              seen.add(key);
              visit(
                key,
                keysOnly
                  ? NO_ROW
                  : {
                      stream_id: row.streamId,
                      application_id: row.state.applicationId,
                      code,
                      code_lc: code.toLowerCase(),
                    },
              );
            }
          }
        },
      },
      {
        table: 'profile_sessions',
        rows: (visit, keysOnly) => {
          for (const [streamId, row] of this.profiles.sessions) {
            if (keysOnly) {
              visit(streamId, NO_ROW);
              continue;
            }
            const columns: Row = sessionColumns(streamId, row);
            columns.counted_sales = canonicalMoney(columns.counted_sales);
            visit(streamId, columns);
          }
        },
      },
      {
        table: 'customer_profiles',
        rows: (visit, keysOnly) => {
          for (const [id, row] of this.profiles.profiles) {
            if (keysOnly) {
              visit(id, NO_ROW);
              continue;
            }
            const columns: Row = profileColumns(id, row);
            columns.total_sales = canonicalMoney(columns.total_sales);
            visit(id, columns);
          }
        },
      },
      {
        table: 'daily_analytics',
        rows: (visit, keysOnly) => {
          for (const [id, row] of this.daily.rows) visit(id, keysOnly ? NO_ROW : { id, ...row });
        },
      },
      {
        table: 'sku_analytics',
        rows: (visit, keysOnly) => {
          for (const [id, row] of this.sku.rows) visit(id, keysOnly ? NO_ROW : { id, ...row });
        },
      },
      { table: 'projection_streams', rows: streams },
    ];
  }

  /** Every expected row per table, keyed, in the stored tables' column form (money canonical). */
  expectedRows(): Record<ComparedTable, Map<string, Row>> {
    const expected = {} as Record<ComparedTable, Map<string, Row>>;
    for (const { table, rows } of this.tables()) {
      const map = new Map<string, Row>();
      rows((key, row) => map.set(key, row), false);
      expected[table] = map;
    }
    return expected;
  }

  /**
   * `compareReadModels(this.expectedRows(), stored)`, the same mismatches in the same order, each
   * expected row compared as soon as it is made (no map of them all: less memory, less GC).
   */
  compare(stored: Record<ComparedTable, Map<string, Row>>): ReadModelMismatch[] {
    const mismatches: ReadModelMismatch[] = [];
    for (const { table, rows } of this.tables()) {
      const have = stored[table];
      const found: ReadModelMismatch[] = [];
      let matched = 0;
      rows((key, a) => {
        const b = have.get(key);
        if (!b) found.push({ table, key, field: '(row)', expected: a, found: null });
        else {
          matched++;
          compareRow(table, key, a, b, found);
        }
      }, false);
      if (matched < have.size) {
        // Stored rows nothing recomputed: only now are the expected keys gathered.
        const want = new Set<string>();
        rows((key) => want.add(key), true);
        for (const [key, b] of have) {
          if (!want.has(key)) found.push({ table, key, field: '(row)', expected: null, found: b });
        }
      }
      sortByKey(found);
      for (const mismatch of found) mismatches.push(mismatch);
    }
    return mismatches;
  }
}

interface ExpectedTable {
  table: ComparedTable;
  /** Visits every expected row in order; with `keysOnly`, the keys alone (rows not made). */
  rows(visit: (key: string, row: Row) => void, keysOnly: boolean): void;
}

const NO_ROW: Row = Object.freeze({});

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

/** One row's differences: its columns in order, then columns only the stored row has. */
function compareRow(table: ComparedTable, key: string, a: Row, b: Row, found: ReadModelMismatch[]): void {
  for (const field of Object.keys(a)) {
    if (!same(a[field], b[field]))
      found.push({ table, key, field, expected: a[field] ?? null, found: b[field] ?? null });
  }
  for (const field of Object.keys(b)) {
    if (!Object.prototype.hasOwnProperty.call(a, field) && !same(undefined, b[field]))
      found.push({ table, key, field, expected: null, found: b[field] ?? null });
  }
}

/** Only the mismatches are sorted (stable: a row's fields keep their column order). */
function sortByKey(found: ReadModelMismatch[]): void {
  found.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
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
      compareRow(table, key, a, b, found);
    }
    for (const [key, b] of have) {
      if (!want.has(key)) found.push({ table, key, field: '(row)', expected: null, found: b });
    }
    sortByKey(found);
    mismatches.push(...found);
  }
  return mismatches;
}
