/**
 * The server's scavenge (EventStore.scavenge), through @eventstore/db-client: what EventStoreDB's scavenge
 * discards goes from the SQLite file — events past `$maxAge`, beyond `$maxCount`, before `$tb`, superseded
 * `$metadata`, every event of a tombstoned stream (however young, its bytes overwritten) — and nothing a stream
 * read can still return; each stream's
 * last event stays (as EventStoreDB keeps it), and so do heads: appends with the old expected revision go on.
 * The store's clock is injected (`now`) and moved past `$maxAge` instead of waiting.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { jsonEvent, ResolvedEvent, START, StreamDeletedError } from '@eventstore/db-client';
import { readdirSync, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { collect, startNode, testEvents, TestNode } from './support';

jest.setTimeout(30_000);

const DAY_S = 24 * 60 * 60;

/** Revisions left in the log per stream (the server must be stopped: it holds the file's lock). */
function rowsByStream(dataDir: string): Record<string, number[]> {
  const db = new Database(path.join(dataDir, 'eventstore.sqlite'), { readonly: true });
  try {
    const rows = db.prepare('SELECT stream, revision FROM events ORDER BY stream, revision').all() as {
      stream: string;
      revision: number;
    }[];
    const out: Record<string, number[]> = {};
    for (const { stream, revision } of rows) (out[stream] ??= []).push(revision);
    return out;
  } finally {
    db.close();
  }
}

const ids = (events: ResolvedEvent[]) => events.map((e) => e.event!.id);

describe('embedded EventStoreDB: scavenge', () => {
  let node: TestNode;
  const clock = { offsetMs: 0 };
  const start = (dataDir?: string) =>
    startNode({ scavengeIntervalMs: 0, now: () => Date.now() + clock.offsetMs }, dataDir);

  beforeEach(async () => {
    clock.offsetMs = 0;
    node = await start();
  });
  afterEach(() => node.dispose());

  it('removes what $maxAge hides after the clock passed it, keeps each stream its last event and its revisions', async () => {
    const { client } = node;
    await client.setStreamMetadata('record-many', { maxAge: DAY_S });
    await client.appendToStream('record-many', testEvents(3));
    await client.setStreamMetadata('record-one', { maxAge: DAY_S });
    await client.appendToStream('record-one', testEvents(1));
    await client.appendToStream('plain', testEvents(2));
    for (const n of [1, 2, 3]) await client.setStreamMetadata('meta-rewritten', { custom: n });
    clock.offsetMs = 25 * 60 * 60 * 1000;
    await client.setStreamMetadata('record-fresh', { maxAge: DAY_S });
    await client.appendToStream('record-fresh', testEvents(2));

    const allBefore = await collect(client.readAll());
    const result = await node.es.scavenge!();
    const allAfter = await collect(client.readAll());

    // record-many revisions 0 and 1, and the two superseded `$metadata` of meta-rewritten.
    expect(result.deleted).toBe(4);
    const gone = (e: ResolvedEvent) =>
      (e.event!.streamId === 'record-many' && e.event!.revision < 2n) ||
      (e.event!.streamId === '$$meta-rewritten' && e.event!.revision < 2n);
    expect(ids(allAfter)).toEqual(ids(allBefore.filter((e) => !gone(e))));
    // What stream reads see is unchanged.
    expect(await collect(client.readStream('record-fresh'))).toHaveLength(2);
    expect(await collect(client.readStream('plain'))).toHaveLength(2);
    expect(await collect(client.readStream('record-many'))).toHaveLength(0);
    expect((await client.getStreamMetadata('meta-rewritten')).metadata).toEqual({ custom: 3 });
    // A second scavenge finds nothing more.
    expect((await node.es.scavenge!()).deleted).toBe(0);
    // The head stays: the next revision follows the last written, with the old expected revision.
    const appended = await client.appendToStream('record-many', testEvents(1, 'again'), {
      expectedRevision: 2n,
    });
    expect(appended.nextExpectedRevision).toBe(3n);
    expect((await collect(client.readStream('record-many'))).map((e) => e.event!.revision)).toEqual([3n]);

    await node.stop();
    const rows = rowsByStream(node.dataDir);
    expect(rows['record-many']).toEqual([2, 3]);
    // The last event of a stream stays, however old (EventStoreDB keeps it physically too).
    expect(rows['record-one']).toEqual([0]);
    expect(rows['plain']).toEqual([0, 1]);
    expect(rows['record-fresh']).toEqual([0, 1]);
    expect(rows['$$meta-rewritten']).toEqual([2]);
    expect(rows['$$record-many']).toEqual([0]);
    node = await start(node.dataDir);
    // Positions go on after the last one (it is never removed).
    const last = allAfter[allAfter.length - 1].event!.position!.commit;
    const next = await node.client.appendToStream('plain', testEvents(1), { expectedRevision: 1n });
    expect(next.position!.commit).toBeGreaterThan(last);
  });

  it('removes tombstoned streams, events beyond $maxCount and before a soft delete', async () => {
    const { client } = node;
    await client.appendToStream('gone', testEvents(3));
    await client.setStreamMetadata('gone', { custom: 1 });
    await client.tombstoneStream('gone');
    await client.setStreamMetadata('trimmed', { maxCount: 2 });
    await client.appendToStream('trimmed', testEvents(5));
    await client.appendToStream('soft', testEvents(3));
    await client.deleteStream('soft');

    // Written less than a day ago: nothing hidden goes yet (a reader behind the log may not have read it) — but
    // a tombstoned stream goes whole at once, however young: its 3 events and its `$metadata`.
    clock.offsetMs = 23 * 60 * 60 * 1000;
    expect((await node.es.scavenge!()).deleted).toBe(3 + 1);
    expect((await collect(client.readAll())).filter((e) => e.event!.streamId === 'trimmed')).toHaveLength(5);
    // Of `gone` and `$$gone`, only the tombstone record stays, as EventStoreDB keeps its tombstones.
    expect(
      (await collect(client.readAll()))
        .filter((e) => /gone$/.test(e.event!.streamId))
        .map((e) => [e.event!.streamId, e.event!.type, e.event!.revision]),
    ).toEqual([['gone', '$streamDeleted', 2n ** 63n - 1n]]);

    clock.offsetMs = 25 * 60 * 60 * 1000;
    const result = await node.es.scavenge!();
    // trimmed: revisions 0–2; soft: revisions 0–1 (its last stays).
    expect(result.deleted).toBe(3 + 2);
    await expect(collect(client.readStream('gone'))).rejects.toBeInstanceOf(StreamDeletedError);
    await expect(client.appendToStream('gone', testEvents(1))).rejects.toBeInstanceOf(StreamDeletedError);
    expect((await collect(client.readStream('trimmed'))).map((e) => e.event!.revision)).toEqual([3n, 4n]);
    expect(
      (await client.appendToStream('trimmed', testEvents(1), { expectedRevision: 4n })).nextExpectedRevision,
    ).toBe(5n);
    // Written again, the soft-deleted stream goes on after its last revision.
    expect(
      (await client.appendToStream('soft', testEvents(1), { expectedRevision: 2n })).nextExpectedRevision,
    ).toBe(3n);
    expect((await collect(client.readStream('soft'))).map((e) => e.event!.revision)).toEqual([3n]);

    await node.stop();
    const rows = rowsByStream(node.dataDir);
    expect(rows['gone']).toEqual([Number.MAX_SAFE_INTEGER]); // the tombstone record alone
    expect(rows['$$gone']).toBeUndefined();
    expect(rows['trimmed']).toEqual([3, 4, 5]);
    expect(rows['soft']).toEqual([2, 3]);
    node = await start(node.dataDir);
  });

  it('leaves nothing of a tombstoned stream readable in the file: what it deletes is overwritten', async () => {
    const { client } = node;
    const secret = 'erasure-probe-7f3a9c1e5b';
    await client.appendToStream('kept', testEvents(2));
    await client.appendToStream(
      'subject',
      Array.from({ length: 20 }, (_, i) =>
        jsonEvent({ type: 'Noted', data: { secret, i, pad: 'x'.repeat(2000) } }),
      ),
    );
    await client.tombstoneStream('subject');
    await client.appendToStream('kept', testEvents(1), { expectedRevision: 1n });
    expect((await node.es.scavenge!()).deleted).toBe(20);
    await node.stop();
    // The server closed its log: the WAL is checkpointed into the file and removed.
    const files = readdirSync(node.dataDir).filter((name) => name.startsWith('eventstore.sqlite'));
    const bytes = files
      .map((name) => readFileSync(path.join(node.dataDir, name)).toString('latin1'))
      .join('');
    expect(bytes).not.toContain(secret);
    expect(rowsByStream(node.dataDir)['kept']).toEqual([0, 1, 2]);
    node = await start(node.dataDir);
  });

  it('a catch-up subscription to $all and appends running through a scavenge miss nothing that stays', async () => {
    const { client } = node;
    await client.setStreamMetadata('churn', { maxCount: 1 });
    for (let i = 0; i < 6; i++) {
      await client.appendToStream('churn', testEvents(500));
      await client.appendToStream('kept', testEvents(10));
    }
    const sub = client.subscribeToAll({ fromPosition: START });
    const received: ResolvedEvent[] = [];
    const done = new Promise<void>((resolve, reject) => {
      (sub as unknown as Readable).on('error', reject);
      sub.on('data', (e: ResolvedEvent) => {
        received.push(e);
        if (e.event?.type === 'last') void sub.unsubscribe().then(() => resolve());
      });
    });
    clock.offsetMs = 25 * 60 * 60 * 1000;
    const scavenging = node.es.scavenge!();
    for (let i = 0; i < 20; i++) await client.appendToStream('kept', testEvents(5, 'during'));
    const result = await scavenging;
    await client.appendToStream('kept', testEvents(1, 'last'));
    await done;

    expect(result.deleted).toBeGreaterThan(2500);
    const all = await collect(client.readAll());
    const receivedIds = new Set(ids(received));
    // Every event still in $all was delivered, in $all order.
    for (const id of ids(all)) expect(receivedIds.has(id)).toBe(true);
    const kept = received.filter((e) => e.event!.streamId === 'kept');
    expect(kept.map((e) => e.event!.revision)).toEqual(Array.from({ length: 161 }, (_, i) => BigInt(i)));
    const positions = received.map((e) => e.event!.position!.commit);
    for (let i = 1; i < positions.length; i++) expect(positions[i]).toBeGreaterThan(positions[i - 1]);
  });
});
