/**
 * A precondition on a session that does not exist (RFC 9110 §13.2.1: a server ignores the preconditions when
 * the response without them would be neither 2xx nor 412). Every command but UpdateSession needs the session,
 * so its answer is the domain's 404 whatever `expectedRevision` says; UpdateSession creates a missing session,
 * and its preconditions keep their meaning there (`If-Match` 412, `If-None-Match: *` creates).
 */
import { DomainError } from '@session-engine/session-domain';
import type { EsdbClientAdapter } from './esdb-client.adapter';
import { suiteEventStore } from './testing/suite-event-store';
import { PreconditionFailedError } from './errors';
import { sessionIdFor } from './ids';
import { sessionStreamName } from './serialization';
import { SessionCommandHandler, type UntimedCommand } from './session-command-handler';

let store: EsdbClientAdapter;
let counter = 0;
suiteEventStore((connected) => (store = connected));

const metadata = { commandId: 'c', correlationId: 'r', actor: 'key-test' };
const newId = (label: string) => `missing-${label}-${Date.now()}-${++counter}`;
const base = (integrationId: string) => ({
  applicationId: 1,
  integrationId,
  commandId: `cmd-${++counter}`,
});

/** Every command that needs an existing session. */
const needingTheSession = (integrationId: string): UntimedCommand[] => [
  { ...base(integrationId), type: 'AddCartItems', cartItems: [{ sku: 'a', quantity: 1 }] },
  { ...base(integrationId), type: 'CloseSession' },
  { ...base(integrationId), type: 'CancelSession' },
  { ...base(integrationId), type: 'ReopenSession' },
  { ...base(integrationId), type: 'ReturnItems', returnId: 7, returnedCartItems: [{ position: 0 }] },
];

const update = (integrationId: string): UntimedCommand => ({
  ...base(integrationId),
  type: 'UpdateSession',
  sessionId: sessionIdFor(sessionStreamName(1, integrationId)),
  patch: { profileId: '' },
});

/** What `promise` was rejected with: the domain's code, or the error's class name. */
async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return error instanceof DomainError ? error.code : (error as Error).constructor.name;
  }
  return 'accepted';
}

describe('a precondition on a session that does not exist', () => {
  it('is not evaluated for a command that needs the session: SESSION_NOT_FOUND, dry or not, nothing appended', async () => {
    const handler = new SessionCommandHandler(store);
    const id = newId('needs');
    const outcomes: string[] = [];
    for (const command of needingTheSession(id)) {
      for (const expectedRevision of [0n, 5n, null]) {
        for (const dry of [false, true]) {
          outcomes.push(
            `${command.type} ${expectedRevision} ${dry}: ${await refusal(
              handler.handle(command, { metadata, expectedRevision, dry }),
            )}`,
          );
        }
      }
    }
    expect(outcomes.filter((outcome) => !outcome.endsWith(': SESSION_NOT_FOUND'))).toEqual([]);
    expect(outcomes).toHaveLength(30);
    expect(await store.readStream(sessionStreamName(1, id))).toEqual([]);
  });

  it('keeps its meaning for UpdateSession, which creates a missing session', async () => {
    const handler = new SessionCommandHandler(store);
    const id = newId('update');
    expect(await refusal(handler.handle(update(id), { metadata, expectedRevision: 0n }))).toBe(
      PreconditionFailedError.name,
    );
    expect(await refusal(handler.handle(update(id), { metadata, expectedRevision: 0n, dry: true }))).toBe(
      PreconditionFailedError.name,
    );
    expect(await store.readStream(sessionStreamName(1, id))).toEqual([]);
    const created = await handler.handle(update(id), { metadata, expectedRevision: null });
    expect(created.revision).toBe(0n);
  });

  it('is still evaluated once the session exists: a stale revision is 412', async () => {
    const handler = new SessionCommandHandler(store);
    const id = newId('exists');
    await handler.handle(update(id), { metadata });
    const [add] = needingTheSession(id);
    expect(await refusal(handler.handle(add!, { metadata, expectedRevision: 3n }))).toBe(
      PreconditionFailedError.name,
    );
    // A process that has not cached the session reads it first, and answers the same.
    expect(
      await refusal(new SessionCommandHandler(store).handle(add!, { metadata, expectedRevision: 3n })),
    ).toBe(PreconditionFailedError.name);
    expect(await store.readStream(sessionStreamName(1, id))).toHaveLength(1);
  });
});
