/**
 * The client-side deadline of `withCallTimeout` against a store that hangs — a stopped process, a black-holed
 * network: connections are accepted, nothing answers, nothing fails. A relay (`startHangingRelay`) sits between
 * the adapter and an embedded server of this suite's own (the late append below relies on the embedded server
 * ignoring the deadline the client sends with an append, as a store that resumes after it would). Without the
 * deadline each of these calls waits until the connection's keep-alive gives up, ~20 s.
 *
 * The first call of a new connection also sets the connection up and asks the server what it supports, which
 * takes a few hundred ms on a loaded machine: more than this suite's deadline. So each test connects and sets
 * up what it needs through the adapter without a deadline (`warmThroughRelay`), and bounds only the calls it
 * tests, on the same connection — except the one test of a first call on a new connection, made while hung.
 */
import { startHangingRelay, type HangingRelay } from '@session-engine/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedEventStore, type EmbeddedEventStore } from '../../../apps/eventstore-embedded/src';
import {
  EsdbClientAdapter,
  EventStoreTimeoutError,
  EventStoreUnavailableError,
  type StoredEvent,
} from './esdb-client.adapter';

jest.setTimeout(60_000);

const DEADLINE_MS = 300;
/** Generous: the deadline plus scheduling on a busy CI box; without the deadline these take ~20 s. */
const WITHIN_MS = 5_000;

let dataDir: string;
let server: EmbeddedEventStore;
let relay: HangingRelay;
let direct: EsdbClientAdapter;
const adapters: EsdbClientAdapter[] = [];
let counter = 0;

const newStream = (label: string) => `timeout-${label}-${Date.now()}-${++counter}`;
const event = (n: number) => ({ type: 'Noted', data: { n }, metadata: {} });

/** An adapter to the store through the relay (closed after the suite), not connected yet. */
function throughRelay(): EsdbClientAdapter {
  const adapter = EsdbClientAdapter.connect(`esdb://127.0.0.1:${relay.port}?tls=false`);
  adapters.push(adapter);
  return adapter;
}

/** An adapter through the relay, without a deadline, whose connection is set up (a first read answered). */
async function warmThroughRelay(): Promise<EsdbClientAdapter> {
  const adapter = throughRelay();
  await adapter.readStream(newStream('warm-up'));
  return adapter;
}

/** How `call` ends and how long it took. */
async function settle(call: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = Date.now();
  try {
    await call();
    return { error: undefined, ms: Date.now() - started };
  } catch (error) {
    return { error, ms: Date.now() - started };
  }
}

async function eventually(check: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'call-timeout-int-'));
  server = await startEmbeddedEventStore({ port: 0, dataDir, silent: true });
  relay = await startHangingRelay(server.port);
  direct = EsdbClientAdapter.connect(server.connectionString);
});

afterEach(() => relay.resume());

afterAll(async () => {
  relay.resume();
  for (const adapter of adapters) await adapter.close();
  await direct.close();
  await relay.close();
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('withCallTimeout, the store hung', () => {
  it('a read, an append and a metadata write reject with EventStoreTimeoutError within the deadline', async () => {
    const setup = await warmThroughRelay();
    const stream = newStream('calls');
    await setup.appendToStream(stream, [event(0)], 'no_stream');
    expect(await setup.readStream(stream)).toHaveLength(1);
    const adapter = setup.withCallTimeout(DEADLINE_MS);

    relay.hang();
    const read = await settle(() => adapter.readStream(stream));
    const append = await settle(() => adapter.appendToStream(stream, [event(1)], 0n));
    const metadata = await settle(() => adapter.setStreamMaxAge(stream, 60));

    for (const [outcome, operation] of [
      [read, 'read'],
      [append, 'append'],
      [metadata, 'set-metadata'],
    ] as const) {
      expect(outcome.error).toBeInstanceOf(EventStoreTimeoutError);
      // The API's 503 path: every timeout is also "unavailable".
      expect(outcome.error).toBeInstanceOf(EventStoreUnavailableError);
      expect(outcome.error).toMatchObject({ operation, streamName: stream, timeoutMs: DEADLINE_MS });
      expect(outcome.ms).toBeLessThan(WITHIN_MS);
    }
  });

  it("bounds the operator's deletes (soft and hard) as the other writes: EventStoreTimeoutError within the deadline", async () => {
    const setup = await warmThroughRelay();
    const soft = newStream('soft-delete');
    const hard = newStream('tombstone');
    await setup.appendToStream(soft, [event(0)], 'no_stream');
    await setup.appendToStream(hard, [event(0)], 'no_stream');
    const adapter = setup.withCallTimeout(DEADLINE_MS);

    relay.hang();
    const deleted = await settle(() => adapter.deleteStream(soft));
    const tombstoned = await settle(() => adapter.tombstoneStream(hard));

    for (const [outcome, operation, streamName] of [
      [deleted, 'delete', soft],
      [tombstoned, 'tombstone', hard],
    ] as const) {
      expect(outcome.error).toBeInstanceOf(EventStoreTimeoutError);
      expect(outcome.error).toBeInstanceOf(EventStoreUnavailableError);
      expect(outcome.error).toMatchObject({ operation, streamName, timeoutMs: DEADLINE_MS });
      expect(outcome.ms).toBeLessThan(WITHIN_MS);
    }
  });

  it('bounds the first call of a new connection too (the client first asks the server what it supports)', async () => {
    relay.hang();
    const adapter = throughRelay().withCallTimeout(DEADLINE_MS);
    const append = await settle(() => adapter.appendToStream(newStream('fresh'), [event(0)], 'no_stream'));
    const read = await settle(() => adapter.readStream(newStream('fresh')));
    expect(append.error).toBeInstanceOf(EventStoreTimeoutError);
    expect(read.error).toBeInstanceOf(EventStoreTimeoutError);
    expect(Math.max(append.ms, read.ms)).toBeLessThan(WITHIN_MS);
  });

  it('an append that timed out may still be applied when the store resumes; the adapter serves again', async () => {
    const setup = await warmThroughRelay();
    const stream = newStream('late');
    await setup.appendToStream(stream, [event(0)], 'no_stream');
    const adapter = setup.withCallTimeout(DEADLINE_MS);

    relay.hang();
    const append = await settle(() => adapter.appendToStream(stream, [event(1)], 0n));
    expect(append.error).toBeInstanceOf(EventStoreTimeoutError);
    relay.resume();

    // The outcome was unknown, not "failed": the server applies the append it received while hung.
    await eventually(async () => (await direct.readStream(stream)).length === 2);
    expect((await adapter.readStream(stream)).map((stored) => stored.data)).toEqual([{ n: 0 }, { n: 1 }]);
    const next = await adapter.appendToStream(stream, [event(2)], 1n);
    expect(next.nextRevision).toBe(2n);
  });

  it('leaves reads of $all and subscriptions unbounded: they wait through a hang longer than the deadline', async () => {
    const prefix = newStream('long');
    await direct.appendToStream(`${prefix}-a`, [event(0), event(1)], 'no_stream');
    // Connected and warm before the hang.
    const adapter = (await warmThroughRelay()).withCallTimeout(DEADLINE_MS);

    relay.hang();
    const read = (async () => {
      const seen: StoredEvent[] = [];
      for await (const stored of adapter.readAll({ prefixes: [prefix] })) seen.push(stored);
      return seen;
    })();
    const subscription = adapter.subscribeToAll({ prefixes: [prefix] });
    const delivered = (async () => {
      const seen: StoredEvent[] = [];
      for await (const stored of subscription) {
        seen.push(stored);
        if (seen.length === 2) break;
      }
      return seen;
    })();
    await new Promise((resolve) => setTimeout(resolve, DEADLINE_MS * 4));
    relay.resume();

    expect((await read).map((stored) => stored.data)).toEqual([{ n: 0 }, { n: 1 }]);
    expect((await delivered).map((stored) => stored.data)).toEqual([{ n: 0 }, { n: 1 }]);
    await subscription.close();
  });

  it('isReachable answers false within its own deadline (the client ignores a read deadline)', async () => {
    const adapter = await warmThroughRelay();
    expect(await adapter.isReachable(2_000)).toBe(true);
    relay.hang();
    const started = Date.now();
    expect(await adapter.isReachable(500)).toBe(false);
    expect(Date.now() - started).toBeLessThan(WITHIN_MS);
    relay.resume();
    expect(await adapter.isReachable(2_000)).toBe(true);
  });

  it('refuses a deadline that is not a positive whole number of ms', () => {
    const adapter = throughRelay();
    expect(() => adapter.withCallTimeout(0)).toThrow(RangeError);
    expect(() => adapter.withCallTimeout(1.5)).toThrow(RangeError);
    expect(() => adapter.withCallTimeout(Number.NaN)).toThrow(RangeError);
  });
});

/**
 * `isAnswering` (/health/ready): a store is judged by its answers to the calls made for requests, not by a
 * probe alone — a probe with a 2 s deadline on a link with seconds of jitter failed while every command
 * succeeded within its 10 s, and took a working replica out of rotation.
 */
describe('isAnswering, the store slow, hung or refusing', () => {
  afterEach(() => relay.slow(0));

  it('is true for a store slower than the check waits that answered a call within its deadline', async () => {
    // Given a store whose every answer takes ≥ 800 ms (400 ms each way)
    const adapter = (await warmThroughRelay()).withCallTimeout(5_000);
    relay.slow(400);
    // When the check waits 300 ms for its probe
    // Then the probe alone says no (what readiness used to answer) …
    expect(await adapter.isReachable(300)).toBe(false);
    // … while a read made for a request is answered within its 5 s deadline, and vouches for the store
    await adapter.readStream(newStream('slow'));
    expect(await adapter.isAnswering(300)).toBe(true);
  });

  it('counts its probe’s late answer for the next check: an idle replica behind a slow link gets ready', async () => {
    // Given an adapter whose last answer is older than its 2 s call deadline, behind a slow link
    const adapter = (await warmThroughRelay()).withCallTimeout(2_000);
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    relay.slow(600);
    // When a check waits 300 ms for a probe that takes ≥ 1.2 s
    // Then it is not ready: nothing vouches for the store
    expect(await adapter.isAnswering(300)).toBe(false);
    // And once the probe's answer has come (it goes on in the background), the next check is ready
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(await adapter.isAnswering(300)).toBe(true);
  });

  it('stays true through a hang until its last answer is older than the call deadline, then false', async () => {
    // Given an adapter that was just answered, with a 1 s call deadline
    const adapter = (await warmThroughRelay()).withCallTimeout(1_000);
    await adapter.readStream(newStream('answered'));
    // When the store hangs
    relay.hang();
    // Then a check within the deadline of that answer is true, and one past it false
    expect(await adapter.isAnswering(200)).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(await adapter.isAnswering(200)).toBe(false);
  });

  it('is false at once when the connection is refused, whatever was answered just before', async () => {
    // Given an adapter answered a moment ago through a relay of its own
    const own = await startHangingRelay(server.port);
    const adapter = EsdbClientAdapter.connect(`esdb://127.0.0.1:${own.port}?tls=false`).withCallTimeout(
      10_000,
    );
    adapters.push(adapter);
    await adapter.readStream(newStream('refused'));
    // When nothing listens there any more
    await own.close();
    // Then the check says no, without waiting out the 10 s of that answer
    const started = Date.now();
    expect(await adapter.isAnswering(2_000)).toBe(false);
    expect(Date.now() - started).toBeLessThan(WITHIN_MS);
  });
});
