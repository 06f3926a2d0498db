/**
 * The projector's subscription, against the embedded server, where it meets an event this build cannot read and
 * where it reaches the live end:
 *
 * - an unreadable event (a schema version or type a newer writer produced) used to throw away the whole page it
 *   came in — the events before it too — as an error of the subscription; now those are handed on and the
 *   subscription ends with `UnreadableSessionEventError` naming the event;
 * - the caught-up signal used to come as the client decoded the server's message, while the events before it
 *   still waited in the client's buffers: a consumer heard "caught up" before it had handled them, and one that
 *   failed on them heard it all the same. Now it comes once the consumer has handled them and asks for more.
 */
import { startTestEventStore, type TestEventStore } from '@session-engine/testing/event-store';
import { createdData } from '@session-engine/session-domain/spec-fixtures';
import { randomUUID } from 'node:crypto';
import { EsdbClientAdapter, type EventToAppend } from './esdb-client.adapter';
import { SessionEventStore, UnreadableSessionEventError } from './session-event-store';

jest.setTimeout(60_000);

let server: TestEventStore;
let adapter: EsdbClientAdapter;

beforeAll(async () => {
  server = await startTestEventStore();
  adapter = EsdbClientAdapter.connect(server.connectionString);
});

afterAll(async () => {
  await adapter?.close();
  await server?.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What each type used here holds besides `at` and `commandId` (readers check an event's shape). */
const SHAPES: Record<string, Record<string, unknown>> = {
  SessionCreated: createdData(
    { sessionId: 1, applicationId: 1, integrationId: 'x' },
    { firstSession: false },
  ),
  SessionReopened: { profileId: '', reversedRevenue: '0', reversedItems: [] },
  SessionClosed: { profileId: '', total: '0', items: [] },
};

function event(type: string, i: number, schemaVersion: unknown = 1): EventToAppend {
  return {
    type,
    data: { at: '2025-05-01T08:00:00.000Z', commandId: `c${i}`, ...SHAPES[type] },
    metadata: { schemaVersion, commandId: `c${i}`, correlationId: 'r', actor: 'a' },
  };
}

describe('an event the subscription cannot read', () => {
  it.each([
    ['a schema version newer than this build reads', 'SessionClosed', 2],
    ['a schemaVersion that is not a positive integer', 'SessionClosed', '2'],
    ['an unknown event type', 'SessionTeleported', 1],
  ])(
    'with %s: the events before it in its page are handed on, then it ends the subscription naming it',
    async (_name, type, schemaVersion) => {
      const prefix = `session-1-unreadable-${randomUUID()}-`;
      const stream = `${prefix}a`;
      // One append: the server sends the four together, and they arrive in one page.
      const outcome = await adapter.appendToStream(
        stream,
        [
          event('SessionCreated', 0),
          event('SessionReopened', 1),
          event(type, 2, schemaVersion),
          event('SessionClosed', 3),
        ],
        'no_stream',
      );
      const subscription = new SessionEventStore(adapter).subscribeToSessionEvents({ prefixes: [prefix] });
      const handed: string[] = [];
      let failure: unknown;
      try {
        for await (const page of subscription.batches(100))
          handed.push(
            ...page.map((r) => (r.kind === 'tombstone' ? '$streamDeleted' : `${r.revision}:${r.event.type}`)),
          );
      } catch (error) {
        failure = error;
      } finally {
        await subscription.close();
      }
      expect(handed).toEqual(['0:SessionCreated', '1:SessionReopened']);
      expect(failure).toBeInstanceOf(UnreadableSessionEventError);
      const unreadable = failure as UnreadableSessionEventError;
      expect(unreadable.stored).toMatchObject({ streamName: stream, revision: 2n, type });
      expect(unreadable.stored.position).toBeLessThan(outcome.position!);
      expect(unreadable.message).toMatch(/^Unknown (schema version|session event type)/);
      expect(unreadable.following.map((stored) => stored.revision)).toEqual([3n]);
    },
  );
});

describe('the caught-up signal', () => {
  it('comes once the consumer has handled every event before the live end, not as the client decodes it', async () => {
    const prefix = `session-1-caught-up-${randomUUID()}-`;
    const total = 3_000;
    for (let i = 0; i < total; i += 500)
      await adapter.appendToStream(
        `${prefix}${i}`,
        Array.from({ length: 500 }, (_, k) => event('SessionReopened', i + k)),
        'no_stream',
      );
    const subscription = new SessionEventStore(adapter).subscribeToSessionEvents({ prefixes: [prefix] });
    let handled = 0;
    let handledWhenCaughtUp: number | undefined;
    subscription.onCaughtUp(() => {
      handledWhenCaughtUp = handled;
      void subscription.close(); // ends the iteration
    });
    for await (const page of subscription.batches(100)) {
      // A consumer slower than the store: the client's buffers fill while it works.
      await sleep(2);
      handled += page.length;
    }
    expect(handledWhenCaughtUp).toBe(total);
  });

  it('never comes to a consumer that fails on an event before the live end', async () => {
    const prefix = `session-1-fails-${randomUUID()}-`;
    await adapter.appendToStream(
      `${prefix}a`,
      [event('SessionCreated', 0), event('SessionReopened', 1), event('SessionClosed', 2, 99)],
      'no_stream',
    );
    const subscription = new SessionEventStore(adapter).subscribeToSessionEvents({ prefixes: [prefix] });
    let caughtUp = false;
    subscription.onCaughtUp(() => (caughtUp = true));
    const confirmed = new Promise<void>((resolve) => subscription.onConfirmed(resolve));
    await expect(
      (async () => {
        for await (const _ of subscription.batches(100));
      })(),
    ).rejects.toBeInstanceOf(UnreadableSessionEventError);
    await confirmed;
    await sleep(200);
    await subscription.close();
    expect(caughtUp).toBe(false);

    // The same events, handled: it comes.
    const readable = new SessionEventStore(adapter).subscribeToSessionEvents({
      prefixes: [`${prefix}b`],
    });
    await adapter.appendToStream(`${prefix}b`, [event('SessionCreated', 0)], 'no_stream');
    const heard = new Promise<void>((resolve) => readable.onCaughtUp(resolve));
    const reading = (async () => {
      for await (const _ of readable.batches(100));
    })().catch(() => undefined);
    await heard;
    await readable.close();
    await reading;
  });
});

describe("events that are not the engine's session events, and tombstones", () => {
  it('passes by a stream that only starts with "session-" and a system event in a session stream', async () => {
    const run = randomUUID();
    const foreign = `session-snapshots-${run}`;
    const own = `session-1-own-${run}`;
    const linked = `session-1-linked-${run}`;
    await adapter.appendToStream(
      foreign,
      [{ type: 'Snapshot', data: { any: 'thing' }, metadata: {} }],
      'no_stream',
    );
    await adapter.appendToStream(own, [event('SessionCreated', 0), event('SessionClosed', 1)], 'no_stream');
    // A link event, which may be appended to any stream; and a `$streamDeleted` appended as an event (at revision
    // 1, not a tombstone's 2⁶³−1): the stream is not deleted.
    await adapter.appendToStream(
      linked,
      [
        { type: '$>', data: {}, metadata: {} },
        { type: '$streamDeleted', data: {}, metadata: {} },
      ],
      'no_stream',
    );
    // A stream that is no session stream, tombstoned: its `$streamDeleted` is none of the engine's.
    await adapter.tombstoneStream(foreign);
    const prefixes = [foreign, own, linked];
    const store = new SessionEventStore(adapter);
    const name = (r: { streamName: string; kind?: string; revision?: bigint }) =>
      `${r.streamName}:${r.kind === 'tombstone' ? '$streamDeleted' : String(r.revision)}`;
    const read: string[] = [];
    for await (const recorded of store.readAll({ prefixes })) read.push(name(recorded));
    expect(read).toEqual([`${own}:0`, `${own}:1`]);

    const subscription = store.subscribeToSessionEvents({ prefixes });
    const handed: string[] = [];
    subscription.onCaughtUp(() => void subscription.close());
    for await (const page of subscription.batches(100)) handed.push(...page.map(name));
    expect(handed).toEqual([`${own}:0`, `${own}:1`]);
  });

  it("hands on a session stream's tombstone after its events, in log order, in every way it reads", async () => {
    const run = randomUUID();
    const erased = `session-1-erased-${run}`;
    const kept = `session-1-kept-${run}`;
    await adapter.appendToStream(
      erased,
      [event('SessionCreated', 0), event('SessionClosed', 1)],
      'no_stream',
    );
    await adapter.tombstoneStream(erased);
    await adapter.appendToStream(kept, [event('SessionCreated', 0)], 'no_stream');
    const prefixes = [erased, kept];
    const store = new SessionEventStore(adapter);
    const name = (r: { streamName: string; kind?: string; revision?: bigint; position?: bigint }) =>
      `${r.streamName}:${r.kind === 'tombstone' ? '$streamDeleted' : String(r.revision)}`;
    const expected = [`${erased}:0`, `${erased}:1`, `${erased}:$streamDeleted`, `${kept}:0`];

    const read: { name: string; position?: bigint }[] = [];
    for await (const recorded of store.readAll({ prefixes }))
      read.push({ name: name(recorded), position: recorded.position });
    expect(read.map((r) => r.name)).toEqual(expected);
    // In log order, each with its commit position.
    const positions = read.map((r) => r.position!);
    expect([...positions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(positions);

    const batched = store.subscribeToSessionEvents({ prefixes });
    const handed: string[] = [];
    batched.onCaughtUp(() => void batched.close());
    for await (const page of batched.batches(100)) handed.push(...page.map(name));
    expect(handed).toEqual(expected);

    const single = store.subscribeToSessionEvents({ prefixes });
    const one: string[] = [];
    for await (const recorded of single) {
      one.push(name(recorded));
      if (one.length === expected.length) break;
    }
    await single.close();
    expect(one).toEqual(expected);

    // The adapter's other readers (erase, export, the API) still pass it by.
    const plain: string[] = [];
    for await (const stored of adapter.readAll({ prefixes }))
      plain.push(`${stored.streamName}:${stored.type}`);
    expect(plain).not.toContain(`${erased}:$streamDeleted`);
    const plainPages: string[] = [];
    for await (const page of adapter.readAllBatches({ prefixes }))
      plainPages.push(...page.map((stored) => stored.type));
    expect(plainPages).not.toContain('$streamDeleted');
  });
});
