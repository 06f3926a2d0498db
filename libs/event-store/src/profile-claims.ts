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
 * the append was then refused — is *stale* once it is shown older than the grace window (`graceMs`), and the
 * next session of the profile takes it over with a `takeover` claim. A later session that finds an old claim
 * honoured records that with a `confirmed` event, so nobody reads the session's stream for it again.
 *
 * Shown old, not merely dated old: the claim's times are written by other machines' clocks (the store's
 * `created`, the claimer's `at`), and a reader whose clock runs ahead of the store's by the window — or a store
 * behind the API fleet — would see every claim that old the moment it is written, and take over claims whose
 * session append is still under way (two first sessions). So another session's claim is old only when
 * (`judgeClaim`) this process has known it (that revision, naming that session) for the whole window on its
 * own monotonic clock — which no skew between machines can fake — or when it is older than the wall-clock bound
 * (`wallClockStaleMs`: the window plus an hour) by the API's clock against both the store's `created` and the
 * claimer's `at`, so that a claim a crash left long ago is still taken over by a process that never saw it. A
 * time more than a minute ahead of the API's clock (`PROFILE_CLAIM_FUTURE_TOLERANCE_MS`: a clock far ahead when
 * the claim was written) says no more than a missing one: the other time alone decides, and with neither only
 * the monotonic clock — else such a claim would stand until real time caught up with that clock.
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
 * half the window — by its monotonic clock since it sent the claim's append when this process wrote it, else by
 * the store's `created` (and whatever this process has watched); an older own claim is checked and, if not
 * committed, renewed (a `takeover` naming the same session, which races any other taker on the expected
 * revision). Between the read that trusted the claim and the session append lies one store call, bounded by
 * the call deadline (`EVENTSTORE_CALL_TIMEOUT_MS`), which the default window exceeds many times over. A takeover
 * therefore never meets a session append still under way — except an append the client gave up on at its
 * deadline and a hung store applies minutes later; a reader whose clock runs ahead of both the store's and the
 * claimer's by about the wall-clock bound (70 minutes by default) — or of the claimer's alone when the store's
 * time is unknown or more than a minute ahead of the reader's; and a retry of a command whose claim another
 * process (or an earlier run) wrote, on a host whose clock runs behind the store's by about half the window less
 * a deadline (docs/command-api.md, "Profile claim", "Residual risk").
 *
 * Cost: a session whose profile claim is its own and young, or another session's and young or confirmed, pays
 * the one read of the latest claim event, as before. Only a claim older than the window and not confirmed
 * costs a read of the named session's stream and one append (the confirmation or the takeover) — once per
 * profile for a claim that was honoured. What this process knows of claims costs no store call, and memory of a
 * fixed size whatever the ids (an entry of under 200 bytes: a digest of the stream name, the revision, a
 * 53-bit session id and a time), in two maps of at most `knownClaims` (10,000) entries each —
 * - `known`, what it has seen: the latest claim's revision, session and since when it has known it. The least
 *   recently seen is forgotten first, which only delays a takeover of another session's claim (its watch starts
 *   again), never hastens one;
 * - `sent`, its own claims' sends: when it sent each append of a claim for one of its sessions. These are not
 *   forgotten for what else the process sees: a forgotten own claim would be judged by the store's time alone,
 *   which a host clock behind the store's makes look young, while another process may take it over a window
 *   after it was written (two first sessions). A send is dropped once older than half the window plus the
 *   wall-clock margin (an hour): by then the store's time alone says "half the window old" to any host whose
 *   clock is less than that margin behind the store's — the skew the wall-clock bound survives. No shorter
 *   time would do: a send matters most once half the window old, when it alone makes the process renew the
 *   claim rather than trust it. Should more than `knownClaims` sends fall within that time, the earliest is
 *   dropped and, until it would have expired, every own claim without a send on record is checked (renewed if
 *   its session never committed it) rather than trusted: a read and an append more, never a second first
 *   session.
 */
import { createHash } from 'node:crypto';
import { isSchemaVersion, storedSchemaVersion } from '@session-engine/session-domain';
import {
  StreamRevisionConflict,
  StreamTombstonedError,
  type EsdbClientAdapter,
  type JsonObject,
  type StoredEvent,
} from './esdb-client.adapter';
import { sessionIdFor } from './ids';
import { fromStoredEvent, profileStreamName, sessionStreamName } from './serialization';

export const PROFILE_CLAIMED = 'ProfileFirstSessionClaimed';
/** The schema version of `ProfileFirstSessionClaimed` written today (docs/events.md). */
export const PROFILE_CLAIMED_SCHEMA_VERSION = 2;
/** The grace window of an uncommitted claim by default (see `profileClaimGraceMs`). */
export const DEFAULT_PROFILE_CLAIM_GRACE_MS = 10 * 60_000;
/**
 * How far past the grace window a claim this process never watched must be, by wall clocks, before it counts
 * as stale (see `profileClaimWallClockStaleMs`): more than any clock skew the engine means to survive.
 */
export const PROFILE_CLAIM_WALL_CLOCK_MARGIN_MS = 60 * 60_000;
/**
 * How far ahead of the API's clock a claim's store time or `at` may lie and still count (`judgeClaim`): a time
 * further ahead was written by a clock far ahead, and says nothing of the claim's age.
 */
export const PROFILE_CLAIM_FUTURE_TOLERANCE_MS = 60_000;
/** How many profile streams' latest claims a process remembers watching (least recently seen forgotten first). */
export const DEFAULT_KNOWN_PROFILE_CLAIMS = 10_000;
const MAX_ATTEMPTS = 5;

/**
 * The grace window for a store whose calls have the deadline `callTimeoutMs`: 10 minutes, or 4 deadlines when
 * that is longer. A command's own claim is renewed at half the window, so one deadline (the session append)
 * must stay well under half of it — plus, for a retry in a process that did not write the claim, that host's
 * clock's lag behind the store's.
 */
export function profileClaimGraceMs(callTimeoutMs: number | undefined): number {
  return Math.max(DEFAULT_PROFILE_CLAIM_GRACE_MS, 4 * (callTimeoutMs ?? 0));
}

/**
 * The wall-clock age past which another session's unconfirmed claim counts as stale to a process that has not
 * watched it for the window itself: the window plus an hour (70 minutes by default). Clock skew up to that hour
 * cannot make a fresh claim look stale; a claim a crash left long ago is still taken over by any process.
 */
export function profileClaimWallClockStaleMs(graceMs: number): number {
  return graceMs + PROFILE_CLAIM_WALL_CLOCK_MARGIN_MS;
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
 * What this process knows of the latest claim's age, besides its times as written (`judgeClaim`):
 * - `nowMs`: the API's wall clock (ms since the epoch), against which the store's `created` and the claimer's
 *   `at` are aged — clocks of three different machines, which only NTP keeps in agreement;
 * - `knownForMs`: for how long this process has known the claim (this revision, naming this session) to exist,
 *   on its own monotonic clock: 0 when it sees the claim for the first time. No clock skew can inflate it;
 * - `writtenAgoMs`: when this process wrote the claim itself, how long ago it sent that append (monotonic): the
 *   claim is no older than that. `undefined` when another process (or an earlier run of this one) wrote it;
 *   `Infinity` when this process may have written it but no longer knows when (`ProfileClaims`, `sent`): an own
 *   claim is then checked rather than trusted.
 */
export interface ClaimEvidence {
  nowMs: number;
  knownForMs: number;
  writtenAgoMs?: number;
}

/**
 * The windows of `judgeClaim`: `graceMs`, the grace window of an uncommitted claim, and `wallClockStaleMs`, the
 * wall-clock age beyond which a claim this process never watched counts as stale (`profileClaimWallClockStaleMs`).
 */
export interface ClaimWindows {
  graceMs: number;
  wallClockStaleMs: number;
}

/**
 * What the latest claim means for `sessionIntegrationId`, before any other read:
 * - `unclaimed`: no claim yet, the session may make the first one;
 * - `mine` / `theirs`: the claim names this session / another one, and stands as it is: confirmed, or not
 *   shown old enough (another session's: the window; this session's own: half of it);
 * - `check`: it is old and unconfirmed: the named session's stream tells whether it was honoured or is stale.
 *
 * Another session's claim is old only on evidence no clock skew fakes: this process has known it for the whole
 * window on its monotonic clock, or it is older than `wallClockStaleMs` (grace + 1 h by default) by the API's
 * clock against both the store's time of the event and the claimer's own `at`. A time that is unknown, or more
 * than `PROFILE_CLAIM_FUTURE_TOLERANCE_MS` (a minute) ahead of the API's clock, says nothing: the other time
 * alone decides, and with neither only the monotonic evidence counts (a time far ahead would otherwise keep the
 * claim from counting as stale until real time caught up with the clock that wrote it). A wall-clock age
 * between the window and that bound proves nothing: a reader whose clock runs ahead of the store's, or a store
 * behind the API fleet, sees every claim that old the moment it is written.
 *
 * This session's own claim is trusted only while shown younger than half the window: by the monotonic time
 * since this process sent it when this process wrote it (whatever the wall clocks say), else while neither the
 * store's time (against the API's clock) nor this process's monotonic clock says it is half the window old.
 */
export function judgeClaim(
  latest: RecordedProfileClaim | undefined,
  sessionIntegrationId: string,
  evidence: ClaimEvidence,
  windows: ClaimWindows,
): 'unclaimed' | 'mine' | 'theirs' | 'check' {
  if (latest === undefined) return 'unclaimed';
  const { graceMs, wallClockStaleMs } = windows;
  const mine = latest.data.sessionIntegrationId === sessionIntegrationId;
  if (latest.data.kind === 'confirmed') return mine ? 'mine' : 'theirs';
  const createdAge = evidence.nowMs - latest.createdMs; // NaN when the store's time is unknown
  if (mine) {
    if (evidence.writtenAgoMs !== undefined) return evidence.writtenAgoMs < graceMs / 2 ? 'mine' : 'check';
    return evidence.knownForMs >= graceMs / 2 || createdAge >= graceMs / 2 ? 'check' : 'mine';
  }
  if (evidence.knownForMs >= graceMs) return 'check';
  // The ages that say something: known, and not of a time more than the tolerance ahead (NaN fails the test).
  const ages = [createdAge, evidence.nowMs - Date.parse(latest.data.at)].filter(
    (age) => age >= -PROFILE_CLAIM_FUTURE_TOLERANCE_MS,
  );
  return ages.length > 0 && ages.every((age) => age >= wallClockStaleMs) ? 'check' : 'theirs';
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
  /** The wall clock claims are aged by against their written times (ms since the epoch; default `Date.now`). */
  now?: () => number;
  /**
   * This process's monotonic clock (ms from any origin; default `performance.now`), by which it times how long
   * it has known a claim and since it wrote its own: evidence no clock skew between machines can fake.
   */
  monotonicNow?: () => number;
  /** The wall-clock age past which a claim counts as stale unwatched (default `profileClaimWallClockStaleMs`). */
  wallClockStaleMs?: number;
  /**
   * How many profile streams' latest claims to remember having seen, and how many of its own claims' sends
   * (default `DEFAULT_KNOWN_PROFILE_CLAIMS` each).
   */
  knownClaims?: number;
}

/**
 * A claim as this process remembers it, of a fixed size whatever its ids: its revision in the profile stream
 * and its session as the 53-bit session id the engine derives from the session's stream name (`sessionIdFor`),
 * computed here from the claim's `sessionIntegrationId` rather than read from its `sessionId`, which nothing
 * checks on import. Two sessions would have to share that id (a chance of 2⁻⁵³) and be named at the same
 * revision of one profile stream (a stream written anew, e.g. after a logical restore) to be taken for one.
 */
interface ClaimIdentity {
  revision: bigint;
  session: number;
}

/** What this process knows of a profile stream's latest claim (see `ClaimEvidence`). */
interface KnownClaim extends ClaimIdentity {
  /** Monotonic time by which the claim surely existed: when a read of it, or its append, returned. */
  knownSince: number;
}

/** An own claim this process sent (see `ClaimEvidence`). */
interface SentClaim extends ClaimIdentity {
  /** Monotonic time before which it surely did not exist: when this process sent its append. */
  sentAt: number;
}

/** The key of a profile stream in what a process remembers: 128 bits of its name's SHA-256 (22 characters). */
const streamKey = (stream: string): string =>
  createHash('sha256').update(stream).digest().toString('base64url', 0, 16);

/** The claim's session as remembered (see `ClaimIdentity`). */
const sessionKey = (applicationId: number, integrationId: string): number =>
  sessionIdFor(sessionStreamName(applicationId, integrationId));

const sameClaim = <C extends ClaimIdentity>(a: C | undefined, b: ClaimIdentity): a is C =>
  a?.revision === b.revision && a.session === b.session;

export class ProfileClaims {
  readonly graceMs: number;
  readonly wallClockStaleMs: number;
  private readonly now: () => number;
  private readonly monotonicNow: () => number;
  private readonly knownClaimsMax: number;
  /** How long an own claim's send is kept (monotonic ms): half the window plus the wall-clock margin. */
  private readonly sentKeptMs: number;
  /**
   * Per profile stream (`streamKey`), its latest claim as this process last saw or wrote it; in least recently
   * seen order, at most `knownClaimsMax`.
   */
  private readonly known = new Map<string, KnownClaim>();
  /**
   * Per profile stream, the last claim this process sent for one of its sessions (not confirmations), none
   * older than `sentKeptMs` when looked at; in order of the appends' answers, at most `knownClaimsMax`.
   */
  private readonly sent = new Map<string, SentClaim>();
  /** Monotonic time until which an own send dropped for room (not age) would still have been kept. */
  private sentForgottenUntil = -Infinity;

  constructor(
    private readonly store: EsdbClientAdapter,
    options: ProfileClaimsOptions = {},
  ) {
    this.graceMs = options.graceMs ?? profileClaimGraceMs(store.callTimeoutMs);
    this.now = options.now ?? (() => Date.now());
    this.wallClockStaleMs = options.wallClockStaleMs ?? profileClaimWallClockStaleMs(this.graceMs);
    this.monotonicNow = options.monotonicNow ?? (() => performance.now());
    this.knownClaimsMax = options.knownClaims ?? DEFAULT_KNOWN_PROFILE_CLAIMS;
    this.sentKeptMs = this.graceMs / 2 + Math.max(0, this.wallClockStaleMs - this.graceMs);
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
    switch (this.judge(applicationId, profileId, latest, sessionIntegrationId)) {
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
        switch (this.judge(applicationId, profileId, latest, sessionIntegrationId)) {
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

  /**
   * `judgeClaim` of the latest claim just read, with what this process knows of it; remembers having seen it
   * (from now on, if it had not: the read has returned, so the claim existed by now).
   */
  private judge(
    applicationId: number,
    profileId: string,
    latest: RecordedProfileClaim | undefined,
    sessionIntegrationId: string,
  ): ReturnType<typeof judgeClaim> {
    const monotonicNow = this.monotonicNow();
    let evidence: ClaimEvidence = { nowMs: this.now(), knownForMs: 0 };
    if (latest !== undefined) {
      const key = streamKey(profileStreamName(applicationId, profileId));
      const claim = {
        revision: latest.revision,
        session: sessionKey(applicationId, latest.data.sessionIntegrationId),
      };
      let known = this.known.get(key);
      if (!sameClaim(known, claim)) known = { ...claim, knownSince: monotonicNow };
      this.remember(key, known);
      evidence = {
        ...evidence,
        knownForMs: monotonicNow - known.knownSince,
        writtenAgoMs: this.writtenAgo(key, claim, monotonicNow),
      };
    }
    return judgeClaim(latest, sessionIntegrationId, evidence, {
      graceMs: this.graceMs,
      wallClockStaleMs: this.wallClockStaleMs,
    });
  }

  /** Keeps `known` as the stream's latest claim, the most recently seen; forgets the least recently seen. */
  private remember(key: string, known: KnownClaim): void {
    this.known.delete(key);
    this.known.set(key, known);
    if (this.known.size > this.knownClaimsMax) this.known.delete(this.known.keys().next().value!);
  }

  /**
   * How long ago this process sent `claim` (`ClaimEvidence.writtenAgoMs`): `undefined` when it has no such send
   * on record, `Infinity` when it may have dropped that send for room while it still mattered.
   */
  private writtenAgo(key: string, claim: ClaimIdentity, monotonicNow: number): number | undefined {
    this.dropOldSends(monotonicNow);
    const sent = this.sent.get(key);
    if (sameClaim(sent, claim)) return monotonicNow - sent.sentAt;
    return monotonicNow < this.sentForgottenUntil ? Infinity : undefined;
  }

  /** Records an own claim's send; drops the sends past `sentKeptMs`, then the earliest answered beyond room. */
  private rememberSent(key: string, sent: SentClaim, monotonicNow: number): void {
    this.sent.delete(key);
    this.sent.set(key, sent);
    this.dropOldSends(monotonicNow);
    if (this.sent.size > this.knownClaimsMax) {
      const [oldest, { sentAt }] = this.sent.entries().next().value!;
      this.sent.delete(oldest);
      this.sentForgottenUntil = Math.max(this.sentForgottenUntil, sentAt + this.sentKeptMs);
    }
  }

  /**
   * Drops the sends older than `sentKeptMs` from the front (the order is that of the appends' answers, so a send
   * may outlive its time behind a younger one answered earlier: kept longer, never shorter).
   */
  private dropOldSends(monotonicNow: number): void {
    for (const [key, { sentAt }] of this.sent) {
      if (monotonicNow - sentAt < this.sentKeptMs) return;
      this.sent.delete(key);
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
    const stream = profileStreamName(request.applicationId, request.profileId);
    const sentAt = this.monotonicNow();
    await this.store.appendToStream(
      stream,
      [
        {
          type: PROFILE_CLAIMED,
          data: data as unknown as JsonObject,
          metadata: { schemaVersion: PROFILE_CLAIMED_SCHEMA_VERSION, ...request.metadata },
        },
      ],
      expectedRevision,
    );
    // The append of one event at the expected revision succeeded: the claim is the stream's next revision.
    const key = streamKey(stream);
    const answeredAt = this.monotonicNow();
    const claimed = {
      revision: expectedRevision === 'no_stream' ? 0n : expectedRevision + 1n,
      session: sessionKey(request.applicationId, data.sessionIntegrationId),
    };
    this.remember(key, { ...claimed, knownSince: answeredAt });
    // A confirmation is never judged by its age: only a claim for one of this process's sessions is a send.
    if (claim.kind !== 'confirmed') this.rememberSent(key, { ...claimed, sentAt }, answeredAt);
  }
}

/** Whether `error` says that the profile's own stream was tombstoned (not a session stream it names). */
const profileErased = (error: unknown, applicationId: number, profileId: string): boolean =>
  error instanceof StreamTombstonedError && error.streamName === profileStreamName(applicationId, profileId);
