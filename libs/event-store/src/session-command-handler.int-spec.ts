import {
  EventSchemas,
  evolve,
  SESSION_EVENT_SCHEMAS,
  type SessionState,
} from '@session-engine/session-domain';
import type { EsdbClientAdapter } from './esdb-client.adapter';
import { suiteEventStore } from './testing/suite-event-store';
import { ConcurrentUpdateError, PreconditionFailedError } from './errors';
import { IdempotencyStore } from './idempotency-store';
import { sessionIdFor } from './ids';
import { ProfileClaims } from './profile-claims';
import { fromStoredEvent, profileStreamName, sessionStreamName } from './serialization';
import { SessionCommandHandler, type UntimedCommand } from './session-command-handler';
import { SessionEventStore } from './session-event-store';

// Stream names carry a timestamp and a counter (newId), so this suite also runs on a shared external server.
let store: EsdbClientAdapter;
let counter = 0;
suiteEventStore((connected) => (store = connected));

const metadata = { commandId: 'c', correlationId: 'r', actor: 'key-test' };
const now = () => new Date().toISOString();
const newId = (label: string) => `${label}-${Date.now()}-${++counter}`;

function update(
  integrationId: string,
  patch: Record<string, unknown> = {},
  applicationId = 1,
): UntimedCommand {
  return {
    type: 'UpdateSession',
    applicationId,
    integrationId,
    commandId: `cmd-${++counter}`,
    sessionId: sessionIdFor(sessionStreamName(applicationId, integrationId)),
    patch,
  };
}

function addItem(integrationId: string, sku: string): UntimedCommand {
  return {
    type: 'AddCartItems',
    applicationId: 1,
    integrationId,
    commandId: `cmd-${++counter}`,
    cartItems: [{ sku, quantity: 1, price: 1.5 }],
  };
}

function verb(integrationId: string, type: 'CloseSession' | 'ReopenSession'): UntimedCommand {
  return { type, applicationId: 1, integrationId, commandId: `cmd-${++counter}` };
}

async function coldFold(streamName: string): Promise<SessionState | null> {
  const events = await store.readStream(streamName);
  return events.reduce<SessionState | null>(
    (state, stored) => evolve(state, fromStoredEvent(stored).event),
    null,
  );
}

describe('SessionCommandHandler against the embedded server', () => {
  it('creates a session with expected revision no_stream and appends the next command at the next revision', async () => {
    const handler = new SessionCommandHandler(store);
    const id = newId('create');
    const created = await handler.handle(
      update(id, { cartItems: [{ sku: 'a', quantity: 2, price: 19.99 }] }),
      { metadata },
    );
    expect(created.revision).toBe(0n);
    expect(created.appended).toBe(true);
    expect(created.position).toBeDefined();

    const added = await handler.handle(addItem(id, 'b'), { metadata });
    expect(added.revision).toBe(1n);
    const stored = await store.readStream(sessionStreamName(1, id));
    expect(stored.map((event) => event.type)).toEqual(['SessionCreated', 'CartItemsAdded']);
    expect(stored[0]!.metadata).toMatchObject({
      schemaVersion: 1,
      commandId: 'c',
      correlationId: 'r',
      actor: 'key-test',
    });
  });

  it('appends nothing for an update that changes nothing', async () => {
    const handler = new SessionCommandHandler(store);
    const id = newId('noop');
    await handler.handle(update(id, { couponCodes: ['X'] }), { metadata });
    const again = await handler.handle(update(id, { couponCodes: ['X'] }), { metadata });
    expect(again.appended).toBe(false);
    expect(again.revision).toBe(0n);
    expect(again.position).toBeUndefined();
  });

  it('refuses a stale If-Match revision with PreconditionFailedError and appends nothing', async () => {
    const handler = new SessionCommandHandler(store);
    const id = newId('if-match');
    await handler.handle(update(id), { metadata });
    await handler.handle(addItem(id, 'a'), { metadata, expectedRevision: 0n });
    await expect(handler.handle(addItem(id, 'b'), { metadata, expectedRevision: 0n })).rejects.toBeInstanceOf(
      PreconditionFailedError,
    );
    expect(await store.readStream(sessionStreamName(1, id))).toHaveLength(2);
  });

  it('creates with expectedRevision null (If-None-Match: *) only while the session does not exist, in any process', async () => {
    const id = newId('create-only');
    const stream = sessionStreamName(1, id);
    const created = await new SessionCommandHandler(store).handle(update(id, { couponCodes: ['A'] }), {
      metadata,
      expectedRevision: null,
    });
    expect(created.revision).toBe(0n);
    // Another process assumes a session it has not seen is new and learns otherwise from the refused append;
    // the second time it knows the session: 412 both times, nothing appended.
    const fresh = new SessionCommandHandler(store);
    await expect(
      fresh.handle(update(id, { couponCodes: ['B'] }), { metadata, expectedRevision: null }),
    ).rejects.toMatchObject({
      constructor: PreconditionFailedError,
      expectedRevision: null,
      actualRevision: 0n,
    });
    await expect(
      fresh.handle(update(id, { couponCodes: ['B'] }), { metadata, expectedRevision: null }),
    ).rejects.toBeInstanceOf(PreconditionFailedError);
    expect(await store.readStream(stream)).toHaveLength(1);
    expect((await coldFold(stream))!.couponCodes).toEqual(['A']);
  });

  it('retries a conflict from another process by re-reading and re-deciding', async () => {
    const id = newId('conflict');
    const stream = sessionStreamName(1, id);
    const other = new SessionCommandHandler(store);
    await other.handle(update(id), { metadata });
    const retries: number[] = [];
    const handler = new SessionCommandHandler(store, {
      observer: { onRetry: (_s, attempt) => retries.push(attempt) },
    });
    // Another process writes between this handler's read and its append.
    const read = store.readStream.bind(store);
    let injected = false;
    const readSpy = jest.spyOn(store, 'readStream').mockImplementation(async (name, options) => {
      const events = await read(name, options);
      if (!injected && name === stream) {
        injected = true;
        await other.handle(addItem(id, 'sneaked-in'), { metadata });
      }
      return events;
    });
    try {
      const result = await handler.handle(addItem(id, 'mine'), { metadata });
      expect(result.revision).toBe(2n);
    } finally {
      readSpy.mockRestore();
    }
    expect(retries).toEqual([1]);
    const state = await coldFold(stream);
    expect(state!.cartItems.map((line) => line.sku)).toEqual(['sneaked-in', 'mine']);
  });

  describe('the time of a decision', () => {
    const T = Date.parse('2030-01-01T00:00:00.000Z');
    const iso = (ms: number) => new Date(ms).toISOString();
    const eventTimes = async (stream: string) =>
      (await store.readStream(stream)).map((stored) => fromStoredEvent(stored).event.data.at);

    /**
     * A session created at T by `winner` (another process, clock `winnerClock`), cached at revision 0 by
     * `handler`, and then changed by `winner` at T + 2 s: `handler`'s next command decides on a stale cache,
     * loses the race and retries.
     */
    async function lostRace(label: string, handler: SessionCommandHandler) {
      const id = newId(label);
      let winnerClock = T;
      const winner = new SessionCommandHandler(store, { now: () => winnerClock });
      await winner.handle(update(id), { metadata });
      await handler.loadSession(1, id);
      winnerClock = T + 2_000;
      await winner.handle(addItem(id, 'won'), { metadata });
      return { id, stream: sessionStreamName(1, id) };
    }

    it('reads the clock again when it retries a conflict: the retried event is later than the one that won', async () => {
      let clock = T + 1_000;
      const handler = new SessionCommandHandler(store, {
        now: () => clock,
        // Time passes while the race is lost: the retry is decided two seconds after the first attempt.
        observer: {
          onConflict: () => {
            clock += 2_000;
          },
        },
      });
      const { id, stream } = await lostRace('conflict-clock', handler);
      const result = await handler.handle(addItem(id, 'retried'), { metadata });
      expect(result.revision).toBe(2n);
      expect(await eventTimes(stream)).toEqual([iso(T), iso(T + 2_000), iso(T + 3_000)]);
      expect(result.state!.updated).toBe(iso(T + 3_000));
    });

    it('never records a time earlier than the event that won the race when its clock runs behind', async () => {
      // Clock skew between processes: this one's clock stays a second behind the winner's.
      const handler = new SessionCommandHandler(store, { now: () => T + 1_000 });
      const { id, stream } = await lostRace('conflict-skew', handler);
      const result = await handler.handle(addItem(id, 'retried'), { metadata });
      expect(result.revision).toBe(2n);
      expect(await eventTimes(stream)).toEqual([iso(T), iso(T + 2_000), iso(T + 2_000)]);
      expect(result.state!.updated).toBe(iso(T + 2_000));
      expect((await coldFold(stream))!.updated).toBe(iso(T + 2_000));
    });

    it('reads the clock for a command that waited for its session once it holds the lock, not when it arrived', async () => {
      const id = newId('lock-clock');
      const stream = sessionStreamName(1, id);
      let clock = T;
      const handler = new SessionCommandHandler(store, { now: () => clock });
      await handler.handle(update(id), { metadata });
      // The first command's append is held until the second one has arrived and the clock has moved on.
      const append = store.appendToStream.bind(store);
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const appendSpy = jest.spyOn(store, 'appendToStream').mockImplementationOnce(async (...args) => {
        await held;
        return append(...args);
      });
      try {
        clock = T + 1_000;
        const first = handler.handle(addItem(id, 'first'), { metadata });
        while (appendSpy.mock.calls.length === 0) await new Promise((resolve) => setImmediate(resolve));
        const second = handler.handle(addItem(id, 'second'), { metadata });
        clock = T + 5_000;
        release();
        await Promise.all([first, second]);
      } finally {
        appendSpy.mockRestore();
      }
      expect(await eventTimes(stream)).toEqual([iso(T), iso(T + 1_000), iso(T + 5_000)]);
    });
  });

  describe('the time of a dry run (decidedAt)', () => {
    const T = Date.parse('2030-01-01T00:00:00.000Z');
    const iso = (ms: number) => new Date(ms).toISOString();

    it('decides a dry run at its decidedAt instead of the clock, and stores nothing', async () => {
      const handler = new SessionCommandHandler(store, { now: () => T });
      const later = T + 86_400_000;
      const fresh = newId('dry-at-new');
      const created = await handler.handle(update(fresh), { metadata, dry: true, decidedAt: later });
      expect(created.state).toMatchObject({ created: iso(later), updated: iso(later) });
      expect(created.events.map((event) => event.data.at)).toEqual([iso(later)]);
      expect(await store.readStream(sessionStreamName(1, fresh))).toEqual([]);

      const id = newId('dry-at');
      await handler.handle(update(id), { metadata });
      const dry = await handler.handle(addItem(id, 'later'), { metadata, dry: true, decidedAt: later });
      expect(dry.state).toMatchObject({ created: iso(T), updated: iso(later) });
      expect(dry.appended).toBe(false);
      // The next command is decided at the clock again, and the dry run left nothing behind.
      const real = await handler.handle(addItem(id, 'now'), { metadata });
      expect(real.state).toMatchObject({ updated: iso(T), updateCount: 2 });
      expect(real.state!.cartItems.map((line) => line.sku)).toEqual(['now']);
    });

    it('takes decidedAt for dry runs only', async () => {
      const handler = new SessionCommandHandler(store, { now: () => T });
      const id = newId('dry-at-refused');
      await expect(handler.handle(update(id), { metadata, decidedAt: T + 1_000 })).rejects.toThrow(
        /decidedAt is for dry runs only/,
      );
      expect(await store.readStream(sessionStreamName(1, id))).toEqual([]);
    });
  });

  it('appends on a cached state with one round trip and no read', async () => {
    const handler = new SessionCommandHandler(store);
    const id = newId('one-trip');
    await handler.handle(update(id), { metadata });
    const readSpy = jest.spyOn(store, 'readStream');
    try {
      const result = await handler.handle(addItem(id, 'a'), { metadata, expectedRevision: 0n });
      expect(result.revision).toBe(1n);
      expect(readSpy).not.toHaveBeenCalled();
    } finally {
      readSpy.mockRestore();
    }
  });

  it('creates an unseen session without a read, and updates an existing unseen one after re-reading', async () => {
    const id = newId('unseen');
    const readSpy = jest.spyOn(store, 'readStream');
    try {
      const created = await new SessionCommandHandler(store).handle(update(id), { metadata });
      expect(created.revision).toBe(0n);
      expect(readSpy).not.toHaveBeenCalled();
      // Another process (empty cache) updates it: its create attempt is refused, it re-reads and updates.
      const updated = await new SessionCommandHandler(store).handle(update(id, { couponCodes: ['X'] }), {
        metadata,
      });
      expect(updated.revision).toBe(1n);
      expect(updated.state!.couponCodes).toEqual(['X']);
      expect(updated.state!.id).toBe(created.state!.id);
    } finally {
      readSpy.mockRestore();
    }
    expect(await coldFold(sessionStreamName(1, id))).toEqual(
      (await new SessionCommandHandler(store).loadSession(1, id)).state,
    );
  });

  it('shares reads between concurrent loads, yet every load sees the writes acknowledged before it began', async () => {
    const handler = new SessionCommandHandler(store);
    const other = new SessionCommandHandler(store);
    const id = newId('shared-read');
    await handler.handle(update(id), { metadata });
    const read = store.readStream.bind(store);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    const readSpy = jest.spyOn(store, 'readStream').mockImplementation(async (name, options) => {
      const call = ++calls;
      const events = await read(name, options);
      if (call === 1) await held; // the first read was served, its answer is still on the way
      return events;
    });
    try {
      const first = handler.loadSession(1, id);
      await other.handle(addItem(id, 'acknowledged-meanwhile'), { metadata });
      const before = calls;
      const later = Array.from({ length: 10 }, () => handler.loadSession(1, id));
      release();
      expect((await first).revision).toBe(0n);
      for (const loaded of await Promise.all(later)) {
        expect(loaded.revision).toBe(1n);
        expect(loaded.state!.cartItems.map((line) => line.sku)).toEqual(['acknowledged-meanwhile']);
      }
      expect(calls - before).toBe(1); // the ten later loads shared one read
    } finally {
      readSpy.mockRestore();
    }
  });

  it('re-reads before refusing a command that a stale cache would refuse', async () => {
    const handler = new SessionCommandHandler(store);
    const other = new SessionCommandHandler(store);
    const id = newId('stale-refusal');
    await handler.handle(update(id), { metadata });
    await handler.handle(verb(id, 'CloseSession'), { metadata });
    // Another process reopens it: this handler's cache still says closed.
    await other.handle(verb(id, 'ReopenSession'), { metadata });
    const result = await handler.handle(addItem(id, 'after-reopen'), { metadata });
    expect(result.revision).toBe(3n);
    expect(result.state!.cartItems.map((line) => line.sku)).toEqual(['after-reopen']);
  });

  it('re-reads before answering 412 or a no-op on a stale cache', async () => {
    const handler = new SessionCommandHandler(store);
    const other = new SessionCommandHandler(store);
    const id = newId('stale-if-match');
    await handler.handle(update(id), { metadata });
    await other.handle(update(id, { couponCodes: ['ELSEWHERE'] }), { metadata });
    // The cache says revision 0 and no coupons; the stream is at 1 with the coupon.
    const same = await handler.handle(update(id, { couponCodes: ['ELSEWHERE'] }), { metadata });
    expect(same.appended).toBe(false);
    expect(same.revision).toBe(1n);
    await other.handle(addItem(id, 'b'), { metadata });
    const matched = await handler.handle(addItem(id, 'c'), { metadata, expectedRevision: 2n });
    expect(matched.revision).toBe(3n);
    expect(await coldFold(sessionStreamName(1, id))).toEqual(matched.state);
  });

  it('re-reads before answering a no-op that only its stale cache makes one (A, elsewhere B, then A again)', async () => {
    const handler = new SessionCommandHandler(store);
    const other = new SessionCommandHandler(store);
    const id = newId('stale-no-op');
    await handler.handle(update(id, { couponCodes: ['A'] }), { metadata });
    await other.handle(update(id, { couponCodes: ['B'] }), { metadata });
    // The cache says revision 0 with coupon A, which the request repeats; the stream is at 1 with coupon B.
    const again = await handler.handle(update(id, { couponCodes: ['A'] }), { metadata });
    expect({ appended: again.appended, revision: again.revision }).toEqual({ appended: true, revision: 2n });
    const stored = await coldFold(sessionStreamName(1, id));
    expect(stored).toEqual(again.state);
    expect(stored?.couponCodes).toEqual(['A']);
  });

  it('gives up with ConcurrentUpdateError when every attempt loses the race', async () => {
    const id = newId('storm');
    const setup = new SessionCommandHandler(store);
    await setup.handle(update(id), { metadata });
    const exhausted: string[] = [];
    const handler = new SessionCommandHandler(store, {
      retryPolicy: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 },
      observer: { onRetriesExhausted: (stream) => exhausted.push(stream) },
    });
    // An adapter whose appends always find a newer revision: every attempt conflicts.
    const appendSpy = jest
      .spyOn(store, 'appendToStream')
      .mockImplementation(async (streamName, _events, expected) => {
        const { StreamRevisionConflict } = await import('./esdb-client.adapter');
        throw new StreamRevisionConflict(streamName, expected, 99n);
      });
    let attempts = 0;
    try {
      await expect(handler.handle(addItem(id, 'x'), { metadata })).rejects.toBeInstanceOf(
        ConcurrentUpdateError,
      );
      attempts = appendSpy.mock.calls.length;
    } finally {
      appendSpy.mockRestore();
    }
    expect(attempts).toBe(3);
    expect(exhausted).toEqual([sessionStreamName(1, id)]);
  });

  it('applies 50 concurrent commands on one session exactly once each', async () => {
    const handler = new SessionCommandHandler(store);
    const id = newId('fifty');
    await handler.handle(update(id), { metadata });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => handler.handle(addItem(id, `sku-${i}`), { metadata })),
    );
    expect(results.every((result) => result.appended)).toBe(true);
    const state = await coldFold(sessionStreamName(1, id));
    expect(state!.cartItems.map((line) => line.sku).sort()).toEqual(
      Array.from({ length: 50 }, (_, i) => `sku-${i}`).sort(),
    );
    expect(state!.updateCount).toBe(51);
  });

  it('lets exactly one of 20 concurrent creates for a new profile be the first session', async () => {
    const profileId = newId('profile');
    // Separate handlers stand for separate processes: only the profile stream arbitrates.
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        new SessionCommandHandler(store).handle(update(`${profileId}-s${i}`, { profileId }), { metadata }),
      ),
    );
    expect(results.filter((result) => result.state!.firstSession)).toHaveLength(1);
    expect(await store.readStream(profileStreamName(1, profileId))).toHaveLength(1);
  });

  it('finds its own claim again after a crash between the claim and the session append', async () => {
    const profileId = newId('crash-profile');
    const id = newId('crash');
    const claims = new ProfileClaims(store);
    // The crashed attempt: claimed, never appended the session.
    await claims.claim({
      applicationId: 1,
      profileId,
      sessionIntegrationId: id,
      sessionId: 1,
      at: now(),
      metadata: {},
    });
    expect(await store.readStream(sessionStreamName(1, id))).toHaveLength(0);

    const handler = new SessionCommandHandler(store);
    const other = await handler.handle(update(newId('other'), { profileId }), { metadata });
    expect(other.state!.firstSession).toBe(false);
    const retried = await handler.handle(update(id, { profileId }), { metadata });
    expect(retried.state!.firstSession).toBe(true);
    expect(await store.readStream(profileStreamName(1, profileId))).toHaveLength(1);
  });

  it('neither claims nor stores anything for a dry run or a refused command', async () => {
    const handler = new SessionCommandHandler(store);
    const profileId = newId('dry-profile');
    const id = newId('dry');
    const dry = await handler.handle(update(id, { profileId }), { metadata, dry: true });
    expect(dry.state!.firstSession).toBe(true);
    expect(dry.appended).toBe(false);
    await expect(
      handler.handle(update(id, { profileId, state: 'cancelled' }), { metadata }),
    ).rejects.toThrow();
    expect(await store.readStream(profileStreamName(1, profileId))).toHaveLength(0);
    expect(await store.readStream(sessionStreamName(1, id))).toHaveLength(0);
  });

  it('loads from the cache exactly what a cold fold gives, including events written by another process', async () => {
    const cached = new SessionCommandHandler(store);
    const id = newId('cache');
    await cached.handle(update(id), { metadata });
    for (let i = 0; i < 30; i++) await cached.handle(addItem(id, `sku-${i}`), { metadata });
    const other = new SessionCommandHandler(store);
    await other.handle(addItem(id, 'written-elsewhere'), { metadata });
    const warm = await cached.loadSession(1, id);
    expect(warm.revision).toBe(31n);
    expect(warm.state).toEqual(await coldFold(sessionStreamName(1, id)));
  });

  it('during a rollout of a new version, answers and caches what a cold read folds, not the event as decided', async () => {
    // The release that reads ReferralCodeChanged v2 (upper-cased codes) and still writes v1: the round trip is not
    // the identity, so the writer's own fold of what it decided would differ from every later read.
    const registry = SESSION_EVENT_SCHEMAS.registry;
    const rollout = new EventSchemas({
      read: { ...registry.read, ReferralCodeChanged: 2 },
      write: registry.write,
      upcasters: {
        ...registry.upcasters,
        ReferralCodeChanged: {
          1: (data) => ({ ...data, referralCode: String(data.referralCode).toUpperCase() }),
        },
      },
      downcasters: { ...registry.downcasters, ReferralCodeChanged: { 2: (data) => data } },
    });
    const writer = new SessionCommandHandler(store, { schemas: rollout });
    const id = newId('rollout');
    await writer.handle(update(id), { metadata });
    const changed = await writer.handle(update(id, { referralCode: 'summer-abc' }), { metadata });
    expect(changed.state?.referralCode).toBe('SUMMER-ABC');
    const cold = await new SessionCommandHandler(store, { schemas: rollout }).loadSession(1, id);
    expect((await writer.loadSession(1, id)).state).toEqual(cold.state);
    // The same request again is a no-op on the writer as on any other process.
    const again = await writer.handle(update(id, { referralCode: 'SUMMER-ABC' }), { metadata });
    expect(again.appended).toBe(false);
    expect(await store.readStream(sessionStreamName(1, id))).toHaveLength(2);
  });
});

describe('SessionCommandHandler with Idempotency-Key tokens', () => {
  const keyed = (token: string, requestHash = 'hash-1') => ({
    metadata: { ...metadata, commandId: `cmd-${++counter}`, idempotencyToken: token, requestHash },
  });

  it('recognises a keyed command already in the stream in a fresh process and appends nothing', async () => {
    const id = newId('keyed-restart');
    const stream = sessionStreamName(1, id);
    const first = new SessionCommandHandler(store);
    await first.handle(update(id), { metadata });
    const original = await first.handle(addItem(id, 'once'), keyed('token-a'));
    // Later commands move the session on; the replay still answers with the state right after the first run.
    await first.handle(verb(id, 'CloseSession'), { metadata });

    const restarted = new SessionCommandHandler(store);
    const retry = await restarted.handle(addItem(id, 'once'), keyed('token-a'));
    expect(retry).toEqual({
      state: original.state,
      revision: original.revision,
      position: original.position,
      events: original.events,
      appended: false,
      replayed: { requestHash: 'hash-1' },
    });
    // Reused with another request: still not applied, and the first request's hash tells the caller so.
    const reused = await restarted.handle(addItem(id, 'other'), keyed('token-a', 'hash-2'));
    expect(reused.replayed).toEqual({ requestHash: 'hash-1' });
    expect(await store.readStream(stream)).toHaveLength(3);
    expect((await coldFold(stream))!.cartItems.map((line) => line.sku)).toEqual(['once']);
  });

  it('recognises a keyed command it appended itself (from its cache) and answers as the first run did', async () => {
    const handler = new SessionCommandHandler(store);
    const id = newId('keyed-cache');
    await handler.handle(update(id), { metadata });
    const original = await handler.handle(addItem(id, 'once'), keyed('token-b'));
    const retry = await handler.handle(addItem(id, 'once'), keyed('token-b'));
    expect(retry).toEqual({ ...original, appended: false, replayed: { requestHash: 'hash-1' } });
    expect(await store.readStream(sessionStreamName(1, id))).toHaveLength(2);
  });

  it('applies the same key sent to two processes at once exactly once, also with If-Match', async () => {
    for (const withIfMatch of [false, true]) {
      const id = newId('keyed-race');
      const a = new SessionCommandHandler(store);
      const b = new SessionCommandHandler(store);
      await a.handle(update(id), { metadata });
      await b.loadSession(1, id);
      const options = (token: string) => ({
        ...keyed(token),
        ...(withIfMatch ? { expectedRevision: 0n } : {}),
      });
      const results = await Promise.all([
        a.handle(addItem(id, 'once'), options('token-c')),
        b.handle(addItem(id, 'once'), options('token-c')),
      ]);
      expect(results.map((result) => result.appended).sort()).toEqual([false, true]);
      expect(results[0]!.revision).toBe(1n);
      expect(results[1]!.revision).toBe(1n);
      expect(results[0]!.state).toEqual(results[1]!.state);
      expect(await store.readStream(sessionStreamName(1, id))).toHaveLength(2);
    }
  });

  it('finds a keyed command past the 256 it keeps per session, on its cache and in a fresh process', async () => {
    const id = newId('keyed-many');
    const stream = sessionStreamName(1, id);
    const handler = new SessionCommandHandler(store);
    await handler.handle(update(id), { metadata });
    const original = await handler.handle(addItem(id, 'first'), keyed('token-many-0'));
    for (let i = 1; i <= 256; i++) await handler.handle(addItem(id, `line-${i}`), keyed(`token-many-${i}`));
    expect(await store.readStream(stream)).toHaveLength(258);
    // The first key is no longer among those kept, in the cache or in a cold read's fold: it is looked for in
    // the whole stream, which is its only record.
    for (const process of [handler, new SessionCommandHandler(store)]) {
      const retry = await process.handle(addItem(id, 'first'), keyed('token-many-0'));
      expect(retry).toEqual({ ...original, appended: false, replayed: { requestHash: 'hash-1' } });
    }
    // A new key on that session is still applied, once.
    expect((await handler.handle(addItem(id, 'new'), keyed('token-many-new'))).appended).toBe(true);
    expect(await store.readStream(stream)).toHaveLength(259);
  });

  it('applies a keyed command again once its idempotency window has passed', async () => {
    const id = newId('keyed-window');
    let clock = Date.now();
    await new SessionCommandHandler(store).handle(update(id), { metadata });
    await new SessionCommandHandler(store).handle(addItem(id, 'a'), keyed('token-d'));
    clock += 25 * 60 * 60 * 1000;
    const later = new SessionCommandHandler(store, { now: () => clock });
    const result = await later.handle(addItem(id, 'a'), keyed('token-d'));
    expect(result.appended).toBe(true);
    expect(result.replayed).toBeUndefined();
    expect(await store.readStream(sessionStreamName(1, id))).toHaveLength(3);
  });
});

describe('IdempotencyStore', () => {
  const scope = () => ({
    applicationId: 1,
    endpoint: 'POST /close',
    integrationId: newId('s'),
    key: newId('key'),
  });

  it('remembers the first response durably and scopes it to the key', async () => {
    const idempotency = new IdempotencyStore(store);
    const s = scope();
    expect(await idempotency.find(s)).toBeUndefined();
    await idempotency.remember(s, {
      status: 200,
      body: { ok: 1 },
      etag: '"3"',
      eventPosition: '42',
      requestHash: 'h',
    });
    expect(await new IdempotencyStore(store).find(s)).toEqual({
      status: 200,
      body: { ok: 1 },
      etag: '"3"',
      eventPosition: '42',
      requestHash: 'h',
    });
    expect(await idempotency.find({ ...s, endpoint: 'POST /cancel' })).toBeUndefined();
  });

  it('forgets a response after 24 hours', async () => {
    let clock = Date.now();
    const idempotency = new IdempotencyStore(store, 24 * 3600, () => clock);
    const s = scope();
    await idempotency.remember(s, { status: 200, body: {}, requestHash: 'h' });
    clock += 24 * 3600 * 1000 + 1;
    expect(await idempotency.find(s)).toBeUndefined();
    await idempotency.remember(s, { status: 200, body: { second: true }, requestHash: 'h2' });
    expect((await idempotency.find(s))!.requestHash).toBe('h2');
  });
});

describe('SessionEventStore', () => {
  it('stores metadata as its JSON and reads it back as the same object (non-ASCII, nesting, escapes)', async () => {
    const stream = `meta-${newId('bytes')}`;
    const meta = { note: 'Grüße 🛒 "quoted" \\ back', nested: { list: [1, 2.5, null, true] }, empty: '' };
    await store.appendToStream(stream, [{ type: 'Noted', data: { ok: true }, metadata: meta }], 'no_stream');
    const [stored] = await store.readStream(stream);
    expect(stored!.metadata).toEqual(meta);
    expect(stored!.data).toEqual({ ok: true });
  });

  it('streams session events from a position, upcast, with stream name, revision and position', async () => {
    const handler = new SessionCommandHandler(store);
    const id = newId('sub');
    const created = await handler.handle(update(id), { metadata });
    await handler.handle(addItem(id, 'a'), { metadata });
    const sessions = new SessionEventStore(store);
    const subscription = sessions.subscribeToSessionEvents({
      fromPosition: created.position! - 1n,
      prefixes: ['session-1-sub-'],
    });
    const seen: { stream: string; revision: bigint; type: string; position?: bigint }[] = [];
    for await (const recorded of subscription) {
      if (recorded.kind === 'tombstone' || recorded.streamName !== sessionStreamName(1, id)) continue;
      seen.push({
        stream: recorded.streamName,
        revision: recorded.revision,
        type: recorded.event.type,
        position: recorded.position,
      });
      if (seen.length === 2) break;
    }
    await subscription.close();
    expect(seen.map((e) => [e.revision, e.type])).toEqual([
      [0n, 'SessionCreated'],
      [1n, 'CartItemsAdded'],
    ]);
    expect(seen[0]!.position).toBeDefined();
  });

  it('hands a subscription on in arrays: the same events as one by one, catch-up gathered, then live ones', async () => {
    const prefix = `session-1-${newId('batches')}-`;
    const streams = Array.from({ length: 300 }, (_, i) => `${prefix}${i}`);
    // Events of their type's shape (readers check it); what they add is not folded here.
    const event = (i: number) => ({
      type: 'CartItemsAdded',
      data: { at: now(), commandId: `c${i}`, firstPosition: 0, cartItems: [] },
      metadata: { schemaVersion: 2, commandId: `c${i}`, correlationId: 'r', actor: 'a' },
    });
    const append = (from: number, count: number) =>
      Promise.all(
        Array.from({ length: count }, (_, k) =>
          store.appendToStream(streams[(from + k) % streams.length]!, [event(from + k)], 'any'),
        ),
      );
    for (let i = 0; i < 1500; i += 300) await append(i, 300);

    const oneByOne: string[] = [];
    const single = new SessionEventStore(store).subscribeToSessionEvents({ prefixes: [prefix] });
    for await (const recorded of single) {
      oneByOne.push(`${recorded.streamName}@${recorded.kind === 'tombstone' ? '$' : recorded.revision}`);
      if (oneByOne.length === 1500) break;
    }
    await single.close();

    const sizes: number[] = [];
    const batched: string[] = [];
    const subscription = new SessionEventStore(store).subscribeToSessionEvents({ prefixes: [prefix] });
    let live: Promise<unknown> | undefined;
    for await (const batch of subscription.batches(400)) {
      sizes.push(batch.length);
      batched.push(...batch.map((r) => `${r.streamName}@${r.kind === 'tombstone' ? '$' : r.revision}`));
      // Caught up: three more events arrive live.
      if (batched.length === 1500) live = append(1500, 3);
      if (batched.length === 1503) break;
    }
    await live;
    await subscription.close();
    expect(batched.slice(0, 1500)).toEqual(oneByOne);
    expect(new Set(batched.slice(1500))).toEqual(
      new Set([1500, 1501, 1502].map((i) => `${streams[i % 300]}@5`)),
    );
    expect(Math.max(...sizes)).toBeLessThanOrEqual(400);
    // Gathered, not one array per event.
    expect(sizes.length).toBeLessThan(1503 / 10);
  }, 30_000); // 1,503 appends and two reads of them: seconds on a loaded 2-core box, and the test times nothing
});
