import type { StoredEvent } from './esdb-client.adapter';
import { createdData } from '@session-engine/session-domain/spec-fixtures';
import {
  DEFAULT_PROFILE_CLAIM_GRACE_MS,
  judgeClaim,
  PROFILE_CLAIM_FUTURE_TOLERANCE_MS,
  PROFILE_CLAIM_WALL_CLOCK_MARGIN_MS,
  PROFILE_CLAIMED,
  profileClaimGraceMs,
  readProfileClaim,
  recordsFirstSession,
  profileClaimWallClockStaleMs,
  type ClaimEvidence,
  type ProfileClaimData,
  type RecordedProfileClaim,
} from './profile-claims';

const GRACE = 60_000;
const T0 = Date.parse('2025-04-01T08:00:00.000Z');

function stored(type: string, data: object, metadata: object = {}, revision = 0n): StoredEvent {
  return {
    id: `00000000-0000-4000-8000-${String(revision).padStart(12, '0')}`,
    streamName: 'profile-1-alice',
    revision,
    type,
    data: data as StoredEvent['data'],
    metadata: metadata as StoredEvent['metadata'],
    created: new Date(T0).toISOString(),
  };
}

function claim(sessionIntegrationId: string, kind: ProfileClaimData['kind'] = 'first'): RecordedProfileClaim {
  return {
    revision: 0n,
    createdMs: T0,
    data: {
      at: new Date(T0).toISOString(),
      applicationId: 1,
      profileId: 'alice',
      sessionIntegrationId,
      sessionId: 7,
      kind,
    },
  };
}

/** The claim as written by a claimer whose clock read `atMs` (NaN: an `at` that is no time). */
const withAt = (latest: RecordedProfileClaim, atMs: number): RecordedProfileClaim => ({
  ...latest,
  data: { ...latest.data, at: Number.isNaN(atMs) ? 'never' : new Date(atMs).toISOString() },
});

describe('judgeClaim', () => {
  /** The store's time of the claim event, and the claimer's `at`, are both T0 unless a test says otherwise. */
  const STALE = GRACE + PROFILE_CLAIM_WALL_CLOCK_MARGIN_MS;
  const windows = { graceMs: GRACE, wallClockStaleMs: STALE };
  /** This process's view: the API's wall clock `nowMs`; first sees the claim now unless `knownForMs` says not. */
  const seen = (nowMs: number, more: Partial<ClaimEvidence> = {}): ClaimEvidence => ({
    nowMs,
    knownForMs: 0,
    ...more,
  });
  const judge = (latest: RecordedProfileClaim | undefined, session: string, evidence: ClaimEvidence) =>
    judgeClaim(latest, session, evidence, windows);

  it('lets the first session claim an unclaimed profile', () => {
    expect(judge(undefined, 'a', seen(T0))).toBe('unclaimed');
  });

  describe("another session's unconfirmed claim", () => {
    it('is checked once this process has known it for the window on its monotonic clock, not before', () => {
      // Given a claim this process first saw a window ago (minus 1 ms), wall clocks agreeing
      // When judged now
      // Then it is not stale yet; 1 ms later it is checked
      expect(judge(claim('x'), 'y', seen(T0 + GRACE, { knownForMs: GRACE - 1 }))).toBe('theirs');
      expect(judge(claim('x'), 'y', seen(T0 + GRACE, { knownForMs: GRACE }))).toBe('check');
    });

    it('is not checked by a reader whose clock runs ahead of the store and the claimer by more than the window', () => {
      // Given a claim written a second ago, read by a process whose clock is 11 min ahead of everyone's
      const ahead = GRACE + 60_000;
      // When the process sees it for the first time, or has watched it for less than the window
      // Then it stands: a wall-clock age of a window proves nothing
      expect(judge(claim('x'), 'y', seen(T0 + 1_000 + ahead))).toBe('theirs');
      expect(judge(claim('x'), 'y', seen(T0 + GRACE + ahead, { knownForMs: GRACE - 1 }))).toBe('theirs');
    });

    it('is not checked when the store runs behind the API fleet by more than the window', () => {
      // Given a claim the store dated 11 min in the past (its clock is behind), the claimer's `at` correct
      const behind = GRACE + 60_000;
      const skewed = { ...claim('x'), createdMs: T0 - behind };
      // When a process with a correct clock sees it for the first time a second later
      // Then it stands
      expect(judge(skewed, 'y', seen(T0 + 1_000))).toBe('theirs');
      // And so it does even were the store behind by more than the wall-clock bound, as the claimer's `at` is young
      expect(judge({ ...claim('x'), createdMs: T0 - STALE - 1 }, 'y', seen(T0 + 1_000))).toBe('theirs');
    });

    it('is checked by a process that never saw it once older than the wall-clock bound by both times', () => {
      // Given a claim a crash left long ago, which this process sees for the first time
      // When its age by the store's time and by the claimer's `at` reaches the bound (the window plus an hour)
      // Then it is checked; a minute before, it stands
      expect(judge(claim('x'), 'y', seen(T0 + STALE - 1))).toBe('theirs');
      expect(judge(claim('x'), 'y', seen(T0 + STALE))).toBe('check');
      expect(judge(claim('x'), 'y', seen(T0 + 100 * STALE))).toBe('check');
      // And when the claimer's clock ran ahead (its `at` later than the store's time), the later one counts
      const lateAt = withAt(claim('x'), T0 + 60_000);
      expect(judge(lateAt, 'y', seen(T0 + STALE))).toBe('theirs');
      expect(judge(lateAt, 'y', seen(T0 + STALE + 60_000))).toBe('check');
    });

    it('is aged by the store time alone on the wall clock when its `at` is unknown', () => {
      expect(judge(withAt(claim('x'), NaN), 'y', seen(T0 + STALE))).toBe('check');
      expect(judge(withAt(claim('x'), NaN), 'y', seen(T0 + STALE - 1))).toBe('theirs');
    });

    it('judges a takeover like a first claim: by its own age', () => {
      expect(judge(claim('y', 'takeover'), 'z', seen(T0 + 1))).toBe('theirs');
      expect(judge(claim('y', 'takeover'), 'z', seen(T0 + 1, { knownForMs: GRACE }))).toBe('check');
      expect(judge(claim('y', 'takeover'), 'z', seen(T0 + STALE))).toBe('check');
    });

    it('is aged by its `at` alone on the wall clock when its store time is unknown', () => {
      // Given a claim without a store time, whose claimer's `at` is T0
      const timeless = { ...claim('x'), createdMs: NaN };
      // When a process that never watched it judges it
      // Then the `at` alone decides (the store's time, unknown, says nothing either way)
      expect(judge(timeless, 'y', seen(T0 + STALE - 1))).toBe('theirs');
      expect(judge(timeless, 'y', seen(T0 + STALE))).toBe('check');
    });

    it('is checked on the monotonic clock alone when neither of its times is known, never by the wall clock', () => {
      const timeless = withAt({ ...claim('x'), createdMs: NaN }, NaN);
      expect(judge(timeless, 'y', seen(T0 + 100 * STALE))).toBe('theirs');
      expect(judge(timeless, 'y', seen(T0, { knownForMs: GRACE }))).toBe('check');
    });

    describe('with a time more than a minute ahead of the API clock (a clock far ahead wrote it)', () => {
      const HOURS_AHEAD = 2 * 60 * 60_000;

      it('is aged by the claimer’s `at` alone when the store time lies ahead', () => {
        // Given a claim the store dated two hours ahead (its clock far ahead), the claimer's `at` right
        const ahead = { ...claim('x'), createdMs: T0 + HOURS_AHEAD };
        // When a process that never watched it judges it once the `at` reaches the wall-clock bound
        // Then it is checked, rather than standing until real time catches up with the store's clock (and a
        // bound more); a moment before, it stands
        expect(judge(ahead, 'y', seen(T0 + STALE - 1))).toBe('theirs');
        expect(judge(ahead, 'y', seen(T0 + STALE))).toBe('check');
      });

      it('is aged by the store time alone when the claimer’s `at` lies ahead', () => {
        // Given a claim whose claimer's clock ran two hours ahead, the store's time right
        const ahead = withAt(claim('x'), T0 + HOURS_AHEAD);
        // When a process that never watched it judges it once the store time reaches the bound
        // Then it is checked; a moment before, it stands
        expect(judge(ahead, 'y', seen(T0 + STALE - 1))).toBe('theirs');
        expect(judge(ahead, 'y', seen(T0 + STALE))).toBe('check');
      });

      it('is checked on the monotonic clock alone when both times lie ahead', () => {
        const ahead = withAt({ ...claim('x'), createdMs: T0 + HOURS_AHEAD }, T0 + HOURS_AHEAD);
        expect(judge(ahead, 'y', seen(T0 + HOURS_AHEAD - PROFILE_CLAIM_FUTURE_TOLERANCE_MS - 1))).toBe(
          'theirs',
        );
        expect(judge(ahead, 'y', seen(T0, { knownForMs: GRACE }))).toBe('check');
      });

      it('still counts a time up to a minute ahead, which dates the claim as just written', () => {
        // Given a claim the store dated a minute ahead of the claimer's `at`
        const nearly = { ...claim('x'), createdMs: T0 + PROFILE_CLAIM_FUTURE_TOLERANCE_MS };
        // When judged as soon as the `at` reaches the bound, then once the store time does
        // Then it stands until both times say it is that old
        expect(judge(nearly, 'y', seen(T0 + STALE))).toBe('theirs');
        expect(judge(nearly, 'y', seen(T0 + STALE + PROFILE_CLAIM_FUTURE_TOLERANCE_MS))).toBe('check');
      });
    });
  });

  describe("this session's own unconfirmed claim", () => {
    it('written by this process: trusted for half the window on the monotonic clock, whatever the wall clocks say', () => {
      // Given the process wrote the claim and its clock is an hour ahead of the store's (or behind it)
      // When judged less than half the window after it sent the append
      // Then it is trusted; from half the window on it is checked (and renewed if its session never came)
      const hour = 60 * 60_000;
      for (const skew of [hour, -hour]) {
        const now = T0 + skew + GRACE / 2;
        expect(judge(claim('x'), 'x', seen(now, { writtenAgoMs: GRACE / 2 - 1 }))).toBe('mine');
        expect(judge(claim('x'), 'x', seen(now, { writtenAgoMs: GRACE / 2 }))).toBe('check');
      }
    });

    it('that this process may have written but no longer knows when (`writtenAgoMs` Infinity): checked', () => {
      expect(judge(claim('x'), 'x', seen(T0, { writtenAgoMs: Infinity }))).toBe('check');
      expect(judge(claim('x'), 'y', seen(T0, { writtenAgoMs: Infinity }))).toBe('theirs');
    });

    it('written elsewhere: trusted only while neither the store time nor the monotonic clock says half the window', () => {
      expect(judge(claim('x'), 'x', seen(T0 + GRACE / 2 - 1))).toBe('mine');
      expect(judge(claim('x'), 'x', seen(T0 + GRACE / 2))).toBe('check');
      expect(judge(claim('x'), 'x', seen(T0, { knownForMs: GRACE / 2 }))).toBe('check');
      expect(judge(claim('y', 'takeover'), 'y', seen(T0 + 1))).toBe('mine');
    });

    it('is renewed before another process may take it, with clocks that agree', () => {
      // Given the claimer and a reader that both saw the claim when it was written
      // When half the window has passed on both monotonic clocks
      // Then the claimer checks (renews) it while the reader still leaves it alone
      const half = seen(T0 + GRACE / 2, { knownForMs: GRACE / 2 });
      expect(judge(claim('x'), 'x', { ...half, writtenAgoMs: GRACE / 2 })).toBe('check');
      expect(judge(claim('x'), 'y', half)).toBe('theirs');
    });
  });

  it('never checks a confirmed claim again, however old', () => {
    const old = seen(T0 + 100 * STALE, { knownForMs: 100 * STALE });
    expect(judge(claim('x', 'confirmed'), 'y', old)).toBe('theirs');
    expect(judge(claim('x', 'confirmed'), 'x', old)).toBe('mine');
  });
});

describe('readProfileClaim', () => {
  const v1 = { applicationId: 1, profileId: 'alice', sessionIntegrationId: 'x', sessionId: 7, at: 'a' };

  it('reads a v1 claim (no schemaVersion) as the first claim, with the server time of the write', () => {
    expect(readProfileClaim(stored(PROFILE_CLAIMED, v1, { commandId: 'c' }))).toEqual({
      revision: 0n,
      createdMs: T0,
      data: { ...v1, kind: 'first' },
    });
    expect(readProfileClaim(stored(PROFILE_CLAIMED, v1, { schemaVersion: 1 })).data.kind).toBe('first');
  });

  it('reads v2 as written', () => {
    const v2 = { ...v1, kind: 'takeover', replaces: { sessionIntegrationId: 'w', revision: 0 } };
    expect(readProfileClaim(stored(PROFILE_CLAIMED, v2, { schemaVersion: 2 }, 1n)).data).toEqual(v2);
  });

  it.each([3, 0, 1.5, '2', null])('refuses schema version %p instead of guessing', (schemaVersion) => {
    expect(() => readProfileClaim(stored(PROFILE_CLAIMED, v1, { schemaVersion }))).toThrow(
      'Unknown schema version',
    );
  });

  it('refuses an event of another type', () => {
    expect(() => readProfileClaim(stored('SessionCreated', v1))).toThrow('Unknown event type');
  });

  it('refuses an event that is no JSON, saying so (not as a claim that names no session)', () => {
    const binary = { ...stored(PROFILE_CLAIMED, {}), unreadable: 'its content type is not application/json' };
    expect(() => readProfileClaim(binary)).toThrow(
      `${PROFILE_CLAIMED} in ${binary.streamName} is no JSON the engine wrote: its content type is not application/json`,
    );
  });

  it.each([
    [{}, 'has no kind'],
    [{ kind: 'bogus' }, 'has the kind "bogus"'],
    [{ kind: null }, 'has the kind null'],
  ])('refuses v2 data %p without a kind of the three instead of guessing', (kind, message) => {
    expect(() => readProfileClaim(stored(PROFILE_CLAIMED, { ...v1, ...kind }, { schemaVersion: 2 }))).toThrow(
      `ProfileFirstSessionClaimed v2 in profile-1-alice ${message}, not one of first, takeover, confirmed`,
    );
  });

  it('refuses a claim that names no session, of either version', () => {
    const { sessionIntegrationId: _, ...nameless } = v1;
    expect(() => readProfileClaim(stored(PROFILE_CLAIMED, nameless))).toThrow(
      'v1 in profile-1-alice names no session',
    );
    expect(() =>
      readProfileClaim(stored(PROFILE_CLAIMED, { ...nameless, kind: 'first' }, { schemaVersion: 2 })),
    ).toThrow('names no session (sessionIntegrationId)');
  });
});

describe('recordsFirstSession', () => {
  const created = (profileId: string, firstSession: boolean) =>
    stored('SessionCreated', {
      at: '2025-04-01T08:00:00.000Z',
      commandId: 'c',
      ...createdData({ sessionId: 7, applicationId: 1, integrationId: 's' }, { profileId, firstSession }),
    });
  const changed = (profileId: string, firstSession: boolean) =>
    stored(
      'ProfileChanged',
      { at: '2025-04-01T08:00:00.000Z', commandId: 'c', previousProfileId: '', profileId, firstSession },
      {},
      1n,
    );

  it('finds the claim committed by the creation or by a profile change', () => {
    expect(recordsFirstSession([created('alice', true)], 'alice')).toBe(true);
    expect(recordsFirstSession([created('', true), changed('alice', true)], 'alice')).toBe(true);
  });

  it('does not take a session of the profile that is not first, nor another profile, as committed', () => {
    expect(recordsFirstSession([created('alice', false)], 'alice')).toBe(false);
    expect(recordsFirstSession([created('', true)], 'alice')).toBe(false);
    expect(recordsFirstSession([created('bob', true), changed('carol', true)], 'alice')).toBe(false);
    expect(recordsFirstSession([], 'alice')).toBe(false);
  });
});

describe('profileClaimWallClockStaleMs', () => {
  it('is the window plus an hour', () => {
    expect(profileClaimWallClockStaleMs(DEFAULT_PROFILE_CLAIM_GRACE_MS)).toBe(70 * 60_000);
  });
});

describe('profileClaimGraceMs', () => {
  it('is 10 minutes, or 4 call deadlines when that is longer', () => {
    expect(profileClaimGraceMs(undefined)).toBe(DEFAULT_PROFILE_CLAIM_GRACE_MS);
    expect(profileClaimGraceMs(10_000)).toBe(10 * 60_000);
    expect(profileClaimGraceMs(5 * 60_000)).toBe(20 * 60_000);
  });
});
