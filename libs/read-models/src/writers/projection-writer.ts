import type { Kysely } from 'kysely';
import type { ReadModelTables } from '../database';
import type { ProjectedEvent } from '../projected-event';

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
  apply(trx: Kysely<ReadModelTables>, events: readonly ProjectedEvent[]): Promise<void>;
}
