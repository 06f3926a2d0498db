/**
 * A profile claim whose session stream an operator deleted, against the embedded server: tombstoned (hard
 * delete: every read of it fails) or soft-deleted (it reads as not found, its metadata stream holds the `$tb`
 * the delete wrote). Such a session counts as one that existed: its claim stands once it is older than the grace
 * window — later sessions of the profile are not first, nothing fails, nothing is appended to the profile stream
 * (a `confirmed` event would say the session's stream records the claim, which nobody can read any more).
 * "Later" is a claim that reads as written (by the store and by its claimer) longer ago than the wall-clock
 * bound of a claim the process never watched (the window plus an hour).
 */
import { EventStoreDBClient } from '@eventstore/db-client';
import { backdated } from '@session-engine/testing/backdate';
import { startTestEventStore, type TestEventStore } from '@session-engine/testing/event-store';
import { EsdbClientAdapter, StreamTombstonedError, type ReadStreamOptions } from './esdb-client.adapter';
import { sessionIdFor } from './ids';
import {
  DEFAULT_PROFILE_CLAIM_GRACE_MS,
  PROFILE_CLAIMED,
  profileClaimWallClockStaleMs,
} from './profile-claims';
import { profileStreamName, sessionStreamName } from './serialization';
import { SessionCommandHandler, type UntimedCommand } from './session-command-handler';

let server: TestEventStore;
let store: EsdbClientAdapter;
/** The operator's client: deletes and tombstones streams as an operator's tools do. */
let operator: EventStoreDBClient;
let counter = 0;
/**
 * Event ids whose server time, and writer's `at`, read shifted into the past by that many ms (a claim written
 * long ago).
 */
const backdatedBy = new Map<string, number>();

beforeAll(async () => {
  server = await startTestEventStore();
  store = EsdbClientAdapter.connect(server.connectionString);
  operator = EventStoreDBClient.connectionString(server.connectionString);
  const readStream = store.readStream.bind(store);
  jest.spyOn(store, 'readStream').mockImplementation(async (stream: string, options?: ReadStreamOptions) =>
    (await readStream(stream, options)).map((event) => {
      const ago = backdatedBy.get(event.id);
      return ago === undefined ? event : backdated(event, { created: ago, at: ago });
    }),
  );
});

afterAll(async () => {
  jest.restoreAllMocks();
  await store.close();
  await operator.dispose();
  await server.close();
});

const metadata = { commandId: 'c', correlationId: 'r', actor: 'key-test' };
const newId = (label: string) => `${label}-${Date.now()}-${++counter}`;
/** Separate handlers stand for separate processes (no shared cache or mutex): only the store arbitrates. */
const handler = () => new SessionCommandHandler(store);

function update(integrationId: string, patch: Record<string, unknown>): UntimedCommand {
  return {
    type: 'UpdateSession',
    applicationId: 1,
    integrationId,
    commandId: `cmd-${++counter}`,
    sessionId: sessionIdFor(sessionStreamName(1, integrationId)),
    patch,
  };
}

const first = async (id: string, profileId: string, dry = false) =>
  (await handler().handle(update(id, { profileId }), { metadata, dry })).state!.firstSession;

/** Makes the profile's latest claim event read as written a minute more than the wall-clock bound ago. */
async function ageLatestClaim(profileId: string): Promise<void> {
  const [latest] = await store.readStream(profileStreamName(1, profileId), {
    direction: 'backwards',
    maxCount: 1,
  });
  backdatedBy.set(latest!.id, profileClaimWallClockStaleMs(DEFAULT_PROFILE_CLAIM_GRACE_MS) + 60_000);
}

/** The claim of a create whose session append never happened (the API died between the two appends). */
async function orphanClaim(profileId: string, sessionIntegrationId: string): Promise<void> {
  await store.appendToStream(
    profileStreamName(1, profileId),
    [
      {
        type: PROFILE_CLAIMED,
        data: {
          at: new Date().toISOString(),
          applicationId: 1,
          profileId,
          sessionIntegrationId,
          sessionId: sessionIdFor(sessionStreamName(1, sessionIntegrationId)),
          kind: 'first',
        },
        metadata: { schemaVersion: 2, ...metadata },
      },
    ],
    'no_stream',
  );
}

const claims = async (profileId: string) =>
  (await store.readStream(profileStreamName(1, profileId))).map((e) => e.data);

describe.each([
  ['tombstoned', (stream: string) => operator.tombstoneStream(stream)],
  ['soft-deleted', (stream: string) => operator.deleteStream(stream)],
])('a claim whose session stream was %s', (_how, deleteStream) => {
  it('stands once older than the window: later sessions are not first, nothing fails, nothing is appended', async () => {
    const profileId = newId('deleted-profile');
    const x = newId('first');
    expect(await first(x, profileId)).toBe(true);
    await ageLatestClaim(profileId);
    await deleteStream(sessionStreamName(1, x));

    expect(await first(newId('dry'), profileId, true)).toBe(false);
    for (const later of [newId('second'), newId('third')]) {
      expect(await first(later, profileId)).toBe(false);
      const [created] = await store.readStream(sessionStreamName(1, later));
      expect(created!.data).toMatchObject({ profileId, firstSession: false });
    }
    expect(await claims(profileId)).toEqual([
      expect.objectContaining({ sessionIntegrationId: x, kind: 'first' }),
    ]);
  });

  it('stands even when the session never committed it (an orphan claim, its stream deleted by an operator)', async () => {
    const profileId = newId('orphan-deleted-profile');
    const x = newId('crashed');
    // The operator's tools write the stream so that the soft delete has something to delete.
    await store.appendToStream(
      sessionStreamName(1, x),
      [{ type: 'Noted', data: {}, metadata: {} }],
      'no_stream',
    );
    await orphanClaim(profileId, x);
    await ageLatestClaim(profileId);
    await deleteStream(sessionStreamName(1, x));

    expect(await first(newId('later'), profileId)).toBe(false);
    expect(await claims(profileId)).toHaveLength(1);
  });
});

describe('the adapter on a deleted stream', () => {
  it('reads a tombstoned stream as StreamTombstonedError and a soft-deleted one as no events, as EventStoreDB does', async () => {
    const hard = newId('session-1-hard');
    const soft = newId('session-1-soft');
    for (const stream of [hard, soft])
      await store.appendToStream(stream, [{ type: 'Noted', data: {}, metadata: {} }], 'no_stream');
    await operator.tombstoneStream(hard);
    await operator.deleteStream(soft);

    for (const options of [{}, { direction: 'backwards' as const, maxCount: 1 }]) {
      const error = await store.readStream(hard, options).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StreamTombstonedError);
      expect(error).toMatchObject({ streamName: hard });
      expect(await store.readStream(soft, options)).toEqual([]);
    }
  });
});
