import {
  evolve,
  type SessionState,
  sessionView,
  type CustomerSessionV2,
} from '@session-engine/session-domain';
import { type ProjectedEvent } from '../projected-event';

/**
 * The sessions read model keeps, per stream, the session folded with the domain's own `evolve`, so
 * the management API returns exactly what the integration API returns. The row remembers the last
 * revision it folded: an event at or below it is a replay and changes nothing.
 */
export interface SessionRow {
  streamId: string;
  revision: number;
  state: SessionState;
}

export function evolveSessionRow(row: SessionRow | null, projected: ProjectedEvent): SessionRow | null {
  if (row && projected.revision <= row.revision) return row;
  // A stream seen from its middle (a subscription started after its creation) cannot be folded.
  if (!row && projected.event.type !== 'SessionCreated') return null;
  // A `SessionCreated` after the row's events: the stream was soft-deleted and the session created anew (it
  // continues the stream's revisions). It starts the fold over, as a read of the stream and the command handler
  // do; folding it onto the old session failed ("SessionCreated on the existing session") and stopped the
  // projector at that event for good.
  const before = projected.event.type === 'SessionCreated' ? null : (row?.state ?? null);
  return {
    streamId: projected.streamId,
    revision: projected.revision,
    state: evolve(before, projected.event),
  };
}

/** Applies events in order to rows already loaded (by stream id); returns the stream ids it changed. */
export function foldSessions(rows: Map<string, SessionRow>, events: readonly ProjectedEvent[]): Set<string> {
  const changed = new Set<string>();
  for (const event of events) {
    const before = rows.get(event.streamId) ?? null;
    const after = evolveSessionRow(before, event);
    if (after === before || after === null) continue;
    rows.set(event.streamId, after);
    changed.add(event.streamId);
  }
  return changed;
}

/**
 * Tombstones of session streams (an erasure): their rows go, as a replay of the log without the streams' events
 * would never have made them. Returns the stream ids whose row it removed (a stream never seen: none).
 */
export function eraseSessions(rows: Map<string, SessionRow>, streamIds: readonly string[]): Set<string> {
  const removed = new Set<string>();
  for (const streamId of streamIds) if (rows.delete(streamId)) removed.add(streamId);
  return removed;
}

export interface SessionSummary {
  session: CustomerSessionV2;
  /** Exact decimal total, for sorting and filtering. */
  total: string;
}

export function summarize(row: SessionRow): SessionSummary {
  const { session, totals } = sessionView(row.state);
  return { session, total: totals.total };
}
