/**
 * A create that claims its profile, when the claim's append — the write to the profile stream, made before the
 * session append — gets no answer within the call deadline, or loses its connection: the command fails as a
 * claim write (`ClaimWriteTimeoutError` / `ClaimWriteInterruptedError`, which the API answers "not applied"),
 * having sent no session append. A retry is then applied once, and the session is the profile's first, whether
 * the held-back claim reached the store late (the retry takes it as its own) or never.
 *
 * The handler reaches the store through a relay that can hang or cut its connections (`startHangingRelay`),
 * set up before the deadline applies (the first call of a connection can take longer than this suite's
 * deadline on a loaded machine); the stores are read back directly.
 */
import type { SessionCommand } from '@session-engine/session-domain';
import { startHangingRelay, type HangingRelay } from '@session-engine/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedEventStore, type EmbeddedEventStore } from '../../../apps/eventstore-embedded/src';
import {
  EsdbClientAdapter,
  EventStoreTimeoutError,
  EventStoreWriteInterruptedError,
  type EventToAppend,
  type ExpectedRevision,
} from './esdb-client.adapter';
import { sessionIdFor } from './ids';
import { profileStreamName, sessionStreamName } from './serialization';
import {
  ClaimWriteInterruptedError,
  ClaimWriteTimeoutError,
  SessionCommandHandler,
} from './session-command-handler';

jest.setTimeout(60_000);

const DEADLINE_MS = 300;

let dataDir: string;
let server: EmbeddedEventStore;
let relay: HangingRelay;
let relayConnection: EsdbClientAdapter;
let viaRelay: EsdbClientAdapter;
let direct: EsdbClientAdapter;
let counter = 0;

const metadata = { commandId: 'c', correlationId: 'r', actor: 'key-test' };
const newId = (label: string) => `${label}-${Date.now()}-${++counter}`;
const keyed = (token: string) => ({
  metadata: { ...metadata, commandId: `cmd-${++counter}`, idempotencyToken: token, requestHash: 'hash-1' },
});
const unkeyed = () => ({ metadata: { ...metadata, commandId: `cmd-${++counter}` } });

function create(integrationId: string, profileId: string): SessionCommand {
  return {
    type: 'UpdateSession',
    applicationId: 1,
    integrationId,
    now: new Date().toISOString(),
    commandId: `cmd-${++counter}`,
    sessionId: sessionIdFor(sessionStreamName(1, integrationId)),
    patch: { profileId, cartItems: [{ sku: 'first', quantity: 1, price: 2 }] },
  };
}

const readDirect = async (stream: string) => (await direct.readStream(stream)).map((stored) => stored.type);

async function eventually(check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Runs `onProfileAppend` as the handler's first append to a profile stream leaves (the claim), and records the
 * stream of every append it sends.
 */
function atClaimAppend(onProfileAppend: () => void): string[] {
  const streams: string[] = [];
  const append = viaRelay.appendToStream.bind(viaRelay);
  let done = false;
  jest
    .spyOn(viaRelay, 'appendToStream')
    .mockImplementation((stream: string, events: EventToAppend[], expected: ExpectedRevision) => {
      streams.push(stream);
      if (!done && stream.startsWith('profile-')) {
        done = true;
        relay.hang();
        const sent = append(stream, events, expected);
        onProfileAppend();
        return sent;
      }
      return append(stream, events, expected);
    });
  return streams;
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'claim-write-int-'));
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

describe('a create whose profile claim append gets no answer within the deadline', () => {
  it.each([
    ['with an Idempotency-Key', () => keyed('token-claim-hung')],
    ['without one', unkeyed],
  ])(
    '%s: fails as ClaimWriteTimeoutError with no session append sent; a retry after the late claim is applied once, as the first session',
    async (_what, options) => {
      const id = newId('claim-hung');
      const profileId = newId('profile');
      const handler = new SessionCommandHandler(viaRelay);
      const appends = atClaimAppend(() => undefined);

      const error = await handler.handle(create(id, profileId), options()).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ClaimWriteTimeoutError);
      // Still a timeout: the commands queued behind it give up at once, the API answers 503.
      expect(error).toBeInstanceOf(EventStoreTimeoutError);
      expect(error).toMatchObject({
        operation: 'append',
        streamName: profileStreamName(1, profileId),
        timeoutMs: DEADLINE_MS,
      });
      expect(appends).toEqual([profileStreamName(1, profileId)]);

      relay.resume();
      // The held-back claim reaches the store late; the session append was never sent.
      await eventually(async () => (await readDirect(profileStreamName(1, profileId))).length === 1);
      expect(await readDirect(sessionStreamName(1, id))).toEqual([]);

      const retried = await handler.handle(create(id, profileId), options());
      expect(retried).toMatchObject({ appended: true, revision: 0n });
      expect(retried.state!.firstSession).toBe(true);
      expect(await readDirect(sessionStreamName(1, id))).toEqual(['SessionCreated']);
      expect(await readDirect(profileStreamName(1, profileId))).toHaveLength(1);
    },
  );
});

describe('a create whose profile claim append loses its connection', () => {
  it('fails as ClaimWriteInterruptedError with no session append sent; a retry is applied once, as the first session', async () => {
    const id = newId('claim-cut');
    const profileId = newId('profile');
    const handler = new SessionCommandHandler(viaRelay);
    // Cut while the claim is held back in the relay: it never reaches the store.
    const appends = atClaimAppend(() =>
      setTimeout(() => {
        relay.drop();
        relay.resume();
      }, 50),
    );

    const error = await handler.handle(create(id, profileId), unkeyed()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClaimWriteInterruptedError);
    expect(error).toBeInstanceOf(EventStoreWriteInterruptedError);
    expect(error).toMatchObject({ operation: 'append', streamName: profileStreamName(1, profileId) });
    expect(appends).toEqual([profileStreamName(1, profileId)]);

    const retried = await handler.handle(create(id, profileId), unkeyed());
    expect(retried).toMatchObject({ appended: true, revision: 0n });
    expect(retried.state!.firstSession).toBe(true);
    expect(await readDirect(sessionStreamName(1, id))).toEqual(['SessionCreated']);
  });
});
