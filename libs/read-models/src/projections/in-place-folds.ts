import type { CountedLine, SessionEditEventType } from '@session-engine/session-domain';
import { add, sub, ZERO } from '../money';
import { parseSessionStream, type ProjectedEvent, type SessionStreamName, utcDay } from '../projected-event';
import type {
  CustomerProfileRow,
  ProfileChanges,
  ProfileSessionRow,
  ProfileState,
} from './customer-profiles.projection';
import { type DailyAnalyticsRow, emptyDailyRow } from './daily-analytics.projection';
import type { FlowState } from './flow-projection';
import { passesBy } from './passes-by';
import type { SkuAnalyticsRow } from './sku-analytics.projection';

/**
 * The customer-profile and flow folds on rows the caller owns, updated in place instead of copied per
 * event: what the projector's writers run on the rows they loaded for one batch. The projections' pure
 * functions (`evolveProfileSession`, `evolveCustomerProfile`, the flow projections' `evolve`) spread a
 * new row for every event, which made these the costliest folds of a batch; here are the same steps
 * and the same money operations in the same order, so the rows are the same (`in-place-folds.spec.ts`
 * checks rows and changed sets against `foldCustomerProfiles` and `foldFlow`). The audit's
 * recomputation (`read-model-recompute.ts`) folds the same way. Each fold takes `events[0 … n)` and,
 * when given a set, records the keys of the rows it changed as the pure folds report them. */

/** `parseSessionStream`, remembered per stream (every projection needs it for every event). */
export class StreamNames {
  private readonly names = new Map<string, SessionStreamName>();

  of(streamId: string): SessionStreamName {
    let name = this.names.get(streamId);
    if (name === undefined) {
      name = parseSessionStream(streamId);
      this.names.set(streamId, name);
    }
    return name;
  }
}

/** `foldCustomerProfiles` in place. */
export function foldCustomerProfilesInPlace(
  state: ProfileState,
  events: readonly ProjectedEvent[],
  n: number,
  names: StreamNames,
  changed?: ProfileChanges,
): void {
  const { sessions } = state;
  for (let i = 0; i < n; i++) {
    const projected = events[i];
    const { event, revision } = projected;
    let row = sessions.get(projected.streamId);
    if (row !== undefined && revision <= row.revision) continue;
    if (row === undefined) {
      if (event.type !== 'SessionCreated') continue; // a stream read from its middle: nothing to count
      const { applicationId, integrationId } = names.of(projected.streamId);
      row = {
        applicationId,
        integrationId,
        revision,
        profileId: '',
        state: 'open',
        countedSales: ZERO,
        firstSession: false,
        lastActivity: event.data.at,
      };
      sessions.set(projected.streamId, row);
    } else if (row.profileId !== '') {
      // The session's contribution as it was leaves its profile…
      contribute(state, row, -1, changed);
    }
    changed?.sessions.add(projected.streamId);
    row.revision = revision;
    row.lastActivity = event.data.at;
    switch (event.type) {
      case 'SessionCreated':
        // A session created anew on its soft-deleted stream: the old one's contribution left above, and what it
        // counted goes with it.
        row.state = 'open';
        row.countedSales = ZERO;
        row.profileId = event.data.profileId;
        row.firstSession = event.data.firstSession;
        break;
      case 'ProfileChanged':
        row.profileId = event.data.profileId;
        row.firstSession = event.data.firstSession;
        break;
      case 'SessionClosed':
        row.state = 'closed';
        row.countedSales = event.data.total;
        break;
      case 'CartItemsReturned':
        row.state = 'partially_returned';
        row.countedSales = sub(row.countedSales, event.data.returnedValue);
        break;
      case 'SessionCancelled':
        row.state = 'cancelled';
        row.countedSales = ZERO;
        break;
      case 'SessionReopened':
        row.state = 'open';
        row.countedSales = ZERO;
        break;
      default:
        passesBy<SessionEditEventType>(event.type);
        break;
    }
    // … and the new one joins its (possibly other) profile.
    if (row.profileId !== '') contribute(state, row, 1, changed);
  }
}

/** What `eraseCustomerProfileSessionsInPlace` changed: rows to delete, and profiles to write or to delete. */
export interface ProfileErasure {
  /** `profile_sessions` rows removed (stream ids). */
  sessions: Set<string>;
  /** Profiles touched (key ids): written when still in `state.profiles`, deleted otherwise. */
  profiles: Set<string>;
}

/**
 * Tombstones of session streams (an erasure), in order: each stream's session row leaves `state.sessions`, and its
 * profile becomes what the fold of the log without the stream's events gives. `sessionCount`, `closedSessions`
 * and `totalSales` lose the session's contribution (they are sums over the sessions the profile has now). A
 * profile left without a session is removed: a log without the session would have made no row of it — unless a
 * session that has moved to another profile since was once its, which that log would count as 0 sessions (the
 * erase command erases such a session too: it names the profile). `firstSessionIntegrationId`, when it is the
 * erased session's, becomes that of a remaining session of the profile that claimed it, or null; `lastActivity`,
 * when the erased session may have set it, becomes the latest of the remaining sessions' (a session that moved to
 * another profile since may have set a later one, which only the log knows: then `replay verify` tells, and a
 * rebuild puts it right). `streamsOf(profileKeyId)`: the stream ids of the sessions in `state.sessions` that
 * belong to that profile (more may be given: they are checked), for those two fields. A stream never seen changes
 * nothing.
 *
 * A session keeps the first-session mark of a profile it claimed and then left (`ProfileChanged`): the erased
 * session's id must not stay there. `firstClaimedBy(row)`: the key ids of the profiles whose
 * `firstSessionIntegrationId` is the session's (more may be given: they are checked), all in `state.profiles`.
 * Such a profile that has no session left is removed (a log without the session made no row of it, unless
 * another session passed through it: a rebuild keeps that row), one that has takes its first session from its
 * sessions, as above.
 */
export function eraseCustomerProfileSessionsInPlace(
  state: ProfileState,
  streamIds: readonly string[],
  streamsOf: (profileId: string) => Iterable<string>,
  firstClaimedBy: (row: ProfileSessionRow) => Iterable<string>,
  changed?: ProfileErasure,
): void {
  const { sessions, profiles } = state;
  /**
   * Of the sessions the profile (key id) has now: the one that claimed it first (null if none did), and the
   * latest activity (null if it has none). Two sessions may say they are its first (a claim's residual race, see
   * the profile claims): the fold keeps the one whose event came last, here the one with the latest activity
   * (then the greatest stream id), the same whichever order `streamsOf` gives them in — so the projector and
   * `replay verify` agree.
   */
  const remaining = (id: string, profile: CustomerProfileRow) => {
    let claimed: { streamId: string; session: ProfileSessionRow } | undefined;
    let lastActivity: string | null = null;
    for (const other of streamsOf(id)) {
      const session = sessions.get(other);
      if (session === undefined || session.applicationId !== profile.applicationId) continue;
      if (session.profileId !== profile.profileId) continue;
      if (lastActivity === null || session.lastActivity > lastActivity) lastActivity = session.lastActivity;
      if (!session.firstSession) continue;
      const later =
        claimed === undefined ||
        session.lastActivity > claimed.session.lastActivity ||
        (session.lastActivity === claimed.session.lastActivity && other > claimed.streamId);
      if (later) claimed = { streamId: other, session };
    }
    return { firstSession: claimed?.session.integrationId ?? null, lastActivity };
  };
  for (const streamId of streamIds) {
    const row = sessions.get(streamId);
    if (row === undefined) continue;
    sessions.delete(streamId);
    changed?.sessions.add(streamId);
    const id = row.profileId === '' ? undefined : `${row.applicationId}|${row.profileId}`;
    for (const formerId of firstClaimedBy(row)) {
      const former = profiles.get(formerId);
      if (formerId === id || former === undefined || former.applicationId !== row.applicationId) continue;
      if (former.firstSessionIntegrationId !== row.integrationId) continue;
      changed?.profiles.add(formerId);
      if (former.sessionCount <= 0) profiles.delete(formerId);
      else former.firstSessionIntegrationId = remaining(formerId, former).firstSession;
    }
    if (id === undefined) continue;
    const profile = profiles.get(id);
    if (profile === undefined) continue;
    changed?.profiles.add(id);
    const counts = row.state === 'closed' || row.state === 'partially_returned';
    profile.sessionCount -= 1;
    if (counts) {
      profile.closedSessions -= 1;
      profile.totalSales = sub(profile.totalSales, row.countedSales);
    }
    if (profile.sessionCount <= 0) {
      profiles.delete(id);
      continue;
    }
    const first = profile.firstSessionIntegrationId === row.integrationId;
    const latest = profile.lastActivity !== null && row.lastActivity >= profile.lastActivity;
    if (!first && !latest) continue;
    const left = remaining(id, profile);
    if (first) profile.firstSessionIntegrationId = left.firstSession;
    if (latest && left.lastActivity !== null) profile.lastActivity = left.lastActivity;
  }
}

/** `evolveCustomerProfile` in place: adds (`sign` = 1) or removes (-1) a session's contribution. */
function contribute(
  state: ProfileState,
  session: ProfileSessionRow,
  sign: 1 | -1,
  changed: ProfileChanges | undefined,
): void {
  const id = `${session.applicationId}|${session.profileId}`;
  let profile = state.profiles.get(id);
  if (profile === undefined) {
    profile = {
      applicationId: session.applicationId,
      profileId: session.profileId,
      sessionCount: 0,
      closedSessions: 0,
      totalSales: ZERO,
      firstSessionIntegrationId: null,
      lastActivity: null,
    };
    state.profiles.set(id, profile);
  }
  changed?.profiles.add(id);
  const counts = session.state === 'closed' || session.state === 'partially_returned';
  const sales = counts ? session.countedSales : ZERO;
  profile.sessionCount += sign;
  if (counts) profile.closedSessions += sign;
  if (sign > 0) {
    profile.totalSales = add(profile.totalSales, sales);
    // The session that claimed the profile stays its first session, even if it later moves away.
    if (session.firstSession) profile.firstSessionIntegrationId = session.integrationId;
    if (profile.lastActivity === null || session.lastActivity > profile.lastActivity)
      profile.lastActivity = session.lastActivity;
  } else {
    profile.totalSales = sub(profile.totalSales, sales);
  }
}

/** `foldFlow(dailyAnalyticsProjection)` in place; the same money operations in the same order as `evolveDailyAnalytics`. */
export function foldDailyAnalyticsInPlace(
  state: FlowState<DailyAnalyticsRow>,
  events: readonly ProjectedEvent[],
  n: number,
  names: StreamNames,
  changed?: Set<string>,
): void {
  const { rows, revisions } = state;
  for (let i = 0; i < n; i++) {
    const projected = events[i];
    const applied = revisions.get(projected.streamId);
    if (applied !== undefined && projected.revision <= applied) continue;
    revisions.set(projected.streamId, projected.revision);
    const { event } = projected;
    switch (event.type) {
      case 'SessionCreated':
      case 'SessionClosed':
      case 'SessionCancelled':
      case 'SessionReopened':
      case 'CartItemsReturned':
        break;
      default:
        passesBy<SessionEditEventType | 'ProfileChanged'>(event.type);
        continue;
    }
    const { applicationId } = names.of(projected.streamId);
    const date = utcDay(event.data.at);
    const id = `${applicationId}|${date}`;
    let row = rows.get(id);
    if (row === undefined) {
      row = emptyDailyRow(applicationId, date);
      rows.set(id, row);
    }
    changed?.add(id);
    switch (event.type) {
      case 'SessionCreated':
        row.sessionsCreated += 1;
        continue;
      case 'SessionClosed':
        row.sessionsClosed += 1;
        row.grossRevenue = add(row.grossRevenue, event.data.total);
        break;
      case 'SessionCancelled':
        row.sessionsCancelled += 1;
        row.reversedRevenue = add(row.reversedRevenue, event.data.reversedRevenue);
        break;
      case 'SessionReopened':
        row.sessionsReopened += 1;
        row.reversedRevenue = add(row.reversedRevenue, event.data.reversedRevenue);
        break;
      case 'CartItemsReturned': {
        const lines = event.data.returnedCartItems;
        let items = row.itemsReturned;
        for (let k = 0; k < lines.length; k++) items += lines[k].quantity;
        row.itemsReturned = items;
        row.returnedValue = add(row.returnedValue, event.data.returnedValue);
        break;
      }
    }
    row.netRevenue = sub(row.grossRevenue, row.returnedValue, row.reversedRevenue);
  }
}

/** The keys of the daily rows `events` can touch (`dailyAnalyticsProjection.keysOf` / `keyId`, without copies). */
export function dailyAnalyticsIds(events: readonly ProjectedEvent[], names: StreamNames): Set<string> {
  const ids = new Set<string>();
  for (const { streamId, event } of events) {
    switch (event.type) {
      case 'SessionCreated':
      case 'SessionClosed':
      case 'SessionCancelled':
      case 'SessionReopened':
      case 'CartItemsReturned':
        ids.add(`${names.of(streamId).applicationId}|${utcDay(event.data.at)}`);
        break;
      default:
        passesBy<SessionEditEventType | 'ProfileChanged'>(event.type);
        break;
    }
  }
  return ids;
}

/** The keys of the SKU rows `events` can touch (`skuAnalyticsProjection.keysOf` / `keyId`, without copies). */
export function skuAnalyticsIds(events: readonly ProjectedEvent[], names: StreamNames): Set<string> {
  const ids = new Set<string>();
  for (const { streamId, event } of events) {
    let lines: readonly CountedLine[];
    switch (event.type) {
      case 'SessionClosed':
        lines = event.data.items;
        break;
      case 'SessionCancelled':
      case 'SessionReopened':
        lines = event.data.reversedItems;
        break;
      case 'CartItemsReturned':
        lines = event.data.returnedCartItems;
        break;
      default:
        passesBy<SessionEditEventType | 'SessionCreated' | 'ProfileChanged'>(event.type);
        continue;
    }
    if (lines.length === 0) continue;
    const prefix = `${names.of(streamId).applicationId}|${utcDay(event.data.at)}|`;
    for (const line of lines) ids.add(prefix + line.sku);
  }
  return ids;
}

/** Index of the first line of `sku` (events carry a handful of lines). */
function indexOfSku(lines: readonly CountedLine[], sku: string): number {
  for (let i = 0; i < lines.length; i++) if (lines[i].sku === sku) return i;
  return -1;
}

/**
 * `foldFlow(skuAnalyticsProjection)` in place. As the projection does, lines of one SKU in one event
 * are first added together (their revenue from zero, line by line), then added to the SKU's row of
 * that day.
 */
export function foldSkuAnalyticsInPlace(
  state: FlowState<SkuAnalyticsRow>,
  events: readonly ProjectedEvent[],
  n: number,
  names: StreamNames,
  changed?: Set<string>,
): void {
  const { rows, revisions } = state;
  for (let i = 0; i < n; i++) {
    const projected = events[i];
    const applied = revisions.get(projected.streamId);
    if (applied !== undefined && projected.revision <= applied) continue;
    revisions.set(projected.streamId, projected.revision);
    const { event } = projected;
    let lines: readonly CountedLine[];
    let sign: 1 | -1 = -1;
    let sold = true;
    switch (event.type) {
      case 'SessionClosed':
        lines = event.data.items;
        sign = 1;
        break;
      case 'SessionCancelled':
      case 'SessionReopened':
        lines = event.data.reversedItems;
        break;
      case 'CartItemsReturned':
        lines = event.data.returnedCartItems;
        sold = false;
        break;
      default:
        passesBy<SessionEditEventType | 'SessionCreated' | 'ProfileChanged'>(event.type);
        continue;
    }
    if (lines.length === 0) continue;
    const { applicationId } = names.of(projected.streamId);
    const date = utcDay(event.data.at);
    for (let k = 0; k < lines.length; k++) {
      const sku = lines[k].sku;
      if (indexOfSku(lines, sku) < k) continue; // added with the first line of its SKU
      let quantity = 0;
      let revenue: string = ZERO;
      for (let j = k; j < lines.length; j++) {
        const line = lines[j];
        if (line.sku !== sku) continue;
        quantity += sold ? sign * line.quantity : line.quantity;
        revenue = sign > 0 ? add(revenue, line.value) : sub(revenue, line.value);
      }
      const id = `${applicationId}|${date}|${sku}`;
      let row = rows.get(id);
      if (row === undefined) {
        row = { applicationId, sku, date, quantitySold: 0, quantityReturned: 0, revenue: ZERO };
        rows.set(id, row);
      }
      changed?.add(id);
      if (sold) row.quantitySold += quantity;
      else row.quantityReturned += quantity;
      row.revenue = add(row.revenue, revenue);
    }
  }
}
