import type { StoredEvent } from './esdb-client.adapter';
import { createdData } from '@session-engine/session-domain/spec-fixtures';
import {
  DEFAULT_PROFILE_CLAIM_GRACE_MS,
  judgeClaim,
  PROFILE_CLAIMED,
  profileClaimGraceMs,
  readProfileClaim,
  recordsFirstSession,
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
    data: { at: '', applicationId: 1, profileId: 'alice', sessionIntegrationId, sessionId: 7, kind },
  };
}

describe('judgeClaim', () => {
  it('lets the first session claim an unclaimed profile', () => {
    expect(judgeClaim(undefined, 'a', T0, GRACE)).toBe('unclaimed');
  });

  it("keeps another session's claim while younger than the window, checks it from then on", () => {
    expect(judgeClaim(claim('x'), 'y', T0 + GRACE - 1, GRACE)).toBe('theirs');
    expect(judgeClaim(claim('x'), 'y', T0 + GRACE, GRACE)).toBe('check');
  });

  it('trusts its own claim only for half the window, so it renews it before anyone may take it', () => {
    expect(judgeClaim(claim('x'), 'x', T0 + GRACE / 2 - 1, GRACE)).toBe('mine');
    expect(judgeClaim(claim('x'), 'x', T0 + GRACE / 2, GRACE)).toBe('check');
  });

  it('judges a takeover like a first claim: by its own age', () => {
    expect(judgeClaim(claim('y', 'takeover'), 'z', T0 + 1, GRACE)).toBe('theirs');
    expect(judgeClaim(claim('y', 'takeover'), 'y', T0 + 1, GRACE)).toBe('mine');
    expect(judgeClaim(claim('y', 'takeover'), 'z', T0 + GRACE, GRACE)).toBe('check');
  });

  it('never checks a confirmed claim again, however old', () => {
    expect(judgeClaim(claim('x', 'confirmed'), 'y', T0 + 100 * GRACE, GRACE)).toBe('theirs');
    expect(judgeClaim(claim('x', 'confirmed'), 'x', T0 + 100 * GRACE, GRACE)).toBe('mine');
  });

  it('never takes over a claim whose time is unknown', () => {
    expect(judgeClaim({ ...claim('x'), createdMs: NaN }, 'y', T0 + 100 * GRACE, GRACE)).toBe('theirs');
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

describe('profileClaimGraceMs', () => {
  it('is 10 minutes, or 4 call deadlines when that is longer', () => {
    expect(profileClaimGraceMs(undefined)).toBe(DEFAULT_PROFILE_CLAIM_GRACE_MS);
    expect(profileClaimGraceMs(10_000)).toBe(10 * 60_000);
    expect(profileClaimGraceMs(5 * 60_000)).toBe(20 * 60_000);
  });
});
