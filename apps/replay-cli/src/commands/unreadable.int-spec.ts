/**
 * Streams holding an event this CLI cannot read or fold — a schema version or an event type a newer writer
 * produced, a stream that does not start with SessionCreated, data the domain cannot fold: history, state,
 * verify and rebuild refuse with exit 2 and ONE line naming the stream, the revision, the log position and
 * what is wrong (no stack trace); digest hashes such streams as stored, without reading them.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { openReadModelDatabase } from '@session-engine/read-models';
import { EventStoreDBClient } from '@eventstore/db-client';
import { digestOf } from '../stream-digest';
import { generatedStream, writeGeneratedSessions } from '../testing/generated-sessions';
import { ReplaySystem } from '../testing/replay-system';
import { replayCli, type CliRun } from '../testing/run-cli';

jest.setTimeout(60_000);

const url = (id: string, suffix = '') => `/v2/customer_sessions/${encodeURIComponent(id)}${suffix}`;

let system: ReplaySystem;
let replay: (args: string[]) => Promise<CliRun>;
/** Log positions of the first event of each bad stream. */
const at: Record<string, string> = {};

/** A refusal: exit 2, nothing on stdout, one line on stderr, no stack trace. */
function expectOneLine(run: CliRun, line: string | RegExp): void {
  expect(run.code).toBe(2);
  expect(run.stdout).toBe('');
  expect(run.stderr.split('\n')).toHaveLength(2); // one line and its newline
  expect(run.stderr).not.toMatch(/\n\s+at /);
  if (typeof line === 'string') expect(run.stderr).toBe(`session-replay: ${line}\n`);
  else expect(run.stderr).toMatch(line);
}

beforeAll(async () => {
  system = await ReplaySystem.start({ backend: 'sqlite', projector: true });
  replay = replayCli(system.env());
  await system.command('PUT', url('cart-1'), {
    customerSession: { profileId: 'alice', cartItems: [{ sku: 'tee', quantity: 1, price: 10 }] },
  });
  const last = (await system.command('POST', url('cart-1', '/close'))).position;
  await system.settle(last);

  const [created] = await system.adapter.readStream('session-1-cart-1');
  const createdAs = (integrationId: string) => ({ ...created.data, integrationId });
  const later = (time: unknown) => new Date(Date.parse(String(time)) + 1000).toISOString();
  const append = async (stream: string, events: { type: string; data: object; metadata: object }[]) => {
    const outcome = await system.adapter.appendToStream(
      stream,
      events.map((e) => ({ id: randomUUID(), ...e }) as never),
      'no_stream',
    );
    at[stream] = String(outcome.position! - BigInt(events.length - 1));
  };
  // What a newer writer produces: a schema version this CLI does not know, an event type it does not know.
  await append('session-1-newer', [
    { type: 'SessionCreated', data: createdAs('newer'), metadata: { schemaVersion: 99 } },
  ]);
  await append('session-1-unknown', [
    { type: 'SessionCreated', data: createdAs('unknown'), metadata: { schemaVersion: 1 } },
    { type: 'SomethingNew', data: { at: later(created.data.at), commandId: 'c2' }, metadata: {} },
  ]);
  // A stream the domain cannot fold: it does not start with SessionCreated.
  await append('session-1-orphan', [
    {
      type: 'SessionClosed',
      data: { at: created.data.at, commandId: 'c', profileId: '', total: '0', items: [] },
      metadata: { schemaVersion: 1 },
    },
  ]);
  // Data the domain cannot fold (another application's, so `verify -a 2` reaches it past the others).
  await append('session-2-broken', [
    { type: 'SessionCreated', data: { at: created.data.at, commandId: 'c' }, metadata: { schemaVersion: 1 } },
  ]);
  // A stream whose first events are gone: truncated by its stream metadata.
  await writeGeneratedSessions(system.adapter, 1);
  const raw = EventStoreDBClient.connectionString(system.store.connectionString);
  try {
    await raw.setStreamMetadata(generatedStream(0), { truncateBefore: 2 });
  } finally {
    await raw.dispose();
  }
});

afterAll(async () => {
  await system?.stop();
});

describe('history and state', () => {
  it('name the stream, revision and position of a schema version newer than this CLI reads', async () => {
    const line =
      `session-1-newer revision 0 (log position ${at['session-1-newer']}): schema version 99 of ` +
      'SessionCreated is newer than this CLI reads (1..1): upgrade the CLI';
    expectOneLine(await replay(['history', 'newer', '-a', '1']), line);
    expectOneLine(await replay(['state', 'newer', '-a', '1', '--json']), line);
  });

  it('name an event type this CLI does not know, and still show the state before it', async () => {
    const position = BigInt(at['session-1-unknown']) + 1n;
    const line =
      `session-1-unknown revision 1 (log position ${position}): event type "SomethingNew" is not a session ` +
      'event type this CLI knows: written by a newer version of the engine? Upgrade the CLI';
    expectOneLine(await replay(['history', 'unknown', '-a', '1', '--json']), line);
    expectOneLine(await replay(['state', 'unknown', '-a', '1']), line);
    const before = await replay(['state', 'unknown', '-a', '1', '--at-revision', '0', '--json']);
    expect(before.code).toBe(0);
    expect(before.json().customerSession).toMatchObject({ integrationId: 'unknown', state: 'open' });
    // By time, too: the unreadable event's time is read as stored, and it comes after the instant.
    const [created] = await system.adapter.readStream('session-1-unknown');
    const atCreation = await replay([
      'state',
      'unknown',
      '-a',
      '1',
      '--at',
      String(created!.data.at),
      '--json',
    ]);
    expect(atCreation.code).toBe(0);
    expect(atCreation.json().customerSession).toEqual(before.json().customerSession);
  });

  it('name a stream that does not start with SessionCreated', async () => {
    const line =
      `session-1-orphan revision 0 (log position ${at['session-1-orphan']}): SessionClosed before ` +
      'SessionCreated: a session stream starts with SessionCreated, so this one cannot be folded';
    expectOneLine(await replay(['history', 'orphan', '-a', '1']), line);
    expectOneLine(await replay(['state', 'orphan', '-a', '1']), line);
  });
});

describe('a truncated stream', () => {
  it('history, state and digest say it starts at revision 2 and why nothing can be folded or proved', async () => {
    const stream = generatedStream(0);
    const [first] = await system.adapter.readStream(stream);
    const line =
      `${stream} revision 2 (log position ${first.position}): the stream starts at revision 2 with ` +
      'CouponCodesChanged: its earlier events, SessionCreated first, are gone (the stream was truncated or ' +
      'deleted and written again), so it cannot be folded';
    expectOneLine(await replay(['history', 'bench-0', '-a', '1']), line);
    expectOneLine(await replay(['state', 'bench-0', '-a', '1']), line);
    expectOneLine(
      await replay(['state', 'bench-0', '-a', '1', '--at-revision', '0']),
      `Session "bench-0" has no revision 0 any more (its events start at revision 2, ${String(first.data.at)}: ` +
        'the stream was truncated).',
    );
    expectOneLine(
      await replay(['digest', 'bench-0', '-a', '1']),
      `${stream} starts at revision 2 (its earlier events were truncated or deleted): a digest covers ` +
        'revisions 0..R, so none can be computed.',
    );
  });
});

describe('digest', () => {
  it('hashes the events as stored, without reading them, on exactly these streams', async () => {
    for (const id of ['newer', 'unknown', 'orphan']) {
      const stream = `session-1-${id}`;
      const run = await replay(['digest', id, '-a', '1', '--json']);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.json()).toEqual(digestOf(stream, await system.adapter.readStream(stream)));
    }
  });
});

describe('verify and rebuild', () => {
  it('verify: the projector stopped before the newer event; verify names it rather than vouching for the log', async () => {
    const run = await replay(['verify', '--json']);
    expectOneLine(
      run,
      `session-1-newer revision 0 (log position ${at['session-1-newer']}): schema version 99 of ` +
        "SessionCreated is newer than this CLI reads (1..1): upgrade the CLI (after the read models' " +
        'checkpoints: a projector of this version stops there)',
    );
  });

  it('rebuild: with the projector stopped before the newer event, it rebuilds up to the checkpoints, as ever', async () => {
    const run = await replay(['rebuild', '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(BigInt(run.json().checkpoints.sessions)).toBeLessThan(BigInt(at['session-1-newer']));
  });

  it('rebuild: read models a newer projector took past the event — refused with the line, copy and lock gone', async () => {
    await system.projector!.stop();
    // As if a newer projector had read every event: the checkpoints at the log's end.
    const head = (await system.adapter.readStream('session-2-broken'))[0].position!;
    const database = await openReadModelDatabase({ dataDir: system.dataDir, migrate: false });
    try {
      await sql`update projection_checkpoints set position = ${String(head)}`.execute(database.db);

      const line =
        `session-1-newer revision 0 (log position ${at['session-1-newer']}): schema version 99 of ` +
        'SessionCreated is newer than this CLI reads (1..1): upgrade the CLI';
      expectOneLine(await replay(['verify']), line);
      expectOneLine(await replay(['rebuild', '--json']), line);
      // An event whose data does not have its type's shape: the event at fault is found and named, with the field.
      expectOneLine(
        await replay(['verify', '-a', '2']),
        `session-2-broken revision 0 (log position ${at['session-2-broken']}): The data of SessionCreated v1 ` +
          'does not have the shape of its type: sessionId is missing (a whole number)',
      );

      const left = await sql<{
        name: string;
      }>`select name from sqlite_master where name like 'rebuild_%'`.execute(database.db);
      expect(left.rows).toEqual([]);
      const lock = await sql`select * from projector_lock where name = 'rebuild'`.execute(database.db);
      expect(lock.rows).toEqual([]);
    } finally {
      await database.close();
    }
  });
});
