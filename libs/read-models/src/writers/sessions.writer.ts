import type { SessionState } from '@session-engine/session-domain';
import type { ReadModelTables } from '../database';
import { eventTimeIso } from '../instant';
import { sortKey } from '../money';
import { foldSessions, type SessionRow, summarize } from '../projections/sessions.projection';
import type { ProjectionWriter } from './projection-writer';

export function toColumns(row: SessionRow): ReadModelTables['sessions'] {
  const { session, total } = summarize(row);
  return {
    stream_id: row.streamId,
    id: session.id,
    application_id: session.applicationId,
    integration_id: session.integrationId,
    integration_id_lc: session.integrationId.toLowerCase(),
    profile_id: session.profileId,
    profile_id_lc: session.profileId.toLowerCase(),
    store_integration_id: session.storeIntegrationId ?? null,
    store_integration_id_lc: session.storeIntegrationId?.toLowerCase() ?? null,
    referral_code: session.referralCode,
    referral_code_lc: session.referralCode.toLowerCase(),
    state: session.state,
    created: eventTimeIso(session.created),
    updated: eventTimeIso(session.updated),
    total,
    total_key: sortKey(total),
    revision: row.revision,
    state_json: JSON.stringify(row.state),
    session_json: JSON.stringify(session),
  };
}

export const sessionsWriter: ProjectionWriter = {
  name: 'sessions',
  async apply(store, events) {
    const loaded = await store.selectIn(
      'sessions',
      'stream_id',
      events.map((e) => e.streamId),
    );
    const rows = new Map<string, SessionRow>(
      loaded.map((r) => [
        r.stream_id,
        {
          streamId: r.stream_id,
          revision: Number(r.revision),
          state: JSON.parse(r.state_json) as SessionState,
        },
      ]),
    );
    const changed = [...foldSessions(rows, events)];
    if (changed.length === 0) return;
    const columns = changed.map((streamId) => toColumns(rows.get(streamId)!));
    await store.upsert('sessions', ['stream_id'], columns);
    await store.deleteIn('session_coupons', 'stream_id', changed);
    const coupons = columns.flatMap((row) =>
      (rows.get(row.stream_id)!.state.couponCodes ?? []).map((code) => ({
        stream_id: row.stream_id,
        application_id: row.application_id,
        code,
        code_lc: code.toLowerCase(),
      })),
    );
    await store.insert('session_coupons', coupons);
  },
  async erase(store, streamIds) {
    await store.deleteIn('session_coupons', 'stream_id', streamIds);
    await store.deleteIn('sessions', 'stream_id', streamIds);
  },
};
