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
 */
import type { SessionCommand } from '@session-engine/session-domain';
import { startHangingRelay, type HangingRelay } from '@session-engine/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedEventStore, type EmbeddedEventStore } from '../../../apps/eventstore-embedded/src';
import { EsdbClientAdapter, EventStoreTimeoutError } from './esdb-client.adapter';
import { sessionIdFor } from './ids';
import { sessionStreamName } from './serialization';
import { SessionCommandHandler } from './session-command-handler';

jest.setTimeout(60_000);

const DEADLINE_MS = 300;

let dataDir: string;
let server: EmbeddedEventStore;
let relay: HangingRelay;
/** Process A's connection, through the relay, with the deadline; and B's, direct. */
let viaRelay: EsdbClientAdapter;
let direct: EsdbClientAdapter;
let counter = 0;

const metadata = { commandId: 'c', correlationId: 'r', actor: 'key-test' };
const newId = (label: string) => `${label}-${Date.now()}-${++counter}`;
const keyed = (token: string) => ({
  metadata: { ...metadata, commandId: `cmd-${++counter}`, idempotencyToken: token, requestHash: 'hash-1' },
});
const unkeyed = () => ({ metadata: { ...metadata, commandId: `cmd-${++counter}` } });

function create(integrationId: string): SessionCommand {
  return {
    type: 'UpdateSession',
    applicationId: 1,
    integrationId,
    now: new Date().toISOString(),
    commandId: `cmd-${++counter}`,
    sessionId: sessionIdFor(sessionStreamName(1, integrationId)),
    patch: { cartItems: [{ sku: 'first', quantity: 1, price: 2 }] },
  };
}

function addItem(integrationId: string): SessionCommand {
  return {
    type: 'AddCartItems',
    applicationId: 1,
    integrationId,
    now: new Date().toISOString(),
    commandId: `cmd-${++counter}`,
    cartItems: [{ sku: 'added', quantity: 1, price: 1.5 }],
  };
}

/** The event types of the session's stream, read directly. */
async function eventTypes(integrationId: string): Promise<string[]> {
  return (await direct.readStream(sessionStreamName(1, integrationId))).map((stored) => stored.type);
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
  viaRelay = EsdbClientAdapter.connect(`esdb://127.0.0.1:${relay.port}?tls=false`).withCallTimeout(
    DEADLINE_MS,
  );
  direct = EsdbClientAdapter.connect(server.connectionString);
});

afterEach(() => relay.resume());

afterAll(async () => {
  relay.resume();
  await viaRelay.close();
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
