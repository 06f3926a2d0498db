/**
 * A command whose append timed out (`withCallTimeout`) while the store hung, and which the store applies when it
 * resumes: what a retry does. Process A reaches the store through a relay that can hang (`startHangingRelay`),
 * process B — another API replica — directly. The embedded server ignores the deadline the client sends with an
 * append, so the held-back append is applied late, as by a store that was stopped and resumes.
 *
 * - With an `Idempotency-Key` (the events' `idempotencyToken`) the command is applied exactly once, whichever
 *   reaches the store first: the late append (the retry finds the token in the stream and replays it) or the
 *   retry (the late append expected the revision the retry moved past, and is refused).
 * - Without one, a retry after the late append applies a non-idempotent command twice (documented).
 *
 * And the commands queued behind one that hangs, on the session's lock or on its shared read: they give up
 * when the one ahead times out, without sending anything, so no request waits more than about one deadline
 * for those ahead of it.
 *
 * A's connection is set up (and the server asked what it supports) before the deadline applies: on a loaded
 * machine that first call alone can take longer than this suite's deadline.
 */
import { startHangingRelay, type HangingRelay } from '@session-engine/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedEventStore, type EmbeddedEventStore } from '../../../apps/eventstore-embedded/src';
import { EsdbClientAdapter, EventStoreTimeoutError } from './esdb-client.adapter';
import { sessionIdFor } from './ids';
import { LockWaitError } from './keyed-mutex';
import { sessionStreamName } from './serialization';
import { SessionCommandHandler, type UntimedCommand } from './session-command-handler';

jest.setTimeout(60_000);

const DEADLINE_MS = 300;

let dataDir: string;
let server: EmbeddedEventStore;
let relay: HangingRelay;
/** Process A's connection, through the relay: without a deadline (set up in `beforeAll`), and with it. */
let relayConnection: EsdbClientAdapter;
let viaRelay: EsdbClientAdapter;
/** B's connection, direct. */
let direct: EsdbClientAdapter;
let counter = 0;

const metadata = { commandId: 'c', correlationId: 'r', actor: 'key-test' };
const newId = (label: string) => `${label}-${Date.now()}-${++counter}`;
const keyed = (token: string) => ({
  metadata: { ...metadata, commandId: `cmd-${++counter}`, idempotencyToken: token, requestHash: 'hash-1' },
});
const unkeyed = () => ({ metadata: { ...metadata, commandId: `cmd-${++counter}` } });

function create(integrationId: string): UntimedCommand {
  return {
    type: 'UpdateSession',
    applicationId: 1,
    integrationId,
    commandId: `cmd-${++counter}`,
    sessionId: sessionIdFor(sessionStreamName(1, integrationId)),
    patch: { cartItems: [{ sku: 'first', quantity: 1, price: 2 }] },
  };
}

function addItem(integrationId: string): UntimedCommand {
  return {
    type: 'AddCartItems',
    applicationId: 1,
    integrationId,
    commandId: `cmd-${++counter}`,
    cartItems: [{ sku: 'added', quantity: 1, price: 1.5 }],
  };
}

/** The event types of the session's stream, read directly. */
async function eventTypes(integrationId: string): Promise<string[]> {
  return (await direct.readStream(sessionStreamName(1, integrationId))).map((stored) => stored.type);
}

/** How `promise` settles, and when (ms since the epoch). */
async function settle(promise: Promise<unknown>): Promise<{ error: unknown; at: number }> {
  try {
    await promise;
    return { error: undefined, at: Date.now() };
  } catch (error) {
    return { error, at: Date.now() };
  }
}

async function eventually(check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Process A's AddCartItems on a session it has cached (so the append is its only call), sent while the store
 * hangs: it times out and stays held back in the relay until `relay.resume()`.
 */
async function timedOutAppend(handler: SessionCommandHandler, id: string, options: object): Promise<void> {
  await handler.handle(create(id), unkeyed());
  relay.hang();
  await expect(handler.handle(addItem(id), options as never)).rejects.toBeInstanceOf(EventStoreTimeoutError);
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'late-append-int-'));
  server = await startEmbeddedEventStore({ port: 0, dataDir, silent: true });
  relay = await startHangingRelay(server.port);
  relayConnection = EsdbClientAdapter.connect(`esdb://127.0.0.1:${relay.port}?tls=false`);
  await relayConnection.readStream(newId('warm-up'));
  viaRelay = relayConnection.withCallTimeout(DEADLINE_MS);
  direct = EsdbClientAdapter.connect(server.connectionString);
});

afterEach(() => {
  relay.resume();
  jest.restoreAllMocks();
});

afterAll(async () => {
  relay.resume();
  await relayConnection.close();
  await direct.close();
  await relay.close();
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('an append that timed out and is applied when the store resumes', () => {
  it('with a key, a retry after the late append replays it: applied once', async () => {
    const id = newId('late-first');
    const a = new SessionCommandHandler(viaRelay);
    await timedOutAppend(a, id, keyed('token-late-first'));
    relay.resume();
    await eventually(async () => (await eventTypes(id)).length === 2);

    // The same process (its cache still at the revision before) and another one: both find the command.
    const retried = await a.handle(addItem(id), keyed('token-late-first'));
    expect(retried).toMatchObject({ appended: false, replayed: { requestHash: 'hash-1' }, revision: 1n });
    expect(retried.state!.cartItems.map((item) => item.sku)).toEqual(['first', 'added']);
    const elsewhere = await new SessionCommandHandler(direct).handle(addItem(id), keyed('token-late-first'));
    expect(elsewhere).toMatchObject({ appended: false, revision: 1n });
    expect(await eventTypes(id)).toEqual(['SessionCreated', 'CartItemsAdded']);
  });

  it('with a key, a retry that reaches the store first wins and the late append is refused: applied once', async () => {
    const id = newId('retry-first');
    const a = new SessionCommandHandler(viaRelay);
    await timedOutAppend(a, id, keyed('token-retry-first'));

    // Still hung for A: the retry goes to another replica.
    const retried = await new SessionCommandHandler(direct).handle(addItem(id), keyed('token-retry-first'));
    expect(retried).toMatchObject({ appended: true, revision: 1n });

    relay.resume();
    // An append on A's connection after the held-back one: once it is answered, so is the held-back one.
    await viaRelay.appendToStream(newId('marker'), [{ type: 'Noted', data: {}, metadata: {} }], 'no_stream');
    expect(await eventTypes(id)).toEqual(['SessionCreated', 'CartItemsAdded']);
    // A, retried in its turn, finds the command in the stream.
    expect(await a.handle(addItem(id), keyed('token-retry-first'))).toMatchObject({
      appended: false,
      revision: 1n,
    });
    expect(await eventTypes(id)).toEqual(['SessionCreated', 'CartItemsAdded']);
  });

  it('without a key, a retry after the late append applies AddCartItems a second time', async () => {
    const id = newId('unkeyed');
    const a = new SessionCommandHandler(viaRelay);
    await timedOutAppend(a, id, unkeyed());
    relay.resume();
    await eventually(async () => (await eventTypes(id)).length === 2);

    const retried = await a.handle(addItem(id), unkeyed());
    expect(retried.appended).toBe(true);
    expect(await eventTypes(id)).toEqual(['SessionCreated', 'CartItemsAdded', 'CartItemsAdded']);
  });
});

describe('commands queued behind one that the store does not answer', () => {
  it("given five commands on one session, when the first one's append hangs, then the four behind it give up when it times out, having sent nothing", async () => {
    const id = newId('queued');
    const a = new SessionCommandHandler(viaRelay);
    await a.handle(create(id), unkeyed());
    const appends = jest.spyOn(viaRelay, 'appendToStream');
    relay.hang();

    const first = settle(a.handle(addItem(id), unkeyed()));
    // The four others arrive while the first one's append is on its way.
    await new Promise((resolve) => setTimeout(resolve, DEADLINE_MS / 3));
    const behind = Array.from({ length: 4 }, (_, n) =>
      settle(a.handle(addItem(id), n % 2 ? keyed(`token-q${n}`) : unkeyed())),
    );
    const outcomes = await Promise.all([first, ...behind]);

    expect(outcomes[0]!.error).toBeInstanceOf(EventStoreTimeoutError);
    for (const outcome of outcomes.slice(1)) {
      expect(outcome.error).toBeInstanceOf(LockWaitError);
      expect(outcome.error).toMatchObject({ reason: 'holder-failed', code: 'SERVICE_UNAVAILABLE' });
    }
    // All at the first one's timeout, not one deadline after another.
    const ends = outcomes.map((outcome) => outcome.at);
    expect(Math.max(...ends) - Math.min(...ends)).toBeLessThan(DEADLINE_MS / 2);
    expect(appends).toHaveBeenCalledTimes(1);
    relay.resume();
    // Only the first one's append reached the store; the session serves again.
    await eventually(async () => (await eventTypes(id)).length === 2);
    expect((await a.handle(addItem(id), unkeyed())).revision).toBe(2n);
    expect(await eventTypes(id)).toEqual(['SessionCreated', 'CartItemsAdded', 'CartItemsAdded']);
  });

  it('given a wait bounded by lockWaitMs, when the command ahead holds the session longer, then it gives up after lockWaitMs, having sent nothing', async () => {
    const id = newId('bounded');
    const a = new SessionCommandHandler(viaRelay);
    expect(a.lockWaitMs).toBe(DEADLINE_MS);
    await a.handle(create(id), unkeyed());
    const appends = jest.spyOn(viaRelay, 'appendToStream');
    relay.hang();

    const ahead = settle(a.handle(addItem(id), unkeyed()));
    const started = Date.now();
    const behind = await settle(a.handle(addItem(id), { ...unkeyed(), lockWaitMs: 50 }));

    expect(behind.error).toBeInstanceOf(LockWaitError);
    expect(behind.error).toMatchObject({ reason: 'wait-timeout' });
    expect((behind.error as LockWaitError).waitedMs).toBeGreaterThanOrEqual(45);
    expect(behind.at - started).toBeLessThan(DEADLINE_MS);
    expect((await ahead).error).toBeInstanceOf(EventStoreTimeoutError);
    expect(appends).toHaveBeenCalledTimes(1);
  });

  it('given loads of a session waiting for its read, when that read times out, then they fail with it at once instead of reading again', async () => {
    const id = newId('shared-read');
    await new SessionCommandHandler(direct).handle(create(id), unkeyed());
    const a = new SessionCommandHandler(viaRelay);
    const reads = jest.spyOn(viaRelay, 'readStream');
    relay.hang();

    const [first, second, command] = await Promise.all([
      settle(a.loadSession(1, id)),
      settle(a.loadSession(1, id)),
      // A command on a session A has not cached loads it too, and joins the read queued behind the first.
      settle(a.handle(addItem(id), unkeyed())),
    ]);

    for (const outcome of [first, second, command]) {
      expect(outcome.error).toBeInstanceOf(EventStoreTimeoutError);
      expect(outcome.error).toMatchObject({ operation: 'read' });
    }
    const ends = [first.at, second.at, command.at];
    expect(Math.max(...ends) - Math.min(...ends)).toBeLessThan(DEADLINE_MS / 2);
    expect(reads).toHaveBeenCalledTimes(1);
    relay.resume();
    expect(await a.loadSession(1, id)).toMatchObject({ revision: 0n });
  });
});
