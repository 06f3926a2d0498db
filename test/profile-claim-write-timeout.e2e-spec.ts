/**
 * A create that claims its profile while the event store hangs at the claim's append (the write to
 * `profile-{app}-{profileId}`, made before the session append): the API answers 503 saying the command was not
 * applied and a retry is safe — not that its outcome is unknown, which is what a session append past its
 * deadline is told. Logged once at warn as `not_applied`. The held-back claim reaches the store when it
 * resumes; the retry is then applied once, and the session is the profile's first.
 *
 * The API reaches the embedded store (on this thread, so the test sees each call arrive) through a relay that
 * hangs the moment the store receives the API's first append: the claim. Its connection is set up first.
 */
import { EsdbClientAdapter } from '@session-engine/event-store';
import type { HangingRelay } from '@session-engine/testing';
import type { EmbeddedEventStore } from '../apps/eventstore-embedded/src';
import { HungStoreSystem, type DeadlineApi } from './support/hung-store';
import { eventually } from './support/eventually';

jest.setTimeout(60_000);

const KEY = 'int-key-claim-timeout-0001';
const DEADLINE_MS = 2_000;
const WITHIN_MS = 10_000;

let system: HungStoreSystem;
let server: EmbeddedEventStore;
let relay: HangingRelay;
let direct: EsdbClientAdapter;
/** Told of every call the store receives. */
let onRpc: ((name: string) => void) | undefined;
let counter = 0;

const newId = (label: string) => `${label}-${Date.now()}-${++counter}`;

/** An API whose store calls go through the relay, its connection set up before it serves. */
const apiThroughRelay = () => system.throughRelay();

async function put(api: DeadlineApi, id: string, body: unknown, headers: Record<string, string> = {}) {
  const started = Date.now();
  const response = await fetch(`${api.url}/v2/customer_sessions/${id}`, {
    method: 'PUT',
    headers: { authorization: `ApiKey-v1 ${KEY}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: JSON.parse(text),
    requestId: response.headers.get('x-request-id'),
    ms: Date.now() - started,
  };
}

/** Hangs the relay the moment the store receives the API's first append. */
function hangAtFirstAppend(): void {
  onRpc = (name) => {
    if (name !== 'Streams.BatchAppend') return;
    onRpc = undefined;
    relay.hang();
  };
}

const types = async (stream: string) => (await direct.readStream(stream)).map((stored) => stored.type);

beforeAll(async () => {
  system = await HungStoreSystem.start({
    label: 'claim-timeout-e2e',
    key: KEY,
    deadlineMs: DEADLINE_MS,
    onRpc: (name) => onRpc?.(name),
  });
  ({ server, relay } = system);
  direct = EsdbClientAdapter.connect(server.connectionString);
});

afterEach(() => {
  onRpc = undefined;
  relay.resume();
});

afterAll(async () => {
  await direct?.close();
  await system?.stop();
});

const CLAIM = `The event store did not answer within ${DEADLINE_MS} ms while recording the profile's first-session claim, before this command's events were sent: `;

describe('a create whose profile claim append the store does not answer', () => {
  it.each([
    [
      'without an Idempotency-Key',
      {},
      `${CLAIM}it was not applied (the claim, which names this session, may still be recorded: a retry takes it as its own). Retrying it is safe.`,
    ],
    [
      'with one',
      { 'idempotency-key': 'key-claim' },
      `${CLAIM}this request did not apply the command (an earlier request with the same Idempotency-Key may have). Retrying it with the same Idempotency-Key and body is safe: it is applied at most once.`,
    ],
  ])(
    '%s: 503 "not applied", logged so; a retry once the store resumes is applied once, first session',
    async (_what, headers, details) => {
      const api = await apiThroughRelay();
      const id = newId('claim');
      const profileId = newId('profile');
      const body = { customerSession: { profileId, cartItems: [{ sku: 'tee', quantity: 1, price: 10 }] } };

      hangAtFirstAppend();
      const reply = await put(api, id, body, headers);
      expect(reply.status).toBe(503);
      expect(reply.body).toEqual({
        message: details,
        errors: [{ title: 'SERVICE_UNAVAILABLE', details, source: {} }],
        StatusCode: 503,
      });
      expect(reply.ms).toBeLessThan(WITHIN_MS);
      expect(api.logs.filter((line) => line.level === 'warn' && /timed out/.test(String(line.msg)))).toEqual([
        expect.objectContaining({
          requestId: reply.requestId,
          operation: 'append',
          stream: 'profile',
          outcome: 'not_applied',
        }),
      ]);

      relay.resume();
      // The claim the store held is applied; the session append was never sent.
      await eventually(async () => (await types(`profile-1-${profileId}`)).length === 1);
      expect(await types(`session-1-${id}`)).toEqual([]);

      const retried = await put(api, id, body, headers);
      expect(retried.status).toBe(200);
      expect(retried.body.customerSession.firstSession).toBe(true);
      expect(await types(`session-1-${id}`)).toEqual(['SessionCreated']);
    },
  );
});
