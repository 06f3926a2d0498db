/**
 * Audits (`replay verify`): the read models recomputed in memory from the event log — sessions with the
 * projection's own pure function, customer profiles and analytics with the in-place folds the projector's
 * writers use too (`projections/in-place-folds.ts`, held to the projections' pure folds by its spec) — and
 * compared, row by row and column by column, with what the database holds. Only events up to each
 * projection's stored checkpoint are folded, so a projector that is still catching up is not reported as a
 * mismatch.
 */
import type { ReadModelDb, ReadModelTables, SqlDialectName } from './database';
import { normalize } from './money';
import { comparableText, withoutKeyColumns } from './postgres-text';
import {
  itemRuns,
  parseSessionStream,
  type ProjectedEvent,
  type ProjectedItem,
  type ProjectedTombstone,
} from './projected-event';
import type { ProfileSessionRow, ProfileState } from './projections/customer-profiles.projection';
import type { DailyAnalyticsRow } from './projections/daily-analytics.projection';
import { eraseFlowStreams, type FlowState } from './projections/flow-projection';
import {
  eraseCustomerProfileSessionsInPlace,
  foldCustomerProfilesInPlace,
  foldDailyAnalyticsInPlace,
  foldSkuAnalyticsInPlace,
  StreamNames,
} from './projections/in-place-folds';
import { eraseSessions, evolveSessionRow, type SessionRow } from './projections/sessions.projection';
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
 * Adds `value` to the list of `key` (`ReadModelRecomputation.profileStreams`: a profile's session streams;
 * `firstClaims`: the profiles a session claimed first).
 */
function indexStream(index: Map<string, string[]>, key: string, value: string): void {
  const list = index.get(key);
  if (list === undefined) index.set(key, [value]);
  else list.push(value);
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
   * Folds a run of events and session streams' tombstones (in log order) into the rows: the same rows as
   * `foldSessions`, `foldCustomerProfiles` and `foldFlow` give, and as the writers' `erase` leave for a tombstone,
   * but customer profiles and analytics are folded in place on rows this recomputation owns (the projections' pure
   * functions copy a row per event, which made them the costliest part of verify). Positions only grow, so the
   * items a projection has reached are a prefix of the run.
   */
  applyAll(items: readonly ProjectedItem[]): void {
    for (const run of itemRuns(items)) {
      if ('events' in run) this.foldEvents(run.events);
      else this.erase(run.tombstones);
    }
  }

  private foldEvents(events: readonly ProjectedEvent[]): void {
    const reached = (limit: bigint) => {
      let n = events.length;
      while (n > 0 && events[n - 1].position > limit) n--;
      return n;
    };
    this.foldSessions(events, reached(this.limits.sessions));
    // Rows this recomputation owns: updated in place (the projections' pure functions copy them per event).
    const profiles = reached(this.limits.customer_profiles);
    foldCustomerProfilesInPlace(this.profiles, events, profiles, this.streamNames);
    if (this.profileStreams !== undefined) this.joined(events, profiles);
    if (this.firstClaims !== undefined) this.claimedFirst(events, profiles);
    foldDailyAnalyticsInPlace(this.daily, events, reached(this.limits.daily_analytics), this.streamNames);
    foldSkuAnalyticsInPlace(this.sku, events, reached(this.limits.sku_analytics), this.streamNames);
  }

  /**
   * The stream ids of each profile's sessions (key id `app|profileId`), for the tombstones of sessions whose
   * profile keeps others: made from the profile sessions the first time one is needed, then kept up to date with
   * the sessions that join a profile (`joined`). Stale entries (a session that moved on, or erased) stay: the
   * erasure checks each session's profile.
   */
  private profileStreams: Map<string, string[]> | undefined;

  /**
   * The profiles each session claimed first, whatever profile it has moved to since (`app|integrationId` → key
   * ids), for the tombstones: made from the profiles' `firstSessionIntegrationId` the first time one is needed,
   * then kept up to date with the sessions that join a profile as its first (`claimedFirst`). Stale entries stay:
   * the erasure checks each profile's mark.
   */
  private firstClaims: Map<string, string[]> | undefined;

  private claimedFirst(events: readonly ProjectedEvent[], n: number): void {
    const index = this.firstClaims!;
    for (let i = 0; i < n; i++) {
      const { streamId, event } = events[i];
      if (event.type !== 'SessionCreated' && event.type !== 'ProfileChanged') continue;
      if (event.data.profileId === '' || !event.data.firstSession) continue;
      const { applicationId, integrationId } = this.streamNames.of(streamId);
      indexStream(index, `${applicationId}|${integrationId}`, `${applicationId}|${event.data.profileId}`);
    }
  }

  private joined(events: readonly ProjectedEvent[], n: number): void {
    const index = this.profileStreams!;
    for (let i = 0; i < n; i++) {
      const { streamId, event } = events[i];
      if (event.type !== 'SessionCreated' && event.type !== 'ProfileChanged') continue;
      if (event.data.profileId === '') continue;
      indexStream(index, `${this.streamNames.of(streamId).applicationId}|${event.data.profileId}`, streamId);
    }
  }

  /** A run of tombstones (log order): what the writers' `erase` do, each projection up to its checkpoint. */
  private erase(tombstones: readonly ProjectedTombstone[]): void {
    const reached = (limit: bigint) => tombstones.filter((t) => t.position <= limit).map((t) => t.streamId);
    eraseSessions(this.sessions, reached(this.limits.sessions));
    const streamsOf = (id: string): string[] => {
      if (this.profileStreams === undefined) {
        const index = new Map<string, string[]>();
        for (const [streamId, session] of this.profiles.sessions) {
          if (session.profileId !== '')
            indexStream(index, `${session.applicationId}|${session.profileId}`, streamId);
        }
        this.profileStreams = index;
      }
      return this.profileStreams.get(id) ?? [];
    };
    const firstClaimedBy = (row: ProfileSessionRow): string[] => {
      if (this.firstClaims === undefined) {
        const index = new Map<string, string[]>();
        for (const [id, profile] of this.profiles.profiles) {
          if (profile.firstSessionIntegrationId !== null)
            indexStream(index, `${profile.applicationId}|${profile.firstSessionIntegrationId}`, id);
        }
        this.firstClaims = index;
      }
      return this.firstClaims.get(`${row.applicationId}|${row.integrationId}`) ?? [];
    };
    eraseCustomerProfileSessionsInPlace(
      this.profiles,
      reached(this.limits.customer_profiles),
      streamsOf,
      firstClaimedBy,
    );
    eraseFlowStreams(this.daily, reached(this.limits.daily_analytics));
    eraseFlowStreams(this.sku, reached(this.limits.sku_analytics));
  }

  apply(event: ProjectedItem): void {
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
   * tables' column form, money canonical, text comparable — `comparableRow`), and each table's keys
   * alone: `compare` checks each row as it is made, without a map of every expected row.
   */
  private tables(): ExpectedTable[] {
    return this.rawTables().map(({ table, rows }) => ({
      table,
      rows: (visit, keysOnly) =>
        rows((key, row) => visit(comparableText(key), keysOnly ? row : comparableRow(row)), keysOnly),
    }));
  }

  private rawTables(): ExpectedTable[] {
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

/**
 * A row's text as verify compares it (`comparableText`): U+0000 read as U+FFFD, as the PostgreSQL read
 * models hold it (postgres-text.ts), on both sides whatever the database. Changes the row in place.
 */
function comparableRow(row: Row): Row {
  for (const field in row) {
    const value = row[field];
    if (typeof value === 'string') row[field] = comparableText(value, field.endsWith('_json'));
  }
  return row;
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
 * canonical, analytics in the projections' row shape, text comparable (`comparableRow`), without
 * PostgreSQL's generated key columns (derived from the text compared).
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
        const row = comparableRow(shape[table](withoutKeyColumns(table, raw)));
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

/**
 * One row's differences: its columns in order, then columns only the stored row has that hold a value (a column
 * someone added to a table, empty in the rows, is none of the engine's).
 */
function compareRow(table: ComparedTable, key: string, a: Row, b: Row, found: ReadModelMismatch[]): void {
  for (const field of Object.keys(a)) {
    if (!same(a[field], b[field]))
      found.push({ table, key, field, expected: a[field] ?? null, found: b[field] ?? null });
  }
  for (const field of Object.keys(b)) {
    if (!Object.prototype.hasOwnProperty.call(a, field) && b[field] !== null && b[field] !== undefined)
      found.push({ table, key, field, expected: null, found: b[field] });
  }
}

/** Only the mismatches are sorted (stable: a row's fields keep their column order). */
function sortByKey(found: ReadModelMismatch[]): void {
  found.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
}

/**
 * Every difference between the expected and the stored rows, table by table, in key order. Both as
 * `expectedRows()` and `readStoredReadModels` give them (text comparable).
 */
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
