import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ReadResp } from '@eventstore/db-client/generated/streams_pb';
import { encodeEventResp, eventDataOf } from '../streams/encode';
import { EventStore } from './event-store';
import { SqliteEventLog } from './sqlite-event-log';
import { ProposedEvent, STREAM_DELETED_TYPE, StreamState } from './types';

const event = (n: number): ProposedEvent => ({
  eventId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  type: 'test',
  contentType: 'application/json',
  data: Buffer.from(JSON.stringify({ n })),
  metadata: Buffer.alloc(0),
});

describe('EventStore durability (synchronous=FULL)', () => {
  let dir: string;
  /** fsyncs asked for and not run yet; each resolves once the real fsync returned and its callback ran. */
  let held: Array<() => Promise<void>>;
  let fsyncSpy: jest.SpyInstance;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'event-store-spec-'));
    held = [];
    const realFsync = fs.fsync;
    // The disk answers only when the test says so.
    const hold = (fd: number, callback: (err: Error | null) => void) =>
      held.push(
        () =>
          new Promise<void>((done) =>
            realFsync(fd, (err) => {
              callback(err);
              done();
            }),
          ),
      );
    fsyncSpy = jest.spyOn(fs, 'fsync').mockImplementation(hold as unknown as typeof fs.fsync);
  });

  afterEach(() => {
    fsyncSpy.mockRestore();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const turn = () => new Promise((resolve) => setImmediate(resolve));
  /**
   * Lets the held fsyncs run and waits until they returned (however slow the disk) and the turn after it,
   * when what was queued meanwhile is committed (and asks for its own fsync). Not a fixed pause: an fsync
   * slower than the pause left the next commit unmade, and the test waiting for an fsync never asked for.
   */
  const release = async () => {
    await Promise.all(held.splice(0).map((sync) => sync()));
    await turn();
    await turn();
  };

  it('acknowledges an append and shows it to readers only after the WAL fsync returned', async () => {
    const store = new EventStore(dir, 'FULL');
    const seen: number[] = [];
    store.addListener({ onCommitted: (events) => seen.push(...events.map((e) => e.position)) });
    let acknowledged = false;
    const first = store.append('s', { kind: 'no_stream' }, [event(1)]).then((outcome) => {
      acknowledged = true;
      return outcome;
    });
    await turn();
    await turn();
    expect(held).toHaveLength(1); // committed, waiting for the disk
    expect(acknowledged).toBe(false);
    expect(store.readAllForward(0, 10)).toEqual([]);
    expect(store.readStreamForward('s', 0, 10)).toEqual([]);
    expect(store.head('s')?.lastRevision ?? -1).toBe(-1);
    expect(store.lastPosition).toBe(0);
    expect(seen).toEqual([]);

    // The next append waits for that fsync, is then committed on the durable head and waits for its own fsync.
    const second = store.append('s', { kind: 'revision', revision: 0 }, [event(2)]);
    await release();
    expect(await first).toMatchObject({ kind: 'ok', currentRevision: 0 });
    expect(store.readAllForward(0, 10).map((e) => e.position)).toEqual([1]);
    expect(seen).toEqual([1]);
    await release();
    expect(await second).toMatchObject({ kind: 'ok', currentRevision: 1 });
    expect(store.readStreamForward('s', 0, 10).map((e) => e.revision)).toEqual([0, 1]);
    expect(seen).toEqual([1, 2]);
    store.close();
  });

  it('commits what arrives during an fsync together, in one transaction, once it returned', async () => {
    const store = new EventStore(dir, 'FULL');
    const first = store.append('s', { kind: 'any' }, [event(1)]);
    await turn();
    await turn();
    expect(held).toHaveLength(1);
    const during = [
      store.append('s', { kind: 'revision', revision: 0 }, [event(2)]),
      store.append('t', { kind: 'no_stream' }, [event(3), event(4)]),
      store.append('s', { kind: 'revision', revision: 7 }, [event(5)]), // fails alone
    ];
    await turn();
    await turn();
    expect(held).toHaveLength(1); // nothing committed meanwhile, so nothing more to sync
    await release();
    expect(await first).toMatchObject({ kind: 'ok', currentRevision: 0 });
    expect(held).toHaveLength(1); // one commit, one fsync for the three that waited
    await release();
    expect(await Promise.all(during)).toEqual([
      { kind: 'ok', currentRevision: 1, position: { commit: 2, prepare: 2 } },
      { kind: 'ok', currentRevision: 1, position: { commit: 4, prepare: 4 } },
      { kind: 'wrong_expected_version', currentRevision: 1, expected: { kind: 'revision', revision: 7 } },
    ]);
    store.close();
  });

  it('applies stream metadata to reads only once it is durable', async () => {
    const store = new EventStore(dir, 'FULL');
    const metadata: ProposedEvent = {
      ...event(9),
      type: '$metadata',
      data: Buffer.from(JSON.stringify({ $maxCount: 1 })),
    };
    const written = store.append('$$s', { kind: 'any' }, [metadata]);
    await turn();
    await turn();
    expect(store.metadata('s')).toBeNull();
    await release();
    await written;
    expect(store.metadata('s')?.maxCount).toBe(1);
    store.close();
  });

  it('never drops from its bounded head cache a stream whose write awaits its fsync', async () => {
    const store = new EventStore(dir, 'FULL', 0, 4);
    const created = ['s', 'a', 'b', 'c', 'd', 'e', 'f'].map((name, i) =>
      store.append(name, { kind: 'no_stream' }, [event(i + 1)]),
    );
    await turn();
    await turn();
    await release();
    await Promise.all(created);
    const pending = store.append('s', { kind: 'revision', revision: 0 }, [event(10)]);
    await turn();
    await turn();
    expect(held).toHaveLength(1); // committed, waiting for the disk
    // Reading the other streams fills the cache past its limit, and it drops the heads used longest ago.
    for (const name of ['a', 'b', 'c', 'd', 'e', 'f']) expect(store.head(name)?.lastRevision).toBe(0);
    expect(store.cachedStreams.heads).toBeLessThanOrEqual(5);
    // Readers still see s as it is durably: its head was kept, not read again from the row just committed.
    expect(store.head('s')?.lastRevision).toBe(0);
    expect(store.readStreamForward('s', 0, 10).map((e) => e.revision)).toEqual([0]);
    await release();
    expect(await pending).toMatchObject({ kind: 'ok', currentRevision: 1 });
    expect(store.head('s')?.lastRevision).toBe(1);
    store.close();
  });

  it('makes pending commits durable and acknowledges them on close', async () => {
    const store = new EventStore(dir, 'FULL');
    const appended = store.append('s', { kind: 'any' }, [event(1)]);
    await turn();
    await turn();
    store.close();
    expect(await appended).toMatchObject({ kind: 'ok', currentRevision: 0 });
    const reopened = new EventStore(dir, 'FULL');
    expect(reopened.readStreamForward('s', 0, 10)).toHaveLength(1);
    reopened.close();
  });

  it('fails the waiting appends and refuses new ones when the fsync fails', async () => {
    fsyncSpy.mockImplementation(((_fd: number, callback: (err: Error | null) => void) =>
      setImmediate(() => callback(new Error('EIO')))) as unknown as typeof fs.fsync);
    const store = new EventStore(dir, 'FULL');
    expect(await store.append('s', { kind: 'any' }, [event(1)])).toMatchObject({ kind: 'failed' });
    expect(await store.append('s', { kind: 'any' }, [event(2)])).toMatchObject({
      kind: 'failed',
      message: expect.stringMatching(/fsync failed/),
    });
    expect(store.readAllForward(0, 10)).toEqual([]);
    store.close();
  });
});

describe('EventStore writes (synchronous=NORMAL)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'event-store-spec-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes appends of any size (multi-row inserts by bucket) in order, with contiguous positions', async () => {
    const store = new EventStore(dir, 'NORMAL');
    const sizes = [87, 1, 64, 3, 130];
    let n = 0;
    const appends = sizes.map((size, i) =>
      store.append(
        `s${i % 2}`,
        { kind: 'any' },
        Array.from({ length: size }, () => event(++n)),
      ),
    );
    const outcomes = await Promise.all(appends);
    expect(outcomes.map((o) => o.kind)).toEqual(sizes.map(() => 'ok'));
    const all = store.readAllForward(0, 1000);
    expect(all.map((e) => e.position)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(all.map((e) => JSON.parse(eventDataOf(e.wire).toString()).n)).toEqual(
      Array.from({ length: n }, (_, i) => i + 1),
    );
    expect(store.readStreamForward('s0', 0, 1000).map((e) => e.revision)).toEqual(
      Array.from({ length: 87 + 64 + 130 }, (_, i) => i),
    );
    store.close();
    const reopened = new EventStore(dir, 'NORMAL');
    expect(reopened.readAllForward(0, 1000)).toHaveLength(n);
    reopened.close();
  });

  it('given a data directory another store has open, refuses to open it, saying so; opens it once that one closed', async () => {
    const first = new EventStore(dir, 'NORMAL');
    expect(await first.append('s', { kind: 'any' }, [event(1)])).toMatchObject({ kind: 'ok' });
    expect(() => new EventStore(dir, 'NORMAL')).toThrow(
      `The event store's data directory ${dir} is in use by another event store process`,
    );
    // The refused opening changed nothing: the first store still appends and reads.
    expect(await first.append('s', { kind: 'any' }, [event(2)])).toMatchObject({ kind: 'ok' });
    expect(first.readAllForward(0, 10)).toHaveLength(2);
    first.close();
    const second = new EventStore(dir, 'NORMAL');
    expect(second.readAllForward(0, 10)).toHaveLength(2);
    second.close();
  });

  it('given a log file that is not a database, names the file', () => {
    fs.writeFileSync(path.join(dir, 'eventstore.sqlite'), Buffer.alloc(4096, 7));
    expect(() => new EventStore(dir, 'NORMAL')).toThrow(
      `Cannot open the event store's log ${path.join(dir, 'eventstore.sqlite')}: file is not a database`,
    );
  });

  it('keeps the heads and metadata of at most cacheLimit streams, and reads a dropped one again from the log', async () => {
    const store = new EventStore(dir, 'NORMAL', 0, 10);
    const metadata = (maxCount: number): ProposedEvent => ({
      ...event(0),
      eventId: `10000000-0000-4000-8000-${String(maxCount).padStart(12, '0')}`,
      type: '$metadata',
      data: Buffer.from(JSON.stringify({ $maxCount: maxCount })),
    });
    for (let i = 0; i < 100; i++) {
      const stream = `s-${i}`;
      await store.append(stream, { kind: 'no_stream' }, [event(2 * i + 1), event(2 * i + 2)]);
      await store.append(`$$${stream}`, { kind: 'any' }, [metadata(i + 1)]);
      expect(store.metadata(stream)?.maxCount).toBe(i + 1);
      expect(store.cachedStreams.heads).toBeLessThanOrEqual(10);
      expect(store.cachedStreams.metadata).toBeLessThanOrEqual(10);
    }
    for (let i = 0; i < 100; i++) {
      const stream = `s-${i}`;
      expect(store.head(stream)?.lastRevision).toBe(1);
      expect(store.metadata(stream)?.maxCount).toBe(i + 1);
      // The metadata read again still applies to what readers see: $maxCount 1 hides s-0's first event.
      expect(store.visibility(stream, store.head(stream)!).fromRevision).toBe(i === 0 ? 1 : 0);
    }
    expect(await store.append('s-0', { kind: 'revision', revision: 1 }, [event(500)])).toMatchObject({
      kind: 'ok',
      currentRevision: 2,
    });
    expect(await store.append('s-1', { kind: 'revision', revision: 1 }, [event(501)])).toMatchObject({
      kind: 'ok',
      currentRevision: 2,
    });
    expect(store.cachedStreams).toEqual({
      heads: expect.any(Number),
      metadata: expect.any(Number),
    });
    expect(store.cachedStreams.heads).toBeLessThanOrEqual(10);
    store.close();
  });

  it('drops the heads used longest ago: a stream read all the time stays cached among many read once', async () => {
    const store = new EventStore(dir, 'NORMAL', 0, 10);
    for (let i = 0; i < 40; i++) await store.append(`s-${i}`, { kind: 'no_stream' }, [event(i + 1)]);
    const loads = jest.spyOn(SqliteEventLog.prototype, 'loadHead');
    try {
      for (let i = 1; i < 40; i++) {
        expect(store.head('s-0')?.lastRevision).toBe(0);
        expect(store.head(`s-${i}`)?.lastRevision).toBe(0);
      }
      const loaded = loads.mock.calls.map(([stream]) => stream);
      expect(loaded.filter((stream) => stream === 's-0').length).toBeLessThanOrEqual(1);
      expect(loaded.length).toBeGreaterThan(20); // the others did fall out and were read again
    } finally {
      loads.mockRestore();
      store.close();
    }
  });

  it('recognises a repeat within the same flush, and skips no check an expectation needs', async () => {
    const store = new EventStore(dir, 'NORMAL');
    const events = [event(1), event(2)];
    const [first, repeat, exact, wrong] = await Promise.all([
      store.append('s', { kind: 'no_stream' }, events),
      store.append('s', { kind: 'any' }, events),
      store.append('s', { kind: 'revision', revision: 1 }, [event(3)]),
      store.append('s', { kind: 'revision', revision: 1 }, [event(4)]),
    ]);
    expect(first).toMatchObject({ kind: 'ok', currentRevision: 1 });
    expect(repeat).toEqual(first);
    expect(exact).toMatchObject({ kind: 'ok', currentRevision: 2 });
    expect(wrong).toMatchObject({ kind: 'wrong_expected_version', currentRevision: 2 });
    // The same ids at their place with the exact revision they were written at: the original outcome again.
    expect(await store.append('s', { kind: 'revision', revision: 1 }, [event(3)])).toEqual(exact);
    expect(store.readStreamForward('s', 0, 10).map((e) => e.revision)).toEqual([0, 1, 2]);
    store.close();
  });
});

describe('SqliteEventLog idempotence lookup', () => {
  it('finds the first revision of an event id in a stream through the (stream, event_id) index', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'event-log-spec-'));
    const log = new SqliteEventLog(dir, 'NORMAL');
    const stored = (position: number, stream: string, revision: number, n: number) => {
      const e = { ...event(n), position, stream, revision, created: 0 };
      return { ...e, wire: encodeEventResp(e) };
    };
    log.transaction(() =>
      log.insertAll([stored(1, 'a', 0, 1), stored(2, 'a', 1, 2), stored(3, 'b', 0, 1), stored(4, 'a', 2, 2)]),
    );
    expect(log.revisionOfEventId('a', event(2).eventId)).toBe(1);
    expect(log.revisionOfEventId('b', event(1).eventId)).toBe(0);
    expect(log.revisionOfEventId('b', event(2).eventId)).toBeUndefined();
    log.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('EventStore soft delete', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'event-store-soft-delete-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const latestMetadata = (store: EventStore, stream: string) =>
    eventDataOf(store.readStreamBackward(`$$${stream}`, Number.MAX_SAFE_INTEGER, 1)[0].wire).toString('utf8');

  it("writes EventStoreDB's marker digit for digit, and the first new revision when written again", async () => {
    const store = new EventStore(dir, 'NORMAL');
    await store.append('s', { kind: 'no_stream' }, [event(1), event(2)]);
    expect(await store.delete('s', { kind: 'any' }, false)).toMatchObject({ kind: 'ok' });
    // long.MaxValue, which no JSON.stringify of a number can write.
    expect(latestMetadata(store, 's')).toBe('{"$tb":9223372036854775807}');
    expect(store.isSoftDeleted('s', store.head('s')!)).toBe(true);
    expect(await store.append('s', { kind: 'any' }, [event(3)])).toMatchObject({ currentRevision: 2 });
    expect(latestMetadata(store, 's')).toBe('{"$tb":2}');
    expect(store.isSoftDeleted('s', store.head('s')!)).toBe(false);
    store.close();
  });

  it('takes a repeat of its first events with no_stream as that earlier write (idempotence), not as new ones', async () => {
    const store = new EventStore(dir, 'NORMAL');
    const first = await store.append('s', { kind: 'no_stream' }, [event(1), event(2)]);
    await store.delete('s', { kind: 'any' }, false);
    expect(await store.append('s', { kind: 'no_stream' }, [event(1), event(2)])).toEqual(first);
    expect(store.head('s')?.lastRevision).toBe(1);
    expect(store.isSoftDeleted('s', store.head('s')!)).toBe(true);
    // Only partly the same: refused, as EventStoreDB does.
    expect(await store.append('s', { kind: 'no_stream' }, [event(1), event(3)])).toMatchObject({
      kind: 'wrong_expected_version',
    });
    store.close();
  });

  it('honours a soft delete an earlier version kept in the head, and brings the stream back when written', async () => {
    const log = new SqliteEventLog(dir, 'NORMAL');
    const stored = (position: number, stream: string, revision: number, e: ProposedEvent) => ({
      ...e,
      position,
      stream,
      revision,
      created: 0,
      wire: encodeEventResp({ ...e, position, stream, revision, created: 0 }),
    });
    const meta = { ...event(9), type: '$metadata', data: Buffer.from('{"$maxAge":60,"$tb":2}') };
    log.transaction(() => {
      log.insertAll([stored(1, 's', 0, event(1)), stored(2, 's', 1, event(2)), stored(3, '$$s', 0, meta)]);
      log.saveHead('s', { lastRevision: 1, state: StreamState.SoftDeleted, truncateBefore: 2 });
      log.saveHead('$$s', { lastRevision: 0, state: StreamState.Live, truncateBefore: 0 });
    });
    log.close();

    const store = new EventStore(dir, 'NORMAL');
    expect(store.isSoftDeleted('s', store.head('s')!)).toBe(true);
    expect(await store.append('s', { kind: 'no_stream' }, [event(3)])).toMatchObject({ currentRevision: 2 });
    expect(store.head('s')).toMatchObject({ lastRevision: 2, state: StreamState.Live });
    expect(store.isSoftDeleted('s', store.head('s')!)).toBe(false);
    expect(latestMetadata(store, 's')).toBe('{"$maxAge":60,"$tb":2}');
    expect(store.visibility('s', store.head('s')!).fromRevision).toBe(2);
    store.close();
  });
});

describe('SqliteEventLog migration from the layout without the wire column', () => {
  it('re-encodes every event; reads, idempotence lookups and appends work on the migrated log', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'event-log-migrate-'));
    const old = new Database(path.join(dir, 'eventstore.sqlite'));
    old.exec(`
      CREATE TABLE events (
        position INTEGER PRIMARY KEY, stream TEXT NOT NULL, revision INTEGER NOT NULL, event_id TEXT NOT NULL,
        type TEXT NOT NULL, content_type TEXT NOT NULL, data BLOB NOT NULL, metadata BLOB NOT NULL,
        created INTEGER NOT NULL, UNIQUE (stream, revision));
      CREATE INDEX events_stream_event_id ON events (stream, event_id);
      CREATE TABLE streams (stream TEXT PRIMARY KEY, last_revision INTEGER NOT NULL,
        state INTEGER NOT NULL DEFAULT 0, truncate_before INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;`);
    const rows = [
      [
        1,
        'a',
        0,
        event(1).eventId,
        'T1',
        'application/json',
        Buffer.from('{"n":1}'),
        Buffer.from('{"m":1}'),
        5,
      ],
      [
        2,
        'b',
        0,
        event(2).eventId,
        'T2',
        'application/octet-stream',
        Buffer.from([0, 1, 2]),
        Buffer.alloc(0),
        6,
      ],
      [3, 'a', 1, event(3).eventId, 'T3', 'application/json', Buffer.alloc(0), Buffer.alloc(0), 7],
    ] as const;
    const insert = old.prepare('INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    for (const row of rows) insert.run(...row);
    old.prepare('INSERT INTO streams VALUES (?, ?, 0, 0)').run('a', 1);
    old.prepare('INSERT INTO streams VALUES (?, ?, 0, 0)').run('b', 0);
    old.close();

    const log = new SqliteEventLog(dir, 'NORMAL');
    const read = log.readAllForward(0, Number.MAX_SAFE_INTEGER, 10);
    expect(read.map((e) => [e.position, e.stream, e.revision, e.type, e.created])).toEqual(
      rows.map((r) => [r[0], r[1], r[2], r[4], r[8]]),
    );
    for (const [i, e] of read.entries()) {
      const [position, stream, revision, eventId, type, contentType, data, metadata, created] = rows[i];
      // What the log now stores is what the old layout's fields encode to (and what the client decodes).
      expect(
        e.wire.equals(
          encodeEventResp({
            position,
            stream,
            revision,
            eventId,
            type,
            contentType,
            data,
            metadata,
            created,
          }),
        ),
      ).toBe(true);
      const recorded = ReadResp.deserializeBinary(e.wire).getEvent()!.getEvent()!;
      expect(recorded.getId()!.getString()).toBe(eventId);
      expect(recorded.getMetadataMap().get('content-type')).toBe(contentType);
      expect(Buffer.from(recorded.getData_asU8())).toEqual(data);
      expect(Buffer.from(recorded.getCustomMetadata_asU8())).toEqual(metadata);
    }
    expect(log.revisionOfEventId('a', event(3).eventId)).toBe(1);
    expect(log.loadHead('a')?.lastRevision).toBe(1);
    log.close();

    // Opening again does not migrate again; the store appends after the migrated events.
    const store = new EventStore(dir, 'NORMAL');
    return store.append('a', { kind: 'revision', revision: 1 }, [event(4)]).then((outcome) => {
      expect(outcome).toMatchObject({ kind: 'ok', currentRevision: 2 });
      expect(store.readStreamForward('a', 0, 10).map((e) => e.position)).toEqual([1, 3, 4]);
      store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });
  });
});

describe('EventStore scavenge of a tombstoned stream longer than one transaction', () => {
  it('removes it newest first: a reader of $all between two transactions finds a shorter stream, never a gap', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'event-store-spec-'));
    const store = new EventStore(dir, 'NORMAL');
    try {
      const length = 1_300;
      for (let from = 0; from < length; from += 100)
        await store.append(
          'long',
          { kind: 'any' },
          Array.from({ length: 100 }, (_, i) => event(from + i)),
        );
      await store.delete('long', { kind: 'any' }, true);
      await store.append('other', { kind: 'any' }, [event(0)]);

      const seen: number[] = [];
      let done = false;
      const running = store.scavenge().then((result) => {
        done = true;
        return result;
      });
      while (!done) {
        const revisions = store
          .readAllForward(0, 10_000)
          .filter((e) => e.stream === 'long' && e.type !== STREAM_DELETED_TYPE)
          .map((e) => e.revision);
        expect(revisions).toEqual(Array.from({ length: revisions.length }, (_, i) => i));
        seen.push(revisions.length);
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect((await running).deleted).toBe(length);
      // Seen between transactions: part of the stream, from its start.
      expect(seen.some((count) => count > 0 && count < length)).toBe(true);
      // What stays of it is its tombstone record, as EventStoreDB keeps its tombstones.
      expect(store.readAllForward(0, 10_000).map((e) => [e.stream, e.type])).toEqual([
        ['long', STREAM_DELETED_TYPE],
        ['other', 'test'],
      ]);
    } finally {
      store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
