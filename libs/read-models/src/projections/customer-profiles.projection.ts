import type { SessionEditEventType, SessionStatus } from '@session-engine/session-domain';
import { add, type Money, sub, ZERO } from '../money';
import { parseSessionStream, type ProjectedEvent } from '../projected-event';
import { passesBy } from './passes-by';

/**
 * Customer profiles are built in two pure steps:
 * 1. every session keeps a small row (`ProfileSessionRow`) folded from its own stream — which profile
 *    it belongs to now, its state, what it still counts as sales, whether it claimed the profile;
 * 2. a profile (`CustomerProfileRow`) is the sum of its sessions' contributions, kept up to date by
 *    removing a session's old contribution and adding its new one whenever that session changes.
 * Profile changes, cancels and reopens then need no special case, and a replayed event (revision
 * already applied) changes neither row.
 */
export interface ProfileSessionRow {
  applicationId: number;
  integrationId: string;
  revision: number;
  profileId: string;
  state: SessionStatus;
  /** Total of the session while it counts as sold, minus the value of units returned since. */
  countedSales: Money;
  firstSession: boolean;
  lastActivity: string;
}

export interface CustomerProfileRow {
  applicationId: number;
  profileId: string;
  sessionCount: number;
  closedSessions: number;
  totalSales: Money;
  firstSessionIntegrationId: string | null;
  lastActivity: string | null;
}

export interface CustomerProfileKey {
  applicationId: number;
  profileId: string;
}

export function evolveProfileSession(row: ProfileSessionRow | null, projected: ProjectedEvent) {
  const { event, revision } = projected;
  if (row && revision <= row.revision) return row;
  if (!row && event.type !== 'SessionCreated') return null; // a stream read from its middle: nothing to count
  const at = event.data.at;
  const base = row ?? {
    ...parseSessionStream(projected.streamId),
    revision,
    profileId: '',
    state: 'open' as SessionStatus,
    countedSales: ZERO,
    firstSession: false,
    lastActivity: at,
  };
  const next: ProfileSessionRow = { ...base, revision, lastActivity: at };
  switch (event.type) {
    case 'SessionCreated':
      // Created anew on its soft-deleted stream (a row already there): the old session's state and sales go.
      return {
        ...next,
        state: 'open' as const,
        countedSales: ZERO,
        profileId: event.data.profileId,
        firstSession: event.data.firstSession,
      };
    case 'ProfileChanged':
      return { ...next, profileId: event.data.profileId, firstSession: event.data.firstSession };
    case 'SessionClosed':
      return { ...next, state: 'closed' as const, countedSales: event.data.total };
    case 'CartItemsReturned':
      return {
        ...next,
        state: 'partially_returned' as const,
        countedSales: sub(next.countedSales, event.data.returnedValue),
      };
    case 'SessionCancelled':
      return { ...next, state: 'cancelled' as const, countedSales: ZERO };
    case 'SessionReopened':
      return { ...next, state: 'open' as const, countedSales: ZERO };
    default:
      // An edit of the open session: only its time and revision.
      passesBy<SessionEditEventType>(event.type);
      return next;
  }
}

export function profileKeyOf(row: ProfileSessionRow | null): CustomerProfileKey | null {
  if (!row || row.profileId === '') return null; // anonymous sessions belong to no profile
  return { applicationId: row.applicationId, profileId: row.profileId };
}

export function profileKeyId(key: CustomerProfileKey): string {
  return `${key.applicationId}|${key.profileId}`;
}

function counts(session: ProfileSessionRow): boolean {
  return session.state === 'closed' || session.state === 'partially_returned';
}

/** Adds (`sign` = 1) or removes (`sign` = -1) one session's contribution to its profile. */
export function evolveCustomerProfile(
  profile: CustomerProfileRow | null,
  session: ProfileSessionRow,
  sign: 1 | -1,
): CustomerProfileRow {
  const current = profile ?? {
    applicationId: session.applicationId,
    profileId: session.profileId,
    sessionCount: 0,
    closedSessions: 0,
    totalSales: ZERO,
    firstSessionIntegrationId: null,
    lastActivity: null,
  };
  const closed = counts(session) ? 1 : 0;
  const sales = counts(session) ? session.countedSales : ZERO;
  return {
    ...current,
    sessionCount: current.sessionCount + sign,
    closedSessions: current.closedSessions + sign * closed,
    totalSales: sign > 0 ? add(current.totalSales, sales) : sub(current.totalSales, sales),
    // The session that claimed the profile stays its first session, even if it later moves away.
    firstSessionIntegrationId:
      sign > 0 && session.firstSession ? session.integrationId : current.firstSessionIntegrationId,
    lastActivity:
      sign > 0 && (current.lastActivity === null || session.lastActivity > current.lastActivity)
        ? session.lastActivity
        : current.lastActivity,
  };
}

export interface ProfileState {
  sessions: Map<string, ProfileSessionRow>;
  profiles: Map<string, CustomerProfileRow>;
}

export interface ProfileChanges {
  sessions: Set<string>;
  profiles: Set<string>;
}

/** Applies events in order to rows already loaded (sessions by stream id, profiles by key id). */
export function foldCustomerProfiles(state: ProfileState, events: readonly ProjectedEvent[]): ProfileChanges {
  const changed: ProfileChanges = { sessions: new Set(), profiles: new Set() };
  for (const event of events) {
    const before = state.sessions.get(event.streamId) ?? null;
    const after = evolveProfileSession(before, event);
    if (after === before || after === null) continue;
    state.sessions.set(event.streamId, after);
    changed.sessions.add(event.streamId);
    for (const [session, sign] of [
      [before, -1],
      [after, 1],
    ] as const) {
      const key = profileKeyOf(session);
      if (!key || !session) continue;
      const id = profileKeyId(key);
      state.profiles.set(id, evolveCustomerProfile(state.profiles.get(id) ?? null, session, sign));
      changed.profiles.add(id);
    }
  }
  return changed;
}
