/**
 * A keyed command (`Idempotency-Key`) answered again from a session stream an operator soft-deleted, against the
 * embedded server (deletes through the adapter's `deleteStream`, as an operator's tools make them). A soft delete
 * hides the stream's events, and a session created anew afterwards continues its revisions: the stream then
 * starts at the first new revision, not at 0. A replay — from the token in the stream, or from a record that
 * names the command's revisions (`resultAt`; a no-op's names the session revision it answered with) — folds the
 * stream as it is now up to the command's last event (the no-op's revision) and no further; when the stream no longer holds the command's events it is `AppliedCommandDeletedError` (404
 * `SESSION_NOT_FOUND` in the API), never a later state and never a session of `null`.
 */
import { DomainError } from '@session-engine/session-domain';
import { EsdbClientAdapter, type ReadStreamOptions } from './esdb-client.adapter';
import { suiteEventStore } from './testing/suite-event-store';
import { AppliedCommandDeletedError } from './errors';
import { sessionIdFor } from './ids';
import { sessionStreamName } from './serialization';
import { SessionCommandHandler, type CommandResult, type UntimedCommand } from './session-command-handler';

let store: EsdbClientAdapter;
let counter = 0;
suiteEventStore((connected) => (store = connected));

afterEach(() => jest.restoreAllMocks());

const newId = (label: string) => `soft-replay-${label}-${Date.now()}-${++counter}`;
const stream = (id: string) => sessionStreamName(1, id);
/** Separate handlers stand for separate processes (or a restart): no shared cache. */
const newProcess = () => new SessionCommandHandler(store);

function options(token?: string) {
  return {
    metadata: {
      commandId: `cmd-${++counter}`,
      correlationId: 'r',
      actor: 'key-test',
      ...(token !== undefined ? { idempotencyToken: token, requestHash: `hash-${token}` } : {}),
    },
  };
}

function create(integrationId: string): UntimedCommand {
  return {
    type: 'UpdateSession',
    applicationId: 1,
    integrationId,
    commandId: `cmd-${++counter}`,
    sessionId: sessionIdFor(stream(integrationId)),
    patch: { cartItems: [{ sku: 'first', quantity: 1, price: 1 }] },
  };
}

function add(integrationId: string, sku: string): UntimedCommand {
  return {
    type: 'AddCartItems',
    applicationId: 1,
    integrationId,
    commandId: `cmd-${++counter}`,
    cartItems: [{ sku, quantity: 1, price: 1 }],
  };
}

const skus = (result: CommandResult) => result.state?.cartItems.map((item) => item.sku);

/** How a call ended: its result, or its error. */
async function outcome(call: Promise<unknown>): Promise<unknown> {
  return call.catch((error: unknown) => error);
}

/**
 * Revisions 0-2 written, soft-deleted, created anew at 3, then the keyed command (token `token`) at 4 and two
 * more commands at 5 and 6. Returns the keyed command's first answer.
 */
async function recreatedWithKeyedCommand(id: string, token: string): Promise<CommandResult> {
  const before = newProcess();
  await before.handle(create(id), options());
  await before.handle(add(id, 'old-1'), options());
  await before.handle(add(id, 'old-2'), options());
  await store.deleteStream(stream(id));
  const after = newProcess();
  expect((await after.handle(create(id), options())).revision).toBe(3n);
  const keyed = await after.handle(add(id, 'keyed'), options(token));
  expect(keyed.revision).toBe(4n);
  await after.handle(add(id, 'later-1'), options());
  await after.handle(add(id, 'later-2'), options());
  return keyed;
}

describe('a keyed command of a session soft-deleted and created anew (its stream starts at revision 3)', () => {
  it('is replayed by another process as the session right after it (revision 4), not as it is now', async () => {
    const id = newId('token');
    const first = await recreatedWithKeyedCommand(id, 'tok-a');

    const again = await newProcess().handle(add(id, 'keyed'), options('tok-a'));

    expect(again.replayed).toEqual({ requestHash: 'hash-tok-a' });
    expect(again.appended).toBe(false);
    expect(again.revision).toBe(4n);
    expect(again.position).toBe(first.position);
    expect(skus(again)).toEqual(['first', 'keyed']);
    expect(again.state).toEqual(first.state);
    expect(again.events).toEqual(first.events);
    expect((await store.readStream(stream(id))).map((stored) => stored.revision)).toEqual([3n, 4n, 5n, 6n]);
  });

  it('is rebuilt from its record (revisions 4..4, the body too large to keep) as the session right after it', async () => {
    const id = newId('record');
    const first = await recreatedWithKeyedCommand(id, 'tok-b');

    const rebuilt = await newProcess().resultAt(
      1,
      id,
      { firstRevision: 4n, revision: 4n, position: first.position, requestHash: 'hash-tok-b' },
      'AddCartItems',
    );

    expect(rebuilt.revision).toBe(4n);
    expect(rebuilt.state).toEqual(first.state);
    expect(rebuilt.events).toEqual(first.events);
  });

  it('answers a record of a command before the delete (revision 1) AppliedCommandDeletedError: SESSION_NOT_FOUND, not the new session', async () => {
    const id = newId('old-record');
    await recreatedWithKeyedCommand(id, 'tok-c');

    const error = await outcome(
      newProcess().resultAt(
        1,
        id,
        { firstRevision: 1n, revision: 1n, requestHash: 'hash-old' },
        'AddCartItems',
      ),
    );

    expect(error).toBeInstanceOf(AppliedCommandDeletedError);
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ code: 'SESSION_NOT_FOUND', category: 'not_found', recreated: true });
    expect((error as Error).message).toContain(JSON.stringify(id));
  });
});

describe('a keyed no-op whose record names the session revision it answered with (no events of its own)', () => {
  it('is rebuilt as the session at that revision (revisions 5..4: none), not as it is now', async () => {
    const id = newId('no-op');
    const first = await recreatedWithKeyedCommand(id, 'tok-e');
    // The session moves on after the no-op was answered at revision 4.
    expect((await newProcess().handle(add(id, 'later-3'), options())).revision).toBe(7n);

    const rebuilt = await newProcess().resultAt(
      1,
      id,
      { firstRevision: 5n, revision: 4n, requestHash: 'hash-no-op' },
      'AddCartItems',
    );

    expect(rebuilt.revision).toBe(4n);
    expect(rebuilt.state).toEqual(first.state);
    expect(rebuilt.events).toEqual([]);
    expect(rebuilt.position).toBeUndefined();
  });

  it('answers one decided before the delete AppliedCommandDeletedError (recreated), not the new session', async () => {
    const id = newId('old-no-op');
    await recreatedWithKeyedCommand(id, 'tok-f');

    const error = await outcome(
      newProcess().resultAt(
        1,
        id,
        { firstRevision: 3n, revision: 2n, requestHash: 'hash-old' },
        'AddCartItems',
      ),
    );

    expect(error).toBeInstanceOf(AppliedCommandDeletedError);
    expect(error).toMatchObject({ code: 'SESSION_NOT_FOUND', recreated: true });
  });

  it('answers one of a session soft-deleted since AppliedCommandDeletedError, not a session of null', async () => {
    const id = newId('gone-no-op');
    const handler = newProcess();
    await handler.handle(create(id), options());
    await store.deleteStream(stream(id));

    const error = await outcome(
      newProcess().resultAt(
        1,
        id,
        { firstRevision: 1n, revision: 0n, requestHash: 'hash-gone' },
        'AddCartItems',
      ),
    );

    expect(error).toBeInstanceOf(AppliedCommandDeletedError);
    expect(error).toMatchObject({ code: 'SESSION_NOT_FOUND', recreated: false });
  });
});

describe('a keyed command of a session soft-deleted and not created anew', () => {
  it('answers its record (no body kept) AppliedCommandDeletedError: SESSION_NOT_FOUND, not a session of null', async () => {
    const id = newId('gone-record');
    const handler = newProcess();
    await handler.handle(create(id), options());
    const keyed = await handler.handle(add(id, 'keyed'), options('tok-d'));
    await store.deleteStream(stream(id));

    const error = await outcome(
      newProcess().resultAt(
        1,
        id,
        { firstRevision: 1n, revision: 1n, position: keyed.position, requestHash: 'hash-tok-d' },
        'AddCartItems',
      ),
    );

    expect(error).toBeInstanceOf(AppliedCommandDeletedError);
    expect(error).toMatchObject({ code: 'SESSION_NOT_FOUND', recreated: false });
  });

  it('found on a state cached before the delete, is answered from a fresh read: no session, 404 (nothing appended)', async () => {
    const id = newId('gone-cached');
    const handler = newProcess();
    await handler.handle(create(id), options());
    await handler.handle(add(id, 'keyed'), options('tok-e'));
    await store.deleteStream(stream(id));

    const error = await outcome(handler.handle(add(id, 'keyed'), options('tok-e')));

    // What a process without the cache answers: the session does not exist.
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ code: 'SESSION_NOT_FOUND' });
    expect(await store.readStream(stream(id))).toEqual([]);
    expect(await outcome(newProcess().handle(add(id, 'keyed'), options('tok-e')))).toMatchObject({
      code: 'SESSION_NOT_FOUND',
    });
  });

  it('a keyed create found on a state cached before the delete creates the session anew, as a fresh process does', async () => {
    const id = newId('create-cached');
    const handler = newProcess();
    expect((await handler.handle(create(id), options('tok-f'))).revision).toBe(0n);
    await store.deleteStream(stream(id));

    const again = await handler.handle(create(id), options('tok-f'));

    expect(again.replayed).toBeUndefined();
    expect(again.appended).toBe(true);
    expect(again.revision).toBe(1n);
    expect(skus(again)).toEqual(['first']);
    expect((await store.readStream(stream(id))).map((stored) => stored.revision)).toEqual([1n]);
  });
});

describe('a keyed command found on a state cached before the delete, the session created anew since', () => {
  it('is replayed from the new session when that holds the command (another process applied the retry)', async () => {
    const id = newId('moved');
    const cached = newProcess();
    await cached.handle(create(id), options('tok-g')); // revision 0, cached with its token
    await cached.handle(add(id, 'old'), options()); // revision 1
    await store.deleteStream(stream(id));
    // The retry reached another process first: no session there, so the create is applied anew (revision 2).
    const moved = await newProcess().handle(create(id), options('tok-g'));
    expect(moved.revision).toBe(2n);

    const again = await cached.handle(create(id), options('tok-g'));

    expect(again.replayed).toEqual({ requestHash: 'hash-tok-g' });
    expect(again.revision).toBe(2n);
    expect(again.position).toBe(moved.position);
    expect(again.state).toEqual(moved.state);
    expect(again.events).toEqual(moved.events);
    expect((await store.readStream(stream(id))).map((stored) => stored.revision)).toEqual([2n]);
  });
});

describe('a session soft-deleted while a keyed retry is answered (after the fresh read that found it)', () => {
  it('is AppliedCommandDeletedError: SESSION_NOT_FOUND, not a session of null', async () => {
    const id = newId('race');
    const first = newProcess();
    await first.handle(create(id), options());
    await first.handle(add(id, 'keyed'), options('tok-h'));
    // The replay's read (the only one asking for a count) comes after the delete.
    const readStream = store.readStream.bind(store);
    jest.spyOn(store, 'readStream').mockImplementation(async (name: string, read?: ReadStreamOptions) => {
      if (name === stream(id) && read?.maxCount !== undefined) await store.deleteStream(name);
      return readStream(name, read);
    });

    const error = await outcome(newProcess().handle(add(id, 'keyed'), options('tok-h')));

    expect(error).toBeInstanceOf(AppliedCommandDeletedError);
    expect(error).toMatchObject({ code: 'SESSION_NOT_FOUND', recreated: false });
  });
});
