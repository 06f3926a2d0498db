/**
 * The first-session claim of a customer profile, in the profile's own stream `profile-{app}-{profileId}`.
 *
 * The stream's latest `ProfileFirstSessionClaimed` event names the session that is (or is becoming) the
 * profile's first. Every write to the stream expects the revision read just before (`no_stream` for the first
 * claim), so two writers race safely: exactly one wins, the other re-reads and decides again.
 *
 * A claim is *honoured* once the named session committed it: its stream records it as the profile's first
 * session (`SessionCreated` or `ProfileChanged` with that profileId and `firstSession: true`). A claim whose
 * session never committed it — the API died or lost the store between the claim and the session append, or
 * the append was then refused — is *stale* once it is older than the grace window (`graceMs`, judged from the
 * server's `created` time of the claim event), and the next session of the profile takes it over with a
 * `takeover` claim. A later session that finds an old claim honoured records that with a `confirmed` event,
 * so nobody reads the session's stream for it again.
 *
 * A claim whose session stream an operator deleted — tombstoned (every read of it fails), or soft-deleted (it
 * reads as not found; its metadata stream holds the `$tb` the delete wrote) — names a session that existed,
 * whether or not it had committed the claim (docs/command-api.md, "Profile claim"): the claim stands, as a
 * young one does. Later sessions of the profile are not first, and nothing is appended: a `confirmed` event
 * says that the session's stream records the claim, which nobody can read any more, and a takeover would make
 * a second first session. So every later session of the profile checks such a claim again (one more read; two
 * for a soft delete). Nothing here logs it: no logger reaches this far, and the deletion is the operator's own.
 *
 * A profile stream an operator tombstoned (the profile's history erased) can be neither read nor written: the
 * profile had its first session, which can no longer be named, and no claim can be made for another one. So a
 * session of that profile is not its first (dry runs say the same), nothing is written, and nothing fails —
 * rather than every later session of the profile becoming a first one, or its creates failing.
 *
 * Why the window is safe: a command trusts its own claim without looking only while the claim is younger than
 * half the window; an older own claim is checked and, if not committed, renewed (a `takeover` naming the same
 * session, which races any other taker on the expected revision). Between the read that trusted the claim and
 * the session append lies one store call, bounded by the call deadline (`EVENTSTORE_CALL_TIMEOUT_MS`), which
 * the default window exceeds many times over. A takeover therefore never meets a session append still under
 * way — except an append the client gave up on at its deadline and a hung store applies minutes later
 * (docs/command-api.md, "Profile claim").
 *
 * Cost: a session whose profile claim is its own and young, or another session's and young or confirmed, pays
 * the one read of the latest claim event, as before. Only a claim older than the window and not confirmed
 * costs a read of the named session's stream and one append (the confirmation or the takeover) — once per
 * profile for a claim that was honoured.
 */
import { isSchemaVersion, storedSchemaVersion } from '@session-engine/session-domain';
import {
  StreamRevisionConflict,
  StreamTombstonedError,
  type EsdbClientAdapter,
  type JsonObject,
  type StoredEvent,
} from './esdb-client.adapter';
import { fromStoredEvent, profileStreamName, sessionStreamName } from './serialization';

export const PROFILE_CLAIMED = 'ProfileFirstSessionClaimed';
/** The schema version of `ProfileFirstSessionClaimed` written today (docs/events.md). */
export const PROFILE_CLAIMED_SCHEMA_VERSION = 2;
/** The grace window of an uncommitted claim by default (see `profileClaimGraceMs`). */
export const DEFAULT_PROFILE_CLAIM_GRACE_MS = 10 * 60_000;
const MAX_ATTEMPTS = 5;

/**
 * The grace window for a store whose calls have the deadline `callTimeoutMs`: 10 minutes, or 4 deadlines when
 * that is longer. A command's own claim is renewed at half the window, so one deadline (the session append)
 * plus the clock skew between the API hosts and the store must stay well under half of it.
 */
export function profileClaimGraceMs(callTimeoutMs: number | undefined): number {
  return Math.max(DEFAULT_PROFILE_CLAIM_GRACE_MS, 4 * (callTimeoutMs ?? 0));
}

/**
 * - `first`: the profile had no claim (the stream's first event; every v1 event reads as this);
 * - `takeover`: replaces the stale claim `replaces` (older than the window, its session never committed it);
 *   `replaces` names the same session when a retry of its command renews its own stale claim;
 * - `confirmed`: the named session's stream records it as the profile's first session; honoured for good.
 */
export type ProfileClaimKind = 'first' | 'takeover' | 'confirmed';

const CLAIM_KINDS: readonly unknown[] = ['first', 'takeover', 'confirmed'] satisfies ProfileClaimKind[];

/** `ProfileFirstSessionClaimed` v2 (v1 had no `kind` and no `replaces`). */
export interface ProfileClaimData {
  at: string;
  applicationId: number;
  profileId: string;
  sessionIntegrationId: string;
  sessionId: number;
  kind: ProfileClaimKind;
  replaces?: { sessionIntegrationId: string; revision: number };
}

/** A claim event as read: upcast data, its revision and the server's time of the write (ms, NaN if unknown). */
export interface RecordedProfileClaim {
  revision: bigint;
  createdMs: number;
  data: ProfileClaimData;
}

export class ProfileClaimSchemaError extends Error {
  override readonly name = 'ProfileClaimSchemaError';
}

/**
 * Brings a stored claim event up to v2: v1 (no `schemaVersion`, or 1) was always the stream's only claim.
 * Refuses (`ProfileClaimSchemaError`) rather than guesses what an event means when it is of another type, of a
 * version above the current one, names no session, or (v2) has no `kind` of the three. The API reads every
 * claim through it, and `replay import` checks every claim of a file with it before appending any.
 */
export function readProfileClaim(stored: StoredEvent): RecordedProfileClaim {
  if (stored.unreadable !== undefined)
    throw new ProfileClaimSchemaError(
      `${stored.type} in ${stored.streamName} is no JSON the engine wrote: ${stored.unreadable}`,
    );
  if (stored.type !== PROFILE_CLAIMED)
    throw new ProfileClaimSchemaError(`Unknown event type "${stored.type}" in ${stored.streamName}`);
  // No `schemaVersion` is v1 (written before versions existed); `null`, `"2"`, 2.5 or 0 are refused, as the
  // session-event readers refuse them.
  const version = storedSchemaVersion(stored.metadata);
  if (!isSchemaVersion(version) || version > PROFILE_CLAIMED_SCHEMA_VERSION) {
    throw new ProfileClaimSchemaError(
      `Unknown schema version ${JSON.stringify(version)} of ${PROFILE_CLAIMED} in ${stored.streamName} ` +
        `(versions 1..${PROFILE_CLAIMED_SCHEMA_VERSION} are known)`,
    );
  }
  const data = (version === 1
    ? { ...stored.data, kind: 'first' }
    : stored.data) as unknown as ProfileClaimData;
  if (typeof data.sessionIntegrationId !== 'string')
    throw new ProfileClaimSchemaError(
      `${PROFILE_CLAIMED} v${version} in ${stored.streamName} names no session (sessionIntegrationId)`,
    );
  if (!CLAIM_KINDS.includes(data.kind))
    throw new ProfileClaimSchemaError(
      `${PROFILE_CLAIMED} v${version} in ${stored.streamName} has ` +
        `${data.kind === undefined ? 'no kind' : `the kind ${JSON.stringify(data.kind)}`}, not one of ` +
        CLAIM_KINDS.join(', '),
    );
  return { revision: stored.revision, createdMs: Date.parse(stored.created), data };
}

/**
 * What the latest claim means for `sessionIntegrationId` at `nowMs`, before any other read:
 * - `unclaimed`: no claim yet, the session may make the first one;
 * - `mine` / `theirs`: the claim names this session / another one, and stands as it is: confirmed, or young
 *   enough (another session's: younger than the window; this session's own: younger than half of it);
 * - `check`: it is old and unconfirmed: the named session's stream tells whether it was honoured or is stale.
 * A claim whose time is unknown counts as young: it is never taken over.
 */
export function judgeClaim(
  latest: RecordedProfileClaim | undefined,
  sessionIntegrationId: string,
  nowMs: number,
  graceMs: number,
): 'unclaimed' | 'mine' | 'theirs' | 'check' {
  if (latest === undefined) return 'unclaimed';
  const mine = latest.data.sessionIntegrationId === sessionIntegrationId;
  if (latest.data.kind === 'confirmed') return mine ? 'mine' : 'theirs';
  const age = nowMs - latest.createdMs;
  const young = !(age >= (mine ? graceMs / 2 : graceMs));
  if (young) return mine ? 'mine' : 'theirs';
  return 'check';
}

/** Whether a session's events record it as the first session of `profileId` (it committed that claim). */
export function recordsFirstSession(events: readonly StoredEvent[], profileId: string): boolean {
  return events.some((stored) => {
    if (stored.type !== 'SessionCreated' && stored.type !== 'ProfileChanged') return false;
    const { event } = fromStoredEvent(stored);
    return (
      (event.type === 'SessionCreated' || event.type === 'ProfileChanged') &&
      event.data.profileId === profileId &&
      event.data.firstSession
    );
  });
}

export interface ClaimRequest {
  applicationId: number;
  profileId: string;
  sessionIntegrationId: string;
  sessionId: number;
  at: string;
  metadata: JsonObject;
}

export interface ProfileClaimsOptions {
  /** The grace window of an uncommitted claim (default: `profileClaimGraceMs` of the store's call deadline). */
  graceMs?: number;
  /** The clock claims are aged by (ms since the epoch; default `Date.now`). */
  now?: () => number;
}

export class ProfileClaims {
  readonly graceMs: number;
  private readonly now: () => number;

  constructor(
    private readonly store: EsdbClientAdapter,
    options: ProfileClaimsOptions = {},
  ) {
    this.graceMs = options.graceMs ?? profileClaimGraceMs(store.callTimeoutMs);
    this.now = options.now ?? (() => Date.now());
  }

  /** Whether the session would be the profile's first, without claiming or confirming anything (dry runs). */
  async peek(applicationId: number, profileId: string, sessionIntegrationId: string): Promise<boolean> {
    let latest: RecordedProfileClaim | undefined;
    try {
      latest = await this.latest(applicationId, profileId);
    } catch (error) {
      if (profileErased(error, applicationId, profileId)) return false;
      throw error;
    }
    switch (judgeClaim(latest, sessionIntegrationId, this.now(), this.graceMs)) {
      case 'unclaimed':
      case 'mine':
        return true;
      case 'theirs':
        return false;
      case 'check': {
        // An old claim of its own it would renew; another session's it would take over unless honoured (or
        // its session deleted).
        const named = latest!.data.sessionIntegrationId;
        return (
          named === sessionIntegrationId ||
          (await this.sessionRecord(applicationId, profileId, named)) === 'uncommitted'
        );
      }
    }
  }

  /**
   * Claims the profile for the session unless another session holds the claim; returns whether the session is
   * the first one. Takes a stale claim over, renews its own stale one, confirms an honoured old one, and leaves
   * one whose session stream was deleted as it is. A tombstoned profile stream (the profile erased): not the
   * first, nothing written.
   */
  async claim(request: ClaimRequest): Promise<boolean> {
    const { applicationId, profileId, sessionIntegrationId } = request;
    for (let attempt = 1; ; attempt++) {
      let latest: RecordedProfileClaim | undefined;
      try {
        latest = await this.latest(applicationId, profileId);
        switch (judgeClaim(latest, sessionIntegrationId, this.now(), this.graceMs)) {
          case 'unclaimed':
            await this.append(request, { kind: 'first' }, 'no_stream');
            return true;
          case 'mine':
            return true;
          case 'theirs':
            return false;
          case 'check': {
            const named = latest!.data;
            switch (await this.sessionRecord(applicationId, profileId, named.sessionIntegrationId)) {
              case 'committed':
                await this.confirm(request, latest!);
                return named.sessionIntegrationId === sessionIntegrationId;
              case 'deleted':
                return named.sessionIntegrationId === sessionIntegrationId;
              case 'uncommitted':
                break;
            }
            await this.append(
              request,
              {
                kind: 'takeover',
                replaces: {
                  sessionIntegrationId: named.sessionIntegrationId,
                  revision: Number(latest!.revision),
                },
              },
              latest!.revision,
            );
            return true;
          }
        }
      } catch (error) {
        // Tombstoned when it was read, or between that read and this write.
        if (profileErased(error, applicationId, profileId)) return false;
        // Someone else wrote the stream since the read: the next read tells who holds the claim now.
        if (!(error instanceof StreamRevisionConflict) || attempt >= MAX_ATTEMPTS) throw error;
      }
    }
  }

  /** The latest claim event of the profile, if any (one event, read backwards). */
  async latest(applicationId: number, profileId: string): Promise<RecordedProfileClaim | undefined> {
    const [last] = await this.store.readStream(profileStreamName(applicationId, profileId), {
      direction: 'backwards',
      maxCount: 1,
    });
    return last && readProfileClaim(last);
  }

  /**
   * What the session's stream says of the claim: `committed` when it records the session as the profile's
   * first (its first event, else the rest), `deleted` when an operator deleted the stream (see the file's
   * comment), else `uncommitted` — the stream does not exist, or does not record it.
   */
  private async sessionRecord(
    applicationId: number,
    profileId: string,
    integrationId: string,
  ): Promise<'committed' | 'uncommitted' | 'deleted'> {
    const stream = sessionStreamName(applicationId, integrationId);
    try {
      const head = await this.store.readStream(stream, { maxCount: 1 });
      if (head.length === 0) return (await this.softDeleted(stream)) ? 'deleted' : 'uncommitted';
      if (recordsFirstSession(head, profileId)) return 'committed';
      const rest = await this.store.readStream(stream, { fromRevision: head[0]!.revision + 1n });
      return recordsFirstSession(rest, profileId) ? 'committed' : 'uncommitted';
    } catch (error) {
      if (error instanceof StreamTombstonedError) return 'deleted';
      throw error;
    }
  }

  /**
   * Whether a stream that reads as empty had events that were deleted: its metadata stream's latest `$metadata`
   * truncates it (`$tb` > 0). A soft delete writes that — `$tb` = 2⁶³−1 until the stream is written again (EventStoreDB
   * and the embedded server alike) — and so does an operator who truncates a
   * stream past its end. A stream never written has no such metadata.
   */
  private async softDeleted(stream: string): Promise<boolean> {
    const [metadata] = await this.store.readStream(`$$${stream}`, { direction: 'backwards', maxCount: 1 });
    const truncateBefore = metadata?.data.$tb;
    return typeof truncateBefore === 'number' && truncateBefore > 0;
  }

  /** Records that the latest claim was honoured; another writer got there first is as good. */
  private async confirm(request: ClaimRequest, latest: RecordedProfileClaim): Promise<void> {
    try {
      await this.append(
        {
          ...request,
          sessionIntegrationId: latest.data.sessionIntegrationId,
          sessionId: latest.data.sessionId,
        },
        { kind: 'confirmed' },
        latest.revision,
      );
    } catch (error) {
      if (!(error instanceof StreamRevisionConflict)) throw error;
    }
  }

  private async append(
    request: ClaimRequest,
    claim: Pick<ProfileClaimData, 'kind' | 'replaces'>,
    expectedRevision: bigint | 'no_stream',
  ): Promise<void> {
    const data: ProfileClaimData = {
      at: request.at,
      applicationId: request.applicationId,
      profileId: request.profileId,
      sessionIntegrationId: request.sessionIntegrationId,
      sessionId: request.sessionId,
      ...claim,
    };
    await this.store.appendToStream(
      profileStreamName(request.applicationId, request.profileId),
      [
        {
          type: PROFILE_CLAIMED,
          data: data as unknown as JsonObject,
          metadata: { schemaVersion: PROFILE_CLAIMED_SCHEMA_VERSION, ...request.metadata },
        },
      ],
      expectedRevision,
    );
  }
}

/** Whether `error` says that the profile's own stream was tombstoned (not a session stream it names). */
const profileErased = (error: unknown, applicationId: number, profileId: string): boolean =>
  error instanceof StreamTombstonedError && error.streamName === profileStreamName(applicationId, profileId);
