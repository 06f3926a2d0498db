import type { ProjectedEvent } from '../projected-event';
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
}
