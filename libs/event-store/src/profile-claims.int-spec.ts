/**
 * The profile first-session claim against the embedded server when a claim's session never committed it:
 * the API died (or lost the store) between the claim and the session append. Such a claim is taken over by a
 * later session of the profile once it is older than the grace window, never while it is younger, by exactly
 * one of several concurrent takers; the original session then is no longer first. A claim that its session
 * committed is honoured for good and confirmed once. "Later" is a claim whose times read as long past (past
 * the wall-clock bound, the window plus an hour), or a process that has watched the claim for the window on
 * its monotonic clock; a wall clock that runs ahead of the store's (or a store behind), by more than the window,
 * never makes a fresh claim stale.
 */
import { serialize } from 'node:v8';
import { backdated } from '@session-engine/testing/backdate';
import { startTestEventStore, type TestEventStore } from '@session-engine/testing/event-store';
import { EsdbClientAdapter, type ReadStreamOptions } from './esdb-client.adapter';
import { sessionIdFor } from './ids';
import {
  DEFAULT_PROFILE_CLAIM_GRACE_MS,
  PROFILE_CLAIMED,
  profileClaimWallClockStaleMs,
  ProfileClaims,
} from './profile-claims';
import { profileStreamName, sessionStreamName } from './serialization';
import { SessionCommandHandler, type UntimedCommand } from './session-command-handler';

let server: TestEventStore;
let store: EsdbClientAdapter;
let counter = 0;
/**
 * Event ids whose server time (`created`), and a claim's writer's time (`at`), read shifted into the past by
 * that many ms: a claim written long ago (both), or by a store whose clock is behind (`created` only).
 */
const backdatedBy = new Map<string, { created: number; at: number }>();
/** The streams read since the last `reads.length = 0`. */
const reads: string[] = [];

beforeAll(async () => {
  server = await startTestEventStore();
  store = EsdbClientAdapter.connect(server.connectionString);
  const readStream = store.readStream.bind(store);
  jest.spyOn(store, 'readStream').mockImplementation(async (stream: string, options?: ReadStreamOptions) => {
    reads.push(stream);
    return (await readStream(stream, options)).map((event) => {
      const ago = backdatedBy.get(event.id);
      return ago === undefined ? event : backdated(event, ago);
    });
  });
});

afterAll(async () => {
  jest.restoreAllMocks();
  await store.close();
  await server.close();
});

const metadata = { commandId: 'c', correlationId: 'r', actor: 'key-test' };
const newId = (label: string) => `${label}-${Date.now()}-${++counter}`;
/** Separate handlers stand for separate processes (no shared cache or mutex): only the store arbitrates. */
const handler = () => new SessionCommandHandler(store);

/** How old a claim must be by wall clocks before a process that never watched it may take it over. */
const STALE_MS = profileClaimWallClockStaleMs(DEFAULT_PROFILE_CLAIM_GRACE_MS);

/**
 * Makes the profile's latest claim event read as written (by the store and its claimer) a minute more than the
 * wall-clock bound ago: a claim left long ago, which a process that never saw it may take over.
 */
async function ageLatestClaim(profileId: string, ago = STALE_MS + 60_000, atAgo = ago): Promise<void> {
  const [latest] = await store.readStream(profileStreamName(1, profileId), {
    direction: 'backwards',
    maxCount: 1,
  });
  backdatedBy.set(latest!.id, { created: ago, at: atAgo });
}

function update(integrationId: string, patch: Record<string, unknown> = {}): UntimedCommand {
  return {
    type: 'UpdateSession',
    applicationId: 1,
    integrationId,
    commandId: `cmd-${++counter}`,
    sessionId: sessionIdFor(sessionStreamName(1, integrationId)),
    patch,
  };
}

const first = async (handler: SessionCommandHandler, id: string, patch: Record<string, unknown>) =>
  (await handler.handle(update(id, patch), { metadata })).state!.firstSession;

/** The claim a crashed command left, as the engine before claim versions wrote it (v1, no schemaVersion). */
async function orphanClaim(profileId: string, sessionIntegrationId: string, old = true): Promise<void> {
  await store.appendToStream(
    profileStreamName(1, profileId),
    [
      {
        type: PROFILE_CLAIMED,
        data: {
          applicationId: 1,
          profileId,
          sessionIntegrationId,
          sessionId: sessionIdFor(sessionStreamName(1, sessionIntegrationId)),
          at: new Date().toISOString(),
        },
        metadata: { commandId: 'crashed', correlationId: 'r', actor: 'key-test' },
      },
    ],
    'no_stream',
  );
  if (old) await ageLatestClaim(profileId);
}

const claims = async (profileId: string) =>
  (await store.readStream(profileStreamName(1, profileId))).map((e) => ({
    ...e.data,
    schemaVersion: e.metadata.schemaVersion,
  }));

describe('a profile claim its session never committed', () => {
  it('is taken over by a later session once older than the window; the crashed session is then not first', async () => {
    const profileId = newId('orphan-profile');
    const x = newId('crashed');
    const y = newId('later');
    await orphanClaim(profileId, x);

    expect(await first(handler(), y, { profileId })).toBe(true);
    expect(await claims(profileId)).toEqual([
      expect.objectContaining({ sessionIntegrationId: x, schemaVersion: undefined }),
      expect.objectContaining({
        sessionIntegrationId: y,
        kind: 'takeover',
        replaces: { sessionIntegrationId: x, revision: 0 },
        schemaVersion: 2,
      }),
    ]);
    // The client of the crashed create sends it again after the takeover.
    expect(await first(handler(), x, { profileId })).toBe(false);
    expect(await first(handler(), newId('other'), { profileId })).toBe(false);
    expect(await claims(profileId)).toHaveLength(2);
    const [created] = await store.readStream(sessionStreamName(1, x));
    expect(created!.data).toMatchObject({ profileId, firstSession: false });
  });

  it('is left alone while younger than the window: the later session is not first, a retry still heals it', async () => {
    const profileId = newId('young-profile');
    const x = newId('crashed');
    await orphanClaim(profileId, x, false);

    expect(await first(handler(), newId('later'), { profileId })).toBe(false);
    expect(await first(handler(), x, { profileId })).toBe(true);
    expect(await claims(profileId)).toHaveLength(1);
  });

  it('lets exactly one of concurrent takers be first', async () => {
    const profileId = newId('race-profile');
    await orphanClaim(profileId, newId('crashed'));
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => first(handler(), newId(`taker${i}`), { profileId })),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    const stored = await claims(profileId);
    expect(stored).toHaveLength(2);
    expect(stored[1]).toMatchObject({ kind: 'takeover' });
  });

  it('is taken over when it came from an update whose ProfileChanged was never appended', async () => {
    const profileId = newId('update-profile');
    const x = newId('anonymous');
    expect(await first(handler(), x, {})).toBe(true); // anonymous: always first
    // The crashed update: claimed for x, the session append never happened.
    await new ProfileClaims(store).claim({
      applicationId: 1,
      profileId,
      sessionIntegrationId: x,
      sessionId: sessionIdFor(sessionStreamName(1, x)),
      at: new Date().toISOString(),
      metadata,
    });
    await ageLatestClaim(profileId);

    expect(await first(handler(), newId('later'), { profileId })).toBe(true);
    // The crashed update sent again: the claim is the later session's now.
    const retried = await handler().handle(update(x, { profileId }), { metadata });
    expect(retried.events[0]).toMatchObject({
      type: 'ProfileChanged',
      data: { profileId, firstSession: false },
    });
  });

  it('is renewed by its own session retried after the window, so a later session cannot also be first', async () => {
    const profileId = newId('renew-profile');
    const x = newId('crashed');
    await orphanClaim(profileId, x);

    expect(await first(handler(), x, { profileId })).toBe(true);
    expect((await claims(profileId))[1]).toMatchObject({
      sessionIntegrationId: x,
      kind: 'takeover',
      replaces: { sessionIntegrationId: x, revision: 0 },
    });
    expect(await first(handler(), newId('later'), { profileId })).toBe(false);
  });

  it('is renewed by its own session after half the window, before anyone else may take it', async () => {
    const profileId = newId('half-profile');
    const x = newId('crashed');
    await orphanClaim(profileId, x, false);
    const [claim] = await store.readStream(profileStreamName(1, profileId));
    const ago = DEFAULT_PROFILE_CLAIM_GRACE_MS * 0.75;
    backdatedBy.set(claim!.id, { created: ago, at: ago });

    expect(await first(handler(), newId('later'), { profileId })).toBe(false); // not stale yet for others
    expect(await first(handler(), x, { profileId })).toBe(true);
    expect(await claims(profileId)).toEqual([
      expect.objectContaining({ sessionIntegrationId: x }),
      expect.objectContaining({ sessionIntegrationId: x, kind: 'takeover' }),
    ]);
  });

  it('races a retry of its own session against takers: exactly one of them is first', async () => {
    const profileId = newId('retry-race-profile');
    const x = newId('crashed');
    await orphanClaim(profileId, x);
    const results = await Promise.all([
      first(handler(), x, { profileId }),
      first(handler(), newId('taker'), { profileId }),
      first(handler(), newId('taker'), { profileId }),
    ]);
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('makes a dry run answer as the claim would, writing nothing', async () => {
    const profileId = newId('dry-profile');
    await orphanClaim(profileId, newId('crashed'), false);
    const y = newId('later');
    const young = await handler().handle(update(y, { profileId }), { metadata, dry: true });
    expect(young.state!.firstSession).toBe(false);
    await ageLatestClaim(profileId);
    const stale = await handler().handle(update(y, { profileId }), { metadata, dry: true });
    expect(stale.state!.firstSession).toBe(true);
    expect(await claims(profileId)).toHaveLength(1);
    expect(await store.readStream(sessionStreamName(1, y))).toHaveLength(0);
  });
});

describe('a profile claim its session committed', () => {
  it('is honoured after the window, confirmed once, and then costs no read of that session', async () => {
    const profileId = newId('honoured-profile');
    const x = newId('first');
    expect(await first(handler(), x, { profileId })).toBe(true);
    await ageLatestClaim(profileId);

    const dry = await handler().handle(update(newId('dry'), { profileId }), { metadata, dry: true });
    expect(dry.state!.firstSession).toBe(false);
    expect(await claims(profileId)).toHaveLength(1); // a dry run confirms nothing

    expect(await first(handler(), newId('second'), { profileId })).toBe(false);
    expect(await claims(profileId)).toEqual([
      expect.objectContaining({ sessionIntegrationId: x }),
      expect.objectContaining({ sessionIntegrationId: x, kind: 'confirmed', schemaVersion: 2 }),
    ]);

    await ageLatestClaim(profileId); // a confirmation stands however old it is
    reads.length = 0;
    expect(await first(handler(), newId('third'), { profileId })).toBe(false);
    expect(reads).not.toContain(sessionStreamName(1, x));
    expect(await claims(profileId)).toHaveLength(2);
  });

  it('is honoured when the session recorded it with ProfileChanged, after events that do not', async () => {
    const profileId = newId('changed-profile');
    const x = newId('anonymous');
    await handler().handle(update(x, { couponCodes: ['A'] }), { metadata });
    expect(await first(handler(), x, { profileId })).toBe(true);
    await ageLatestClaim(profileId);

    expect(await first(handler(), newId('later'), { profileId })).toBe(false);
    expect((await claims(profileId))[1]).toMatchObject({ sessionIntegrationId: x, kind: 'confirmed' });
  });

  it('costs one read of the latest claim, and no session read, while younger than the window', async () => {
    const profileId = newId('cheap-profile');
    const x = newId('first');
    expect(await first(handler(), x, { profileId })).toBe(true);
    reads.length = 0;
    const y = newId('second');
    expect(await first(handler(), y, { profileId })).toBe(false);
    expect(reads.filter((stream) => stream !== sessionStreamName(1, y))).toEqual([
      profileStreamName(1, profileId),
    ]);
  });
});

describe('a profile claim judged by clocks that disagree', () => {
  const SKEW = DEFAULT_PROFILE_CLAIM_GRACE_MS + 60_000; // 11 minutes
  /** A process whose wall clock runs `ahead` ms ahead, and whose monotonic clock the test moves on. */
  const skewedHandler = (ahead: number, monotonic = { ms: 0 }) =>
    new SessionCommandHandler(store, { now: () => Date.now() + ahead, monotonicNow: () => monotonic.ms });

  /** Holds every append to `stream` until the returned release is called (a session append still in flight). */
  function holdAppends(stream: string): { release: () => void; restore: () => void } {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const appendToStream = store.appendToStream.bind(store);
    const spy = jest.spyOn(store, 'appendToStream').mockImplementation(async (name, ...rest) => {
      if (name === stream) await held;
      return appendToStream(name, ...rest);
    });
    return { release, restore: () => spy.mockRestore() };
  }

  async function until(condition: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  it.each([
    ['the reader’s clock runs 11 minutes ahead', SKEW, 0],
    ['the store’s clock runs 11 minutes behind the APIs', 0, SKEW],
  ])(
    'leaves a fresh claim whose session append is in flight alone when %s: one first session',
    async (_, ahead, storeBehind) => {
      const profileId = newId('skew-profile');
      const x = newId('claimer');
      const hold = holdAppends(sessionStreamName(1, x));
      try {
        // Given a create that claimed the profile and whose session append has not reached the store yet
        const claimer = first(handler(), x, { profileId });
        await until(async () => (await store.readStream(profileStreamName(1, profileId))).length === 1);
        if (storeBehind) await ageLatestClaim(profileId, storeBehind, 0); // the claimer's `at` is right

        // When another process, whose clock disagrees with the store's by more than the window, creates a
        // session of the profile
        const other = await first(skewedHandler(ahead), newId('other'), { profileId });
        hold.release();

        // Then only the claimer is first, and the claim was not taken over
        expect(other).toBe(false);
        expect(await claimer).toBe(true);
        expect(await claims(profileId)).toEqual([expect.objectContaining({ sessionIntegrationId: x })]);
      } finally {
        hold.release();
        hold.restore();
      }
    },
  );

  it('still takes over a claim whose session never came once the process watched it for the window', async () => {
    // Given a claim whose create crashed before its session append, seen by a process 11 minutes ahead
    const profileId = newId('watched-profile');
    const x = newId('crashed');
    await orphanClaim(profileId, x, false);
    const monotonic = { ms: 1_000 };
    const watcher = skewedHandler(SKEW, monotonic);
    expect(await first(watcher, newId('early'), { profileId })).toBe(false);

    // When a window (less 1 ms, then the whole window) passes on its monotonic clock
    monotonic.ms += DEFAULT_PROFILE_CLAIM_GRACE_MS - 1;
    expect(await first(watcher, newId('almost'), { profileId })).toBe(false);
    monotonic.ms += 1;
    const z = newId('later');

    // Then its next session of the profile takes the claim over and is first; nobody else is
    expect(await first(watcher, z, { profileId })).toBe(true);
    expect(await claims(profileId)).toEqual([
      expect.objectContaining({ sessionIntegrationId: x }),
      expect.objectContaining({
        sessionIntegrationId: z,
        kind: 'takeover',
        replaces: { sessionIntegrationId: x, revision: 0 },
      }),
    ]);
    expect(await first(skewedHandler(SKEW), newId('fresh'), { profileId })).toBe(false);
    expect(await first(handler(), x, { profileId })).toBe(false);
  });

  it('does not let a process that never watched a claim take it over until it is older than the wall-clock bound', async () => {
    const profileId = newId('unwatched-profile');
    await orphanClaim(profileId, newId('crashed'), false);
    await ageLatestClaim(profileId, STALE_MS - 60_000);
    expect(await first(skewedHandler(0), newId('early'), { profileId })).toBe(false);
    await ageLatestClaim(profileId, STALE_MS);
    expect(await first(skewedHandler(0), newId('late'), { profileId })).toBe(true);
  });
});

describe('what a process remembers of the claims it sent', () => {
  const GRACE = DEFAULT_PROFILE_CLAIM_GRACE_MS;
  /**
   * A host clock behind the store's by 8 minutes: more than half the window less a deadline, so the store's time
   * alone makes a claim this old look young enough to trust; far less than the wall-clock margin.
   */
  const BEHIND = 8 * 60_000;
  const request = (profileId: string, sessionIntegrationId: string) => ({
    applicationId: 1,
    profileId,
    sessionIntegrationId,
    sessionId: sessionIdFor(sessionStreamName(1, sessionIntegrationId)),
    at: new Date(Date.now() - BEHIND).toISOString(),
    metadata,
  });
  /** A process whose clock runs `BEHIND`, whose monotonic clock the test moves on, remembering `knownClaims`. */
  const lagging = (monotonic: { ms: number }, knownClaims?: number) =>
    new ProfileClaims(store, {
      now: () => Date.now() - BEHIND,
      monotonicNow: () => monotonic.ms,
      knownClaims,
    });

  it('keeps its own claim’s send however many other claims it sees, and renews the claim after half the window', async () => {
    // Given a process that remembers one claim it sees, whose clock runs 8 minutes behind the store's, and which
    // claimed a profile for a session whose append never came
    const monotonic = { ms: 0 };
    const claimer = lagging(monotonic, 1);
    const profileId = newId('own-profile');
    const x = newId('crashed');
    expect(await claimer.claim(request(profileId, x))).toBe(true);
    // and another process that has watched the claim since it was written
    const watched = { ms: 0 };
    const watcher = new ProfileClaims(store, { monotonicNow: () => watched.ms });
    expect(await watcher.peek(1, profileId, newId('early'))).toBe(false);

    // When the claimer then sees another profile's claim, and the session is retried on it most of a window later
    const otherProfile = newId('other-profile');
    await orphanClaim(otherProfile, newId('elsewhere'), false);
    expect(await claimer.peek(1, otherProfile, newId('reader'))).toBe(false);
    monotonic.ms += GRACE * 0.9;
    expect(await claimer.claim(request(profileId, x))).toBe(true);

    // Then the retry renewed the claim (rather than trust it by the store's time, young to its clock)
    expect(await claims(profileId)).toEqual([
      expect.objectContaining({ sessionIntegrationId: x, kind: 'first' }),
      expect.objectContaining({
        sessionIntegrationId: x,
        kind: 'takeover',
        replaces: { sessionIntegrationId: x, revision: 0 },
      }),
    ]);
    // And the watcher, a window after it first saw the claim, does not take it over: one first session
    watched.ms += GRACE;
    expect(await watcher.claim(request(profileId, newId('later')))).toBe(false);
    expect(await claims(profileId)).toHaveLength(2);
  });

  it('checks its own claims, rather than trust the wall clock, while a send it dropped for room would have counted', async () => {
    // Given a process that keeps one send, whose clock runs 8 minutes behind the store's, and which claims two
    // profiles (the first claim's send dropped for room), their sessions' appends never coming
    const monotonic = { ms: 0 };
    const claimer = lagging(monotonic, 1);
    const profileId = newId('dropped-profile');
    const x = newId('crashed');
    expect(await claimer.claim(request(profileId, x))).toBe(true);
    expect(await claimer.claim(request(newId('next-profile'), newId('next')))).toBe(true);

    // When the first session is retried most of a window later
    monotonic.ms += GRACE * 0.9;
    expect(await claimer.claim(request(profileId, x))).toBe(true);

    // Then its claim is renewed
    expect(await claims(profileId)).toEqual([
      expect.objectContaining({ sessionIntegrationId: x, kind: 'first' }),
      expect.objectContaining({ sessionIntegrationId: x, kind: 'takeover' }),
    ]);
    // And once every dropped send would have expired (half the window plus an hour), an own claim another process
    // wrote a moment ago is trusted by the store's time again: no read of its session, no append
    monotonic.ms += GRACE / 2 + 60 * 60_000;
    const retriedProfile = newId('retried-profile');
    const y = newId('elsewhere');
    await orphanClaim(retriedProfile, y, false);
    reads.length = 0;
    expect(await claimer.claim(request(retriedProfile, y))).toBe(true);
    expect(reads).toEqual([profileStreamName(1, retriedProfile)]);
    expect(await claims(retriedProfile)).toHaveLength(1);
  });

  it('remembers a claim in under 200 bytes, however long its profile and session ids', async () => {
    // Given profile and session ids of 1,000 code points each (astral: 2,000 UTF-16 units, 4,000 UTF-8 bytes)
    const profileId = `${'😀'.repeat(990)}${String(++counter).padStart(10, '0')}`;
    const x = `${'🎉'.repeat(990)}${String(counter).padStart(10, '0')}`;
    const claimer = new ProfileClaims(store);

    // When a process claims the profile and reads the claim again
    expect(await claimer.claim(request(profileId, x))).toBe(true);
    expect(await claimer.peek(1, profileId, newId('other'))).toBe(false);

    // Then what it keeps of it (seen, and sent) is small whatever the ids: no id is kept as it is
    for (const remembered of [claimer['known'], claimer['sent']]) {
      expect([...remembered]).toHaveLength(1);
      for (const entry of remembered) expect(serialize(entry).length).toBeLessThan(200);
    }
  });
});
