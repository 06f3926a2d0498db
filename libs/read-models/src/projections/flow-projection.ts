import type { ProjectedEvent } from '../projected-event';

/**
 * A projection whose rows add up flows of many streams (per day, per SKU…). Each row changes by a
 * pure `evolve(row | null, event, key)`; an event may touch several rows. Idempotency comes from the
 * last applied revision of every stream, kept beside the rows.
 */
export interface FlowProjection<Key, Row> {
  keysOf(event: ProjectedEvent): Key[];
  keyId(key: Key): string;
  evolve(row: Row | null, event: ProjectedEvent, key: Key): Row;
}

export interface FlowState<Row> {
  rows: Map<string, Row>;
  /** Last applied revision per stream id. */
  revisions: Map<string, number>;
}

/** Applies events in order to rows already loaded; returns the ids of the rows it changed. */
export function foldFlow<Key, Row>(
  projection: FlowProjection<Key, Row>,
  state: FlowState<Row>,
  events: readonly ProjectedEvent[],
): Set<string> {
  const changed = new Set<string>();
  for (const event of events) {
    const applied = state.revisions.get(event.streamId);
    if (applied !== undefined && event.revision <= applied) continue;
    state.revisions.set(event.streamId, event.revision);
    for (const key of projection.keysOf(event)) {
      const id = projection.keyId(key);
      state.rows.set(id, projection.evolve(state.rows.get(id) ?? null, event, key));
      changed.add(id);
    }
  }
  return changed;
}

/**
 * Tombstones of session streams (an erasure): their last applied revisions go, as a replay of the log without the
 * streams' events would hold none. The rows keep what the streams added: sums per day and SKU, which a rebuild
 * after the scavenge recomputes without them. Returns the stream ids it removed.
 */
export function eraseFlowStreams<Row>(state: FlowState<Row>, streamIds: readonly string[]): Set<string> {
  const removed = new Set<string>();
  for (const streamId of streamIds) if (state.revisions.delete(streamId)) removed.add(streamId);
  return removed;
}
