import type { SessionStatus } from '@session-engine/session-domain';
import type { ReadModelTables } from '../database';
import { normalize } from '../money';
import {
  type CustomerProfileRow,
  type ProfileChanges,
  profileKeyId,
  type ProfileSessionRow,
  type ProfileState,
} from '../projections/customer-profiles.projection';
import {
  eraseCustomerProfileSessionsInPlace,
  foldCustomerProfilesInPlace,
  type ProfileErasure,
  StreamNames,
} from '../projections/in-place-folds';
import { parseSessionStream } from '../projected-event';
import type { ProjectionWriter } from './projection-writer';

export function profileFromColumns(r: ReadModelTables['customer_profiles']): CustomerProfileRow {
  return {
    applicationId: r.application_id,
    profileId: r.profile_id,
    sessionCount: r.session_count,
    closedSessions: r.closed_sessions,
    totalSales: normalize(r.total_sales),
    firstSessionIntegrationId: r.first_session_integration_id,
    lastActivity: r.last_activity,
  };
}

function sessionFromColumns(r: ReadModelTables['profile_sessions']): ProfileSessionRow {
  return {
    applicationId: r.application_id,
    integrationId: r.integration_id,
    revision: r.revision,
    profileId: r.profile_id,
    state: r.state as SessionStatus,
    countedSales: normalize(r.counted_sales),
    firstSession: r.first_session === 1,
    lastActivity: r.last_activity,
  };
}

export const customerProfilesWriter: ProjectionWriter = {
  name: 'customer_profiles',
  async apply(store, events) {
    const loaded = await store.selectIn(
      'profile_sessions',
      'stream_id',
      events.map((e) => e.streamId),
    );
    const state: ProfileState = { sessions: new Map(), profiles: new Map() };
    for (const r of loaded) state.sessions.set(r.stream_id, sessionFromColumns(r));
    // The profiles a batch can touch: those its sessions belong to now, and those its events name.
    const profileIds = new Set([...state.sessions.values()].map((s) => profileKeyId(s)));
    for (const { streamId, event } of events) {
      if (event.type === 'SessionCreated' || event.type === 'ProfileChanged') {
        const { applicationId } = parseSessionStream(streamId);
        profileIds.add(profileKeyId({ applicationId, profileId: event.data.profileId }));
      }
    }
    for (const r of await store.selectIn('customer_profiles', 'id', [...profileIds])) {
      state.profiles.set(r.id, profileFromColumns(r));
    }

    // The rows were loaded for this batch alone: folded in place (same rows as `foldCustomerProfiles`).
    const changed: ProfileChanges = { sessions: new Set(), profiles: new Set() };
    foldCustomerProfilesInPlace(state, events, events.length, new StreamNames(), changed);
    await store.upsert(
      'profile_sessions',
      ['stream_id'],
      [...changed.sessions].map((streamId) => sessionColumns(streamId, state.sessions.get(streamId)!)),
    );
    await store.upsert(
      'customer_profiles',
      ['id'],
      [...changed.profiles].map((id) => profileColumns(id, state.profiles.get(id)!)),
    );
  },
  async erase(store, streamIds) {
    const state: ProfileState = { sessions: new Map(), profiles: new Map() };
    for (const r of await store.selectIn('profile_sessions', 'stream_id', streamIds))
      state.sessions.set(r.stream_id, sessionFromColumns(r));
    if (state.sessions.size === 0) return; // streams the projection never saw (or erased already)
    const erasedOf = new Map<string, number>();
    for (const s of state.sessions.values()) {
      if (s.profileId === '') continue;
      const id = profileKeyId(s);
      erasedOf.set(id, (erasedOf.get(id) ?? 0) + 1);
    }
    for (const r of await store.selectIn('customer_profiles', 'id', [...erasedOf.keys()]))
      state.profiles.set(r.id, profileFromColumns(r));
    // The profiles an erased session claimed first, whichever it belongs to now (it may have left them). No index
    // is on that column: erasures are rare, and this reads the table once per batch that holds some.
    const erasedRows = [...state.sessions.values()];
    const firstClaims = new Map<string, string[]>();
    for (const r of await store.selectIn(
      'customer_profiles',
      'first_session_integration_id',
      erasedRows.map((s) => s.integrationId),
    )) {
      if (!state.profiles.has(r.id)) state.profiles.set(r.id, profileFromColumns(r));
      const claim = `${r.application_id}|${r.first_session_integration_id}`;
      firstClaims.set(claim, [...(firstClaims.get(claim) ?? []), r.id]);
    }
    // The other sessions of the profiles that keep some, for their first session and latest activity (found by
    // profile id: migration 0005's index); read only for a profile not erased whole.
    const kept = [...state.profiles.values()].filter(
      (p) => p.sessionCount > (erasedOf.get(profileKeyId(p)) ?? 0),
    );
    const streamsOf = new Map<string, string[]>();
    if (kept.length > 0) {
      const wanted = new Set(kept.map((p) => profileKeyId(p)));
      for (const r of await store.selectIn(
        'profile_sessions',
        'profile_id',
        kept.map((p) => p.profileId),
      )) {
        const id = profileKeyId({ applicationId: r.application_id, profileId: r.profile_id });
        if (!wanted.has(id)) continue;
        if (!state.sessions.has(r.stream_id)) state.sessions.set(r.stream_id, sessionFromColumns(r));
        streamsOf.set(id, [...(streamsOf.get(id) ?? []), r.stream_id]);
      }
    }
    const changed: ProfileErasure = { sessions: new Set(), profiles: new Set() };
    eraseCustomerProfileSessionsInPlace(
      state,
      streamIds,
      (id) => streamsOf.get(id) ?? [],
      (row) => firstClaims.get(`${row.applicationId}|${row.integrationId}`) ?? [],
      changed,
    );
    await store.deleteIn('profile_sessions', 'stream_id', [...changed.sessions]);
    const written = [...changed.profiles].filter((id) => state.profiles.has(id));
    await store.upsert(
      'customer_profiles',
      ['id'],
      written.map((id) => profileColumns(id, state.profiles.get(id)!)),
    );
    await store.deleteIn(
      'customer_profiles',
      'id',
      [...changed.profiles].filter((id) => !state.profiles.has(id)),
    );
  },
};

export function sessionColumns(streamId: string, s: ProfileSessionRow): ReadModelTables['profile_sessions'] {
  return {
    stream_id: streamId,
    application_id: s.applicationId,
    integration_id: s.integrationId,
    profile_id: s.profileId,
    state: s.state,
    counted_sales: s.countedSales,
    first_session: s.firstSession ? 1 : 0,
    last_activity: s.lastActivity,
    revision: s.revision,
  };
}

export function profileColumns(id: string, p: CustomerProfileRow): ReadModelTables['customer_profiles'] {
  return {
    id,
    application_id: p.applicationId,
    profile_id: p.profileId,
    session_count: p.sessionCount,
    closed_sessions: p.closedSessions,
    total_sales: p.totalSales,
    first_session_integration_id: p.firstSessionIntegrationId,
    last_activity: p.lastActivity,
  };
}
