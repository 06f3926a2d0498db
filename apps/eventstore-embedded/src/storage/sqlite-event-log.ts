import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { writeStoreLog } from '../log';
import { encodeEventResp } from '../streams/encode';
import { NewEvent, StoredEvent, StreamHead, StreamState } from './types';

export type SynchronousMode = 'FULL' | 'NORMAL';

/** A row of `streams`. */
export interface StreamRow extends StreamHead {
  stream: string;
}

/** Row counts of the multi-row INSERTs (largest first; 64 × 7 parameters stays far below SQLite's limit). */
const INSERT_BUCKETS = [64, 16, 4, 1];

/** What reads select: no event id, and one BLOB (each BLOB column costs a Buffer allocation and a copy). */
const EVENT_COLUMNS = 'position, stream, revision, type, created, wire';

const EVENTS_TABLE = (name: string) => `
  CREATE TABLE ${name} (
    position INTEGER PRIMARY KEY,
    stream   TEXT    NOT NULL,
    revision INTEGER NOT NULL,
    event_id TEXT    NOT NULL,
    type     TEXT    NOT NULL,
    created  INTEGER NOT NULL,
    wire     BLOB    NOT NULL,
    UNIQUE (stream, revision)
  )`;

/**
 * The on-disk log: one SQLite file (WAL) under the data directory.
 *
 * `events.position` is the `$all` position (commit = prepare), assigned by the single writer so it strictly
 * increases. `events.wire` is the event as readers receive it: the ReadResp message, encoded once at commit
 * (id, content type, data and metadata are stored only there), so a read sends stored bytes and decodes
 * nothing. `streams` holds each stream's head (last revision, tombstoned state; soft deletes live in `$$<stream>`).
 * All statements are prepared once; every method is synchronous (better-sqlite3).
 */
export class SqliteEventLog {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly stmts: ReturnType<SqliteEventLog['prepare']>;

  constructor(dataDir: string, synchronous: SynchronousMode = 'FULL', maxPages?: number) {
    fs.mkdirSync(dataDir, { recursive: true });
    this.file = path.join(dataDir, 'eventstore.sqlite');
    // One process at a time, as EventStoreDB locks its database directory: the connection takes the file's
    // lock now and keeps it until it closes (the OS drops it when the process dies). A second server on the
    // same directory (another `npm start` on the same DATA_DIR) would otherwise start, serve stale reads
    // and fail every append. Its start fails at once instead, saying why.
    try {
      this.db = new Database(this.file, { timeout: 0 });
    } catch (error) {
      // A file or directory this user may not write: SQLite says only "unable to open database file".
      throw new Error(`Cannot open the event store's log ${this.file}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    try {
      this.db.pragma('locking_mode = EXCLUSIVE');
      this.db.pragma('journal_mode = WAL');
      this.db.exec('BEGIN EXCLUSIVE; COMMIT');
    } catch (error) {
      this.db.close();
      if ((error as { code?: string }).code !== 'SQLITE_BUSY')
        throw new Error(`Cannot open the event store's log ${this.file}: ${(error as Error).message}`, {
          cause: error,
        });
      throw new Error(
        `The event store's data directory ${dataDir} is in use by another event store process ` +
          '(another `npm start` or `npm run start:eventstore` with the same DATA_DIR). Stop it, or give this one ' +
          'another data directory (DATA_DIR, or --data for the standalone store).',
      );
    }
    // The event store opens the log with NORMAL and, for FULL durability, fsyncs the WAL itself after each
    // commit, off the event loop, before acknowledging (see EventStore). FULL here would fsync inside the
    // commit and block the event loop for the duration of the disk flush.
    this.db.pragma(`synchronous = ${synchronous}`);
    this.db.pragma('busy_timeout = 5000');
    // What a scavenge deletes (an erasure) is overwritten with zeros, in its page and in freed pages, rather than
    // left readable in the file until the space is reused. The log only deletes in a scavenge: it costs nothing else.
    this.db.pragma('secure_delete = ON');
    this.db.pragma('cache_size = -65536');
    this.db.pragma('wal_autocheckpoint = 10000');
    this.migrate();
    if (maxPages !== undefined) this.db.pragma(`max_page_count = ${Math.max(1, Math.floor(maxPages))}`);
    this.stmts = this.prepare();
  }

  private migrate(): void {
    const columns = this.db.prepare(`SELECT name FROM pragma_table_info('events')`).pluck().all() as string[];
    if (columns.length === 0) this.db.exec(EVENTS_TABLE('events'));
    else if (!columns.includes('wire')) this.migrateToWire();
    this.db.exec(`
      CREATE INDEX IF NOT EXISTS events_stream_event_id ON events (stream, event_id);
      CREATE TABLE IF NOT EXISTS streams (
        stream          TEXT    PRIMARY KEY,
        last_revision   INTEGER NOT NULL,
        state           INTEGER NOT NULL DEFAULT 0,
        truncate_before INTEGER NOT NULL DEFAULT 0
      ) WITHOUT ROWID;
    `);
  }

  /**
   * Data directories written before the `wire` column (content_type, data and metadata columns): the events
   * are re-encoded into the new table in one transaction (all or nothing; a crash leaves the old layout), then
   * the file is vacuumed. Once, at start-up: ~5 s per 100,000 events on the development box.
   */
  private migrateToWire(): void {
    const count = this.db.prepare('SELECT count(*) FROM events').pluck().get() as number;
    // The one start-up that takes long: say why (the data directory is in use meanwhile), on stderr as a
    // warning — older versions cannot open the file afterwards.
    writeStoreLog(
      'warn',
      `migrating ${count} events in ${this.file} to the current storage layout ` +
        '(once, ~6 s per 100,000 events; older versions cannot open the file afterwards)',
      { file: this.file, events: count },
    );
    this.db.function(
      'es_read_resp',
      { deterministic: true },
      (
        position: number,
        stream: string,
        revision: number,
        eventId: string,
        type: string,
        contentType: string,
        data: Buffer,
        metadata: Buffer,
        created: number,
      ) =>
        encodeEventResp({ position, stream, revision, eventId, type, contentType, data, metadata, created }),
    );
    this.transaction(() => {
      this.db.exec(`
        ${EVENTS_TABLE('events_wire')};
        INSERT INTO events_wire (position, stream, revision, event_id, type, created, wire)
          SELECT position, stream, revision, event_id, type, created,
            es_read_resp(position, stream, revision, event_id, type, content_type, data, metadata, created)
          FROM events ORDER BY position;
        DROP TABLE events;
        ALTER TABLE events_wire RENAME TO events;
      `);
    });
    this.db.exec('VACUUM'); // give the old table's pages back
  }

  private prepare() {
    const db = this.db;
    return {
      head: db.prepare<[string], { lastRevision: number; state: number; truncateBefore: number }>(
        'SELECT last_revision AS lastRevision, state, truncate_before AS truncateBefore FROM streams WHERE stream = ?',
      ),
      upsertHead: db.prepare<[string, number, number, number]>(
        `INSERT INTO streams (stream, last_revision, state, truncate_before) VALUES (?, ?, ?, ?)
         ON CONFLICT (stream) DO UPDATE SET last_revision = excluded.last_revision, state = excluded.state,
           truncate_before = excluded.truncate_before`,
      ),
      insert: db.prepare<[number, string, number, string, string, number, Buffer]>(
        `INSERT INTO events (position, stream, revision, event_id, type, created, wire) VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      maxPosition: db.prepare<[], { p: number | null }>('SELECT MAX(position) AS p FROM events'),
      streamFwd: db.prepare<[string, number, number], StoredEvent>(
        `SELECT ${EVENT_COLUMNS} FROM events WHERE stream = ? AND revision >= ? ORDER BY revision LIMIT ?`,
      ),
      streamBwd: db.prepare<[string, number, number], StoredEvent>(
        `SELECT ${EVENT_COLUMNS} FROM events WHERE stream = ? AND revision <= ? ORDER BY revision DESC LIMIT ?`,
      ),
      // Bounded above: positions have gaps once a scavenge removed events, so a page may only be short at the end.
      allFwd: db.prepare<[number, number, number], StoredEvent>(
        `SELECT ${EVENT_COLUMNS} FROM events WHERE position >= ? AND position <= ? ORDER BY position LIMIT ?`,
      ),
      allBwd: db.prepare<[number, number], StoredEvent>(
        `SELECT ${EVENT_COLUMNS} FROM events WHERE position < ? ORDER BY position DESC LIMIT ?`,
      ),
      // INDEXED BY: left to itself the planner walks the whole stream in (stream, revision) order to spare the
      // sort, which costs O(stream length) per lookup (one per append with `any`).
      revisionOfId: db.prepare<[string, string], { revision: number }>(
        `SELECT revision FROM events INDEXED BY events_stream_event_id WHERE stream = ? AND event_id = ?
         ORDER BY revision LIMIT 1`,
      ),
      streamsAfter: db.prepare<[string, number], StreamRow>(
        `SELECT stream, last_revision AS lastRevision, state, truncate_before AS truncateBefore FROM streams
         WHERE stream > ? ORDER BY stream LIMIT ?`,
      ),
      // What a scavenge may remove from one stream: below `revision < upTo` (the last event is kept unless the
      // stream is tombstoned), before the scavenge point, and hidden by `$tb`/`$maxCount` or by `$maxAge`.
      discardable: db
        .prepare<[string, number, number, number, number, number, number], number>(
          `SELECT position FROM events WHERE stream = ? AND revision < ? AND position < ? AND created < ?
           AND (revision < ? OR created < ?) ORDER BY revision LIMIT ?`,
        )
        .pluck(),
      // A whole stream goes newest first: split over transactions, what a reader behind still finds is a prefix.
      discardableNewestFirst: db
        .prepare<[string, number, number, number, number, number, number], number>(
          `SELECT position FROM events WHERE stream = ? AND revision < ? AND position < ? AND created < ?
           AND (revision < ? OR created < ?) ORDER BY revision DESC LIMIT ?`,
        )
        .pluck(),
      deleteAt: db.prepare<[number]>('DELETE FROM events WHERE position = ?'),
      idsFrom: db.prepare<[string, number, number], { eventId: string; revision: number; position: number }>(
        `SELECT event_id AS eventId, revision, position FROM events WHERE stream = ? AND revision >= ?
         ORDER BY revision LIMIT ?`,
      ),
    };
  }

  loadHead(stream: string): StreamHead | undefined {
    const row = this.stmts.head.get(stream);
    if (!row) return undefined;
    return {
      lastRevision: row.lastRevision,
      state: row.state as StreamState,
      truncateBefore: row.truncateBefore,
    };
  }

  saveHead(stream: string, head: StreamHead): void {
    this.stmts.upsertHead.run(stream, head.lastRevision, head.state, head.truncateBefore);
  }

  /** Multi-row INSERT statements by row count (one per size bucket, prepared on first use). */
  private readonly insertMany = new Map<number, Database.Statement<unknown[]>>();

  /** Inserts `events` with one statement per chunk of 64, 16, 4 or 1 rows (less per-row overhead). */
  insertAll(events: NewEvent[]): void {
    let i = 0;
    for (const size of INSERT_BUCKETS) {
      if (events.length - i < size) continue;
      const stmt = size === 1 ? this.stmts.insert : this.insertStatement(size);
      const params: unknown[] = new Array(size * 7);
      while (events.length - i >= size) {
        for (let k = 0, p = 0; k < size; k++) {
          const e = events[i++];
          params[p++] = e.position;
          params[p++] = e.stream;
          params[p++] = e.revision;
          params[p++] = e.eventId;
          params[p++] = e.type;
          params[p++] = e.created;
          params[p++] = e.wire;
        }
        stmt.run(...(params as Parameters<typeof this.stmts.insert.run>));
      }
    }
  }

  private insertStatement(rows: number): Database.Statement<unknown[]> {
    let stmt = this.insertMany.get(rows);
    if (!stmt) {
      const values = Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, ?, ?)').join(', ');
      stmt = this.db.prepare<unknown[]>(
        `INSERT INTO events (position, stream, revision, event_id, type, created, wire) VALUES ${values}`,
      );
      this.insertMany.set(rows, stmt);
    }
    return stmt;
  }

  maxPosition(): number {
    return this.stmts.maxPosition.get()?.p ?? 0;
  }

  readStreamForward(stream: string, fromRevision: number, limit: number): StoredEvent[] {
    return this.stmts.streamFwd.all(stream, fromRevision, limit);
  }

  readStreamBackward(stream: string, fromRevision: number, limit: number): StoredEvent[] {
    return this.stmts.streamBwd.all(stream, fromRevision, limit);
  }

  /** Events at `from <= position <= to`, ascending. */
  readAllForward(from: number, to: number, limit: number): StoredEvent[] {
    return this.stmts.allFwd.all(from, to, limit);
  }

  /** Events at `position < before`, descending. */
  readAllBackward(before: number, limit: number): StoredEvent[] {
    return this.stmts.allBwd.all(before, limit);
  }

  revisionOfEventId(stream: string, eventId: string): number | undefined {
    return this.stmts.revisionOfId.get(stream, eventId)?.revision;
  }

  eventIdsFrom(stream: string, fromRevision: number, count: number) {
    return this.stmts.idsFrom.all(stream, fromRevision, count);
  }

  /** Up to `limit` head rows of streams named after `after`, by name (a scavenge's walk). */
  streamsAfter(after: string, limit: number): StreamRow[] {
    return this.stmts.streamsAfter.all(after, limit);
  }

  /**
   * Positions of up to `limit` events of `stream` a scavenge may remove: revision below `upTo`, position below
   * `point`, written (ticks) before `writtenBefore`, and revision below `before` or created before `createdBefore`.
   */
  discardable(
    stream: string,
    rule: { upTo: number; before: number; createdBefore: number; newestFirst?: boolean },
    point: { position: number; writtenBefore: number },
    limit: number,
  ): number[] {
    return (rule.newestFirst ? this.stmts.discardableNewestFirst : this.stmts.discardable).all(
      stream,
      rule.upTo,
      point.position,
      point.writtenBefore,
      rule.before,
      rule.createdBefore,
      limit,
    );
  }

  deleteAt(position: number): void {
    this.stmts.deleteAt.run(position);
  }

  /** Pages of the file, and how many of them are free (left by deletes, reused by the next inserts). */
  pages(): { pages: number; free: number } {
    return {
      pages: this.db.pragma('page_count', { simple: true }) as number,
      free: this.db.pragma('freelist_count', { simple: true }) as number,
    };
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
