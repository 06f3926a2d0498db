/**
 * A create that claims its profile, when the claim's append — the write to the profile stream, made before the
 * session append — gets no answer within the call deadline, or loses its connection: the command fails as a
 * claim write (`ClaimWriteTimeoutError` / `ClaimWriteInterruptedError`, which the API answers "not applied"),
 * having sent no session append. A retry is then applied once, and the session is the profile's first, whether
 * the held-back claim reached the store late (the retry takes it as its own) or never.
 *
 * The handler reaches the store through a relay that can hang or cut its connections (`startHangingRelay`),
 * set up before the deadline applies (the first call of a connection can take longer than this suite's
 * deadline on a loaded machine); the stores are read back directly. A tap in front of the relay tells when the
 * claim has reached the relay, so that the connection is cut at that point rather than after a guessed delay.
 * The deadline is generous (as in the e2e tests): it applies to every call of the handler and of its retry —
 * reads, and appends with durable commits, which can be slow on a loaded machine — and only the claim the
 * relay holds back is meant to reach it; nothing in these tests has to happen within it by luck.
 */
import { startHangingRelay, type HangingRelay } from '@session-engine/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
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
import { ClaimWriteInterruptedError, ClaimWriteTimeoutError } from './errors';
import { sessionIdFor } from './ids';
import { profileStreamName, sessionStreamName } from './serialization';
import { SessionCommandHandler, type UntimedCommand } from './session-command-handler';

jest.setTimeout(60_000);

const DEADLINE_MS = 2_000;

let dataDir: string;
let server: EmbeddedEventStore;
let relay: HangingRelay;
let tap: Tap;
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

function create(integrationId: string, profileId: string): UntimedCommand {
  return {
    type: 'UpdateSession',
    applicationId: 1,
    integrationId,
    commandId: `cmd-${++counter}`,
    sessionId: sessionIdFor(sessionStreamName(1, integrationId)),
    patch: { profileId, cartItems: [{ sku: 'first', quantity: 1, price: 2 }] },
  };
}

/**
 * Sets up the handler's connection without a deadline: its channel, and what the client fetches before its
 * first append (the server's features) — else that, not the claim, would be what the hung relay holds back.
 */
async function warmUp(): Promise<void> {
  await relayConnection.readStream(newId('warm-up'));
  await relayConnection.appendToStream(newId('warm-up'), [{ type: 'WarmUp', data: {}, metadata: {} }], 'any');
}

const readDirect = async (stream: string) => (await direct.readStream(stream)).map((stored) => stored.type);

async function eventually(check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A plain pass-through to a port that tells when bytes holding a given text have passed towards it. */
interface Tap {
  readonly port: number;
  /** Resolves once bytes holding `text` pass from a client to the target; counts only those sent from now on. */
  passes(text: string): Promise<void>;
  close(): Promise<void>;
}

async function startTap(targetPort: number): Promise<Tap> {
  const sockets = new Set<Socket>();
  const watchers = new Set<(chunk: Buffer) => void>();
  const track = (socket: Socket): Socket => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    return socket;
  };
  const server = createServer((client) => {
    track(client);
    const upstream = track(connect(targetPort, '127.0.0.1'));
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      for (const watch of [...watchers]) watch(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    passes(text) {
      const needle = Buffer.from(text);
      return new Promise((resolve) => {
        // The end of what came before, in case the text is split between chunks.
        let tail = Buffer.alloc(0);
        const watch = (chunk: Buffer) => {
          const seen = Buffer.concat([tail, chunk]);
          if (seen.includes(needle)) {
            watchers.delete(watch);
            resolve();
          }
          tail = seen.subarray(Math.max(0, seen.length - needle.length + 1));
        };
        watchers.add(watch);
      });
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * Hangs the relay as the handler's first append to a profile stream (the claim) leaves, and runs
 * `onProfileAppend` with a promise of the claim's bytes having passed the tap (so they are held in the relay);
 * records the stream of every append the handler sends.
 */
function atClaimAppend(onProfileAppend: (held: Promise<void>) => void): string[] {
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
        // Watched from before the append is sent: the stream's name is in the append's message (no read of the
        // profile stream is in flight now; the claim's reads were answered before it writes).
        const held = tap.passes(stream);
        const sent = append(stream, events, expected);
        onProfileAppend(held);
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
  tap = await startTap(relay.port);
  relayConnection = EsdbClientAdapter.connect(`esdb://127.0.0.1:${tap.port}?tls=false`);
  await warmUp();
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
  await tap.close();
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
      let claimHeld = false;
      const appends = atClaimAppend((held) => void held.then(() => (claimHeld = true)));

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
      // What the relay held back was the claim itself, not a call the client makes before it.
      expect(claimHeld).toBe(true);

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
    // Cut once the claim is held back in the relay (long before the deadline): it never reaches the store.
    const appends = atClaimAppend(
      (held) =>
        void held.then(() => {
          relay.drop();
          relay.resume();
        }),
    );

    const error = await handler.handle(create(id, profileId), unkeyed()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClaimWriteInterruptedError);
    expect(error).toBeInstanceOf(EventStoreWriteInterruptedError);
    expect(error).toMatchObject({ operation: 'append', streamName: profileStreamName(1, profileId) });
    expect(appends).toEqual([profileStreamName(1, profileId)]);
    expect(await readDirect(profileStreamName(1, profileId))).toEqual([]);
    expect(await readDirect(sessionStreamName(1, id))).toEqual([]);

    // The handler's connection is set up again before the deadline applies to it (as in `beforeAll`).
    await warmUp();
    const retried = await handler.handle(create(id, profileId), unkeyed());
    expect(retried).toMatchObject({ appended: true, revision: 0n });
    expect(retried.state!.firstSession).toBe(true);
    expect(await readDirect(sessionStreamName(1, id))).toEqual(['SessionCreated']);
  });
});
