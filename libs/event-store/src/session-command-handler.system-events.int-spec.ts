/**
 * A system event (its type starts with `$`) written into a session stream by some other tool, against the embedded
 * server. The API's reads pass it by as the projector, `replay verify` and `replay log` do (`isSessionEvent`):
 * never folded, never 500 `UNREADABLE_EVENT`. The session's revision (its ETag) stays the stream's: after such an
 * event at the end of the stream it is that event's revision, which the next append expects. A keyed retry is
 * answered from the stream as before, also across such an event, and a no-op's record naming its revision.
 */
import type { EsdbClientAdapter } from './esdb-client.adapter';
import { suiteEventStore } from './testing/suite-event-store';
import { PreconditionFailedError } from './errors';
import { sessionIdFor } from './ids';
import { sessionStreamName } from './serialization';
import { SessionCommandHandler, type CommandResult, type UntimedCommand } from './session-command-handler';

let store: EsdbClientAdapter;
let counter = 0;
suiteEventStore((connected) => (store = connected));

const newId = (label: string) => `system-event-${label}-${Date.now()}-${++counter}`;
const stream = (id: string) => sessionStreamName(1, id);
/** Separate handlers stand for separate processes (or a restart): no shared cache. */
const newProcess = () => new SessionCommandHandler(store);

function options(extra: { token?: string; expectedRevision?: bigint | null } = {}) {
  return {
    metadata: {
      commandId: `cmd-${++counter}`,
      correlationId: 'r',
      actor: 'key-test',
      ...(extra.token !== undefined
        ? { idempotencyToken: extra.token, requestHash: `hash-${extra.token}` }
        : {}),
    },
    ...(extra.expectedRevision !== undefined ? { expectedRevision: extra.expectedRevision } : {}),
  };
}

/** Creates the session with one line, `first`; `patch` {} on it is an update that changes nothing. */
function create(
  integrationId: string,
  patch: Record<string, unknown> = { cartItems: [{ sku: 'first', quantity: 1, price: 1 }] },
): UntimedCommand {
  return {
    type: 'UpdateSession',
    applicationId: 1,
    integrationId,
    commandId: `cmd-${++counter}`,
    sessionId: sessionIdFor(stream(integrationId)),
    patch,
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

/** Another tool's system event, appended at the stream's end; its revision. */
async function appendSystemEvent(id: string): Promise<bigint> {
  const outcome = await store.appendToStream(
    stream(id),
    [{ type: '$prober-note', data: { note: 'not a session event' }, metadata: {} }],
    'any',
  );
  return outcome.nextRevision;
}

const skus = (result: { state: CommandResult['state'] }) => result.state?.cartItems.map((item) => item.sku);

describe('a system event at the end of a session stream', () => {
  it('is passed by on a fresh read: the session as folded without it, at its revision (the ETag)', async () => {
    const id = newId('read');
    await newProcess().handle(create(id), options());
    expect(await appendSystemEvent(id)).toBe(1n);

    const loaded = await newProcess().loadSession(1, id);

    expect(loaded.revision).toBe(1n);
    expect(skus(loaded)).toEqual(['first']);
  });

  it('lets the next command append after it, with If-Match its revision, in a fresh process', async () => {
    const id = newId('if-match');
    await newProcess().handle(create(id), options());
    await appendSystemEvent(id);

    const added = await newProcess().handle(add(id, 'second'), options({ expectedRevision: 1n }));

    expect(added.appended).toBe(true);
    expect(added.revision).toBe(2n);
    expect(skus(added)).toEqual(['first', 'second']);
  });

  it('moves the session on for a process that cached it before: re-read, appended after it; If-Match the old revision is 412', async () => {
    const id = newId('cached');
    const handler = newProcess();
    await handler.handle(create(id), options());
    await appendSystemEvent(id);

    const stale = await handler
      .handle(add(id, 'stale'), options({ expectedRevision: 0n }))
      .catch((error: unknown) => error);
    expect(stale).toBeInstanceOf(PreconditionFailedError);

    const added = await handler.handle(add(id, 'second'), options());
    expect(added.revision).toBe(2n);
    expect((await handler.loadSession(1, id)).revision).toBe(2n);
    expect(skus(await newProcess().loadSession(1, id))).toEqual(['first', 'second']);
  });

  it('leaves a stream holding nothing else without a session, which a create then starts after it', async () => {
    const id = newId('only');
    expect(await appendSystemEvent(id)).toBe(0n);

    expect(await newProcess().loadSession(1, id)).toEqual({ state: null, revision: 0n });
    const created = await newProcess().handle(create(id), options());

    expect(created.revision).toBe(1n);
    expect(skus(created)).toEqual(['first']);
  });
});

describe('a keyed retry across a system event', () => {
  it('is answered from the stream as the first run was, and appends nothing', async () => {
    const id = newId('keyed');
    const first = newProcess();
    await first.handle(create(id), options());
    await appendSystemEvent(id); // revision 1: before the keyed command, folded past on the replay
    const keyed = await first.handle(add(id, 'keyed'), options({ token: 'tok-a' }));
    expect(keyed.revision).toBe(2n);
    await appendSystemEvent(id); // revision 3: after it

    const again = await newProcess().handle(add(id, 'keyed'), options({ token: 'tok-a' }));

    expect(again.replayed).toEqual({ requestHash: 'hash-tok-a' });
    expect(again.appended).toBe(false);
    expect(again.revision).toBe(2n);
    expect(again.state).toEqual(keyed.state);
    expect(again.events).toEqual(keyed.events);
    expect((await store.readStream(stream(id))).length).toBe(4);
  });

  it("rebuilds a no-op's record that names a system event's revision as the session at it", async () => {
    const id = newId('no-op');
    const created = await newProcess().handle(create(id), options());
    await appendSystemEvent(id);
    // The no-op is answered at revision 1, the system event's.
    const noOp = await newProcess().handle(create(id, {}), options({ token: 'tok-b' }));
    expect(noOp.appended).toBe(false);
    expect(noOp.revision).toBe(1n);
    await newProcess().handle(add(id, 'later'), options());

    const rebuilt = await newProcess().resultAt(
      1,
      id,
      { firstRevision: 2n, revision: 1n, requestHash: 'hash-tok-b' },
      'UpdateSession',
    );

    expect(rebuilt.revision).toBe(1n);
    expect(rebuilt.state).toEqual(created.state);
    expect(rebuilt.events).toEqual([]);
  });
});
