import { itemRuns, type ProjectedEvent, type ProjectedItem } from '../projected-event';
import type { RowStore } from '../row-store';

export const PROJECTION_NAMES = [
  'sessions',
  'customer_profiles',
  'daily_analytics',
  'sku_analytics',
] as const;
export type ProjectionName = (typeof PROJECTION_NAMES)[number];

/** Loads the rows a batch touches, folds the batch with the pure projection, writes what changed. */
export interface ProjectionWriter {
  readonly name: ProjectionName;
  apply(rows: RowStore, events: readonly ProjectedEvent[]): Promise<void>;
  /**
   * Session streams tombstoned (an erasure): removes what the projection holds of them, as a replay of the log
   * without their events would hold (the analytics keep their sums). A stream it never saw, or erased already, is
   * a no-op.
   */
  erase(rows: RowStore, streamIds: readonly string[]): Promise<void>;
}

/** Events and tombstones (log order) into one projection: runs of events folded, runs of tombstones erased. */
export async function applyItems(
  writer: ProjectionWriter,
  rows: RowStore,
  items: readonly ProjectedItem[],
): Promise<void> {
  for (const run of itemRuns(items)) {
    if ('events' in run) await writer.apply(rows, run.events);
    else
      await writer.erase(
        rows,
        run.tombstones.map((t) => t.streamId),
      );
  }
}
