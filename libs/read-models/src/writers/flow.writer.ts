import type { ReadModelTables } from '../database';
import { normalize } from '../money';
import {
  type DailyAnalyticsRow,
  dailyAnalyticsProjection,
  type DailyKey,
} from '../projections/daily-analytics.projection';
import { type FlowProjection, type FlowState } from '../projections/flow-projection';
import {
  dailyAnalyticsIds,
  foldDailyAnalyticsInPlace,
  foldSkuAnalyticsInPlace,
  skuAnalyticsIds,
  StreamNames,
} from '../projections/in-place-folds';
import type { ProjectedEvent } from '../projected-event';
import {
  skuAnalyticsProjection,
  type SkuAnalyticsRow,
  type SkuKey,
} from '../projections/sku-analytics.projection';
import type { ProjectionName, ProjectionWriter } from './projection-writer';

type FlowTable = 'daily_analytics' | 'sku_analytics';

interface FlowMapping<Key, Row, T extends FlowTable> {
  name: ProjectionName;
  table: T;
  projection: FlowProjection<Key, Row>;
  /** The ids of the rows `events` can touch: `projection.keysOf` / `keyId` of each. */
  idsOf(events: readonly ProjectedEvent[], names: StreamNames): Set<string>;
  /** `foldFlow(projection)` on rows loaded for this batch alone, updated in place. */
  foldInPlace(
    state: FlowState<Row>,
    events: readonly ProjectedEvent[],
    n: number,
    names: StreamNames,
    changed: Set<string>,
  ): void;
  fromColumns(columns: ReadModelTables[T]): Row;
  toColumns(id: string, row: Row): ReadModelTables[T];
}

/** Aggregate projections: rows by key, plus the last revision applied per stream (idempotency). */
function flowWriter<Key, Row, T extends FlowTable>(mapping: FlowMapping<Key, Row, T>): ProjectionWriter {
  const { name, table } = mapping;
  return {
    name,
    async apply(store, events) {
      const streamIds = events.map((e) => e.streamId);
      const state: FlowState<Row> = { rows: new Map(), revisions: new Map() };
      for (const r of await store.selectIn('projection_streams', 'stream_id', streamIds, {
        column: 'projection',
        value: name,
      })) {
        state.revisions.set(r.stream_id, Number(r.revision));
      }
      const names = new StreamNames();
      for (const r of await store.selectIn(table, 'id', [...mapping.idsOf(events, names)])) {
        state.rows.set(r.id, mapping.fromColumns(r));
      }
      const before = new Map(state.revisions);
      const changed = new Set<string>();
      mapping.foldInPlace(state, events, events.length, names, changed);
      await store.upsert(
        table,
        ['id'],
        [...changed].map((id) => mapping.toColumns(id, state.rows.get(id)!)),
      );
      await store.upsert(
        'projection_streams',
        ['projection', 'stream_id'],
        [...state.revisions]
          .filter(([streamId, revision]) => before.get(streamId) !== revision)
          .map(([stream_id, revision]) => ({ projection: name, stream_id, revision })),
      );
    },
    // The rows (sums per day and SKU, no customer data) keep what the streams added until a rebuild after the
    // scavenge; only the streams' revisions go (`eraseFlowStreams`).
    async erase(store, streamIds) {
      await store.deleteIn('projection_streams', 'stream_id', streamIds, {
        column: 'projection',
        value: name,
      });
    },
  };
}

export const dailyAnalyticsWriter = flowWriter<DailyKey, DailyAnalyticsRow, 'daily_analytics'>({
  name: 'daily_analytics',
  table: 'daily_analytics',
  projection: dailyAnalyticsProjection,
  idsOf: dailyAnalyticsIds,
  foldInPlace: foldDailyAnalyticsInPlace,
  fromColumns: dailyFromColumns,
  toColumns: (id, r) => ({
    id,
    application_id: r.applicationId,
    date: r.date,
    sessions_created: r.sessionsCreated,
    sessions_closed: r.sessionsClosed,
    sessions_cancelled: r.sessionsCancelled,
    sessions_reopened: r.sessionsReopened,
    items_returned: r.itemsReturned,
    gross_revenue: r.grossRevenue,
    returned_value: r.returnedValue,
    reversed_revenue: r.reversedRevenue,
    net_revenue: r.netRevenue,
  }),
});

export function dailyFromColumns(c: ReadModelTables['daily_analytics']): DailyAnalyticsRow {
  return {
    applicationId: c.application_id,
    date: c.date,
    sessionsCreated: c.sessions_created,
    sessionsClosed: c.sessions_closed,
    sessionsCancelled: c.sessions_cancelled,
    sessionsReopened: c.sessions_reopened,
    itemsReturned: c.items_returned,
    grossRevenue: normalize(c.gross_revenue),
    returnedValue: normalize(c.returned_value),
    reversedRevenue: normalize(c.reversed_revenue),
    netRevenue: normalize(c.net_revenue),
  };
}

export function skuFromColumns(c: ReadModelTables['sku_analytics']): SkuAnalyticsRow {
  return {
    applicationId: c.application_id,
    sku: c.sku,
    date: c.date,
    quantitySold: c.quantity_sold,
    quantityReturned: c.quantity_returned,
    revenue: normalize(c.revenue),
  };
}

export const skuAnalyticsWriter = flowWriter<SkuKey, SkuAnalyticsRow, 'sku_analytics'>({
  name: 'sku_analytics',
  table: 'sku_analytics',
  projection: skuAnalyticsProjection,
  idsOf: skuAnalyticsIds,
  foldInPlace: foldSkuAnalyticsInPlace,
  fromColumns: skuFromColumns,
  toColumns: (id, r) => ({
    id,
    application_id: r.applicationId,
    sku: r.sku,
    date: r.date,
    quantity_sold: r.quantitySold,
    quantity_returned: r.quantityReturned,
    revenue: r.revenue,
  }),
});
