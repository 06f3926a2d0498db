import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { encodeEventResp, eventDataOf } from '../streams/encode';
import { GroupCommitTuner } from './group-commit';
import { SqliteEventLog, StreamRow, SynchronousMode } from './sqlite-event-log';
import {
  isMetastream,
  metastreamOf,
  originalStreamOf,
  parseStreamMetadata,
  softDeletedMetadata,
  StreamMetadata,
  withTruncateBefore,
} from './stream-metadata';
import {
  ExpectedRevision,
  NewEvent,
  Position,
  ProposedEvent,
  StoredEvent,
  StreamHead,
  STREAM_DELETED_TYPE,
  StreamState,
  TOMBSTONE_REVISION,
  WriteOutcome,
} from './types';

const NOTHING = Buffer.alloc(0);

export interface CommitListener {
  /** Called synchronously right after a transaction committed, with its events in `$all` order. */
  onCommitted(events: StoredEvent[]): void;
  onTombstoned?(stream: string): void;
}

type WriteRequest =
  | { kind: 'append'; stream: string; expected: ExpectedRevision; events: ProposedEvent[] }
  | { kind: 'delete'; stream: string; expected: ExpectedRevision; tombstone: boolean };

interface Queued {
  request: WriteRequest;
  done: (outcome: WriteOutcome) => void;
}

/** A committed flush whose acknowledgements wait for the WAL to be on disk. */
interface Committed {
  ctx: FlushContext;
  batch: Queued[];
  outcomes: WriteOutcome[];
}

/** The visible window of a stream for reads, after soft deletes and stream metadata are applied. */
export interface Visibility {
  fromRevision: number;
  /** Events created before this (ticks) are hidden by `$maxAge`; 0 when no limit. */
  minCreated: number;
}

const TICKS_PER_MS = 10_000;
/** A scavenge's transactions: at most this many streams looked at, and this many events removed, per turn. */
const SCAVENGE_STREAMS_PER_BATCH = 256;
const SCAVENGE_EVENTS_PER_BATCH = 512;
/**
 * A scavenge removes no event written less than this long ago. EventStoreDB scavenges only completed chunks
 * (256 MB each), never the one being written, so a reader a little behind the log — a projector stopped for an
 * hour, a subscriber catching up — still reads what was hidden after it passed; a day gives it as long here.
 * Removing an event a lagging projector had not read would let it fold a stream with a gap.
 */
export const SCAVENGE_MIN_AGE_MS = 24 * 60 * 60 * 1000;

/** What one scavenge did (see `EventStore.scavenge`). */
export interface ScavengeResult {
  /** Events removed from the log. */
  deleted: number;
  /** Streams looked at. */
  streams: number;
  /** Streams passed over because a write to them was still waiting for its fsync (the next scavenge sees them). */
  skipped: number;
  /** Transactions it took (one per turn of the event loop), and the longest of them (ms): how long writes waited. */
  batches: number;
  longestBatchMs: number;
  ms: number;
  /** The log file's pages, and how many are free (reused by later writes; the file does not shrink). */
  pages: number;
  freePages: number;
}

/** Which events of one stream a scavenge removes: see `SqliteEventLog.discardable`. */
interface DiscardRule {
  upTo: number;
  before: number;
  createdBefore: number;
  /**
   * A tombstoned stream (or its metadata stream): removed however recently it was written — its events can never
   * be read by stream again —, newest first. A stream longer than one transaction's budget goes over several,
   * and a reader of `$all` between them finds what is left of it from its start: a shorter stream, never one with
   * a gap it would fold.
   */
  anyAge?: boolean;
  newestFirst?: boolean;
}

/** EventStoreDB's `$maxCount` of every metadata stream (its MetastreamMaxCount option, 1 by default). */
const METASTREAM_MAX_COUNT = 1;
/** Streams whose head (and, apart, whose metadata) the store keeps in memory by default: ~10–60 MB. */
export const DEFAULT_CACHE_LIMIT = 50_000;

const NO_HEAD: StreamHead = { lastRevision: -1, state: StreamState.Live, truncateBefore: 0 };

/** Tracks what one flush has written so far; nothing reaches the caches until the commit succeeded. */
class FlushContext {
  readonly heads = new Map<string, StreamHead>();
  readonly inserted: NewEvent[] = [];
  readonly tombstoned: string[] = [];
  constructor(
    public lastPosition: number,
    readonly created: number,
  ) {}
}

/**
 * The single writer and the shared read state over the SQLite log.
 *
 * Group commit: writes are queued and flushed on the next turn of the event loop (`setImmediate`) in one
 * SQLite transaction — or, while writes keep coming and that is measured to pay, after the group-commit window
 * (`GroupCommitTuner`). Each request is validated against the heads as left by the requests before it (in the
 * same flush, or in committed flushes still waiting for their fsync), so a request is all-or-nothing while a
 * failing one does not abort the others.
 * Durability on acknowledgement (FULL): a committed flush waits for an fsync of the WAL, run on libuv's
 * thread pool, one at a time; every flush committed before an fsync started is durable when it returns.
 * Only then is it published (heads, `$all` position), shown to subscribers and acknowledged, in commit
 * order. Until then reads do not see it (they are cut at the durable position), so nobody reads an event
 * that a power loss could take back. Meanwhile the event loop decodes, validates and commits the next
 * appends, which is what makes FULL cheap: the disk and the CPU work at the same time.
 * Commit listeners (live subscriptions) are called synchronously on publication, before the next read can
 * run, which is what lets a subscription switch from catch-up to live without a gap or a duplicate.
 */
export class EventStore {
  private readonly log: SqliteEventLog;
  private queue: Queued[] = [];
  private scheduled = false;
  private closed = false;
  /**
   * Heads as readers see them: durable writes only. A cache of the log's head rows, bounded (`cacheLimit`): the
   * oldest-used durable heads are dropped and read again from the log when next needed — never one with a write
   * still waiting for its fsync (in `written`), whose row in the log is ahead of what readers may see.
   */
  private readonly heads = new Map<string, StreamHead>();
  /** Heads written by committed flushes whose fsync has not completed yet (what the next flush builds on). */
  private readonly written = new Map<string, StreamHead>();
  /** Readers' metadata per stream (`null`: none), derived from durable heads; bounded as `heads` is. */
  private readonly metadataCache = new Map<string, StreamMetadata | null>();
  /** Inside `flush`'s transaction, where nothing is dropped from the caches (see `trimCaches`). */
  private flushing = false;
  private readonly listeners = new Set<CommitListener>();
  /** Last durable position in `$all`: what reads and subscriptions see. */
  private position: number;
  /** Last position written (committed; with FULL possibly not yet fsynced). */
  private writtenPosition: number;

  /** Whether a flush waits for more appends to join it (see GroupCommitTuner). */
  private readonly groupCommit: GroupCommitTuner;
  /** The timer of a flush held for the group-commit window (cleared by any flush, close()'s included). */
  private heldFlush: NodeJS.Timeout | undefined;
  /** FULL: commits go to the WAL without fsync; one fsync of the WAL (off the event loop) acknowledges them. */
  private readonly syncAfterCommit: boolean;
  private walFd: number | undefined;
  private awaitingSync: Committed[] = [];
  private syncing: Committed[] | null = null;
  private broken: string | undefined;

  /**
   * @param groupCommitWindowMs while writes keep coming, how long a flush may wait so that concurrent appends
   *   share one transaction — only while waiting is measured to commit more writes per second than flushing at
   *   once (`GroupCommitTuner`); an idle store flushes on the next turn (`setImmediate`). 0 (default here)
   *   always flushes on the next turn.
   */
  constructor(
    dataDir: string,
    synchronous: SynchronousMode = 'FULL',
    groupCommitWindowMs = 0,
    /**
     * How many streams' heads, and how many streams' metadata, are kept in memory. Without a bound both grew by
     * one entry for every stream ever read or written (every session, profile and idempotency record), for as
     * long as the process ran.
     */
    private readonly cacheLimit = DEFAULT_CACHE_LIMIT,
    /** See `EmbeddedEventStoreOptions.maxLogPages`. */
    maxLogPages?: number,
    /**
     * The wall clock (ms since the epoch): events' `created`, what `$maxAge` hides, what a scavenge removes.
     * Tests move it forward instead of waiting.
     */
    private readonly now: () => number = Date.now,
  ) {
    this.groupCommit = new GroupCommitTuner({ windowMs: groupCommitWindowMs });
    // FULL durability is kept by fsyncing the WAL ourselves after each commit, asynchronously, so the event
    // loop keeps decoding and validating the next appends (and the next commit) while the disk works. SQLite
    // itself then runs with NORMAL (which still syncs around checkpoints and WAL resets).
    this.syncAfterCommit = synchronous === 'FULL';
    this.log = new SqliteEventLog(dataDir, 'NORMAL', maxLogPages);
    this.position = this.log.maxPosition();
    this.writtenPosition = this.position;
  }

  /** Position of the last committed event in `$all` (0 when empty). */
  get lastPosition(): number {
    return this.position;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  addListener(listener: CommitListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  head(stream: string): StreamHead | undefined {
    let head = this.heads.get(stream);
    if (head) {
      // Moved to the end: the streams used last are the last dropped (a Map keeps insertion order).
      this.heads.delete(stream);
      this.heads.set(stream, head);
    } else {
      head = this.log.loadHead(stream);
      if (head) {
        this.heads.set(stream, head);
        this.trimCaches();
      }
    }
    return head;
  }

  /** How many streams' heads and metadata are held in memory now (at most `cacheLimit` each between writes). */
  get cachedStreams(): { heads: number; metadata: number } {
    return { heads: this.heads.size, metadata: this.metadataCache.size };
  }

  /**
   * Drops the entries used longest ago once a cache holds more than `cacheLimit`, down to 90 % of it (so the
   * walk is paid once per tenth of the limit). Never inside `flush`: a head dropped there, of a stream the
   * flush is writing, would be read again from the log row the flush has just committed, before its fsync.
   */
  private trimCaches(): void {
    if (this.flushing) return;
    const keep = Math.floor(this.cacheLimit * 0.9);
    if (this.heads.size > this.cacheLimit) {
      for (const stream of this.heads.keys()) {
        if (this.heads.size <= keep) break;
        if (!this.written.has(stream)) this.heads.delete(stream);
      }
    }
    if (this.metadataCache.size > this.cacheLimit) {
      for (const stream of this.metadataCache.keys()) {
        if (this.metadataCache.size <= keep) break;
        this.metadataCache.delete(stream);
      }
    }
  }

  /** The stream's metadata as readers see it (durable writes only). */
  metadata(stream: string): StreamMetadata | null {
    if (this.metadataCache.has(stream)) {
      const cached = this.metadataCache.get(stream) ?? null;
      this.metadataCache.delete(stream);
      this.metadataCache.set(stream, cached);
      return cached;
    }
    const head = this.head(metastreamOf(stream));
    const [last] =
      head && head.lastRevision >= 0
        ? this.log.readStreamBackward(metastreamOf(stream), head.lastRevision, 1)
        : [];
    const meta = last ? parseStreamMetadata(eventDataOf(last.wire)) : null;
    this.metadataCache.set(stream, meta);
    this.trimCaches();
    return meta;
  }

  /** The latest metadata written, durable or not, this flush included (what a write builds on). */
  private writtenMetadata(ctx: FlushContext, stream: string): StreamMetadata | null {
    const metastream = metastreamOf(stream);
    if (!ctx.heads.has(metastream) && !this.written.has(metastream)) return this.metadata(stream);
    const [last] = this.log.readStreamBackward(metastreamOf(stream), Number.MAX_SAFE_INTEGER, 1);
    return last ? parseStreamMetadata(eventDataOf(last.wire)) : null;
  }

  /**
   * Tombstoned, or the metadata stream of a tombstoned stream: EventStoreDB deletes a stream's metadata with it
   * (reads and writes of `$$<stream>` answer StreamDeleted).
   */
  isTombstoned(stream: string): boolean {
    if (this.head(stream)?.state === StreamState.Tombstoned) return true;
    return isMetastream(stream) && this.head(originalStreamOf(stream))?.state === StreamState.Tombstoned;
  }

  /** Soft-deleted: reads answer not found while its metadata's `$tb` is the deleted-stream marker. */
  isSoftDeleted(stream: string, head: StreamHead): boolean {
    if (head.state === StreamState.SoftDeleted) return true;
    return !isMetastream(stream) && this.metadata(stream)?.softDeleted === true;
  }

  visibility(stream: string, head: StreamHead): Visibility {
    let fromRevision = head.truncateBefore;
    // A metadata stream (`$$<stream>`) is read as EventStoreDB reads it: with metadata of its own, `$maxCount`
    // 1 whatever `$$$$<stream>` holds (IndexReader.GetStreamMetadataCached, MetastreamMaxCount), so reads and
    // catch-up subscriptions see its latest `$metadata` only. The older ones stay in `$all`, as in EventStoreDB
    // until a scavenge removes them (`scavenge`).
    if (isMetastream(stream)) {
      return {
        fromRevision: Math.max(fromRevision, head.lastRevision - METASTREAM_MAX_COUNT + 1),
        minCreated: 0,
      };
    }
    let minCreated = 0;
    const meta = this.metadata(stream);
    if (meta) {
      // A soft delete's `$tb` (2⁶³−1) hides the events so far, and no more: a subscription starts after the
      // last one and receives what is written next.
      const truncateBefore = meta.softDeleted ? head.lastRevision + 1 : meta.truncateBefore;
      if (truncateBefore !== undefined) fromRevision = Math.max(fromRevision, truncateBefore);
      if (meta.maxCount !== undefined)
        fromRevision = Math.max(fromRevision, head.lastRevision - meta.maxCount + 1);
      if (meta.maxAge !== undefined) minCreated = (this.now() - meta.maxAge * 1000) * TICKS_PER_MS;
    }
    return { fromRevision, minCreated };
  }

  /**
   * EventStoreDB's scavenge, over the whole log: removes the events no stream read can return any more, as
   * EventStoreDB's scavenge discards them (its Scavenging/Stages/EventCalculator):
   * - of a tombstoned stream, every event, and every event of its metadata stream (the head row, which keeps
   *   the stream tombstoned and its last revision, plays the part of EventStoreDB's tombstone record), however
   *   recently written: an erasure is physical at the next scavenge, not a day later;
   * - of a metadata stream, every `$metadata` but the latest (`$maxCount` 1);
   * - of any other stream, the events before its `$tb` (a soft delete's included) or beyond its `$maxCount`,
   *   and those older than its `$maxAge` now — but never the stream's last event, which EventStoreDB keeps
   *   physically however old (so a one-event stream past its `$maxAge`, such as an idempotency record, stays).
   * Only events before the scavenge point (the last durable position when it starts) and — but for tombstoned
   * streams — written at least SCAVENGE_MIN_AGE_MS before it are removed, so the last event of `$all` always stays, positions never go back
   * on a restart, and a reader a day behind still reads what it has not passed; stream heads are never touched, so
   * revisions go on where they were and every expected-revision check answers as before. A stream with a
   * write still waiting for its fsync is passed over (its log row is ahead of what readers see).
   * The work is split into short transactions, one per turn of the event loop (at most
   * SCAVENGE_STREAMS_PER_BATCH streams and SCAVENGE_EVENTS_PER_BATCH deletes): a flush runs between two of
   * them, never inside one, as reads and subscription pages do. Removed positions simply disappear from `$all`.
   * One scavenge at a time: a second call while one runs returns the running one.
   */
  scavenge(): Promise<ScavengeResult> {
    this.scavenging ??= this.runScavenge().finally(() => (this.scavenging = undefined));
    return this.scavenging;
  }

  private scavenging: Promise<ScavengeResult> | undefined;

  private async runScavenge(): Promise<ScavengeResult> {
    const started = performance.now();
    const nowTicks = this.now() * TICKS_PER_MS;
    const point = { position: this.position, writtenBefore: nowTicks - SCAVENGE_MIN_AGE_MS * TICKS_PER_MS };
    const result = { deleted: 0, streams: 0, skipped: 0, batches: 0, longestBatchMs: 0 };
    let after: string | undefined = '';
    while (after !== undefined && !this.closed && !this.broken) {
      const batchStarted = performance.now();
      after = this.scavengeBatch(after, point, nowTicks, result);
      result.batches++;
      result.longestBatchMs = Math.max(result.longestBatchMs, Math.round(performance.now() - batchStarted));
      if (after !== undefined) await new Promise((resolve) => setImmediate(resolve));
    }
    const { pages, free } = this.closed ? { pages: 0, free: 0 } : this.log.pages();
    return { ...result, ms: Math.round(performance.now() - started), pages, freePages: free };
  }

  /** One transaction of a scavenge, from the stream after `after`; returns where the next one starts (none: done). */
  private scavengeBatch(
    after: string,
    point: { position: number; writtenBefore: number },
    nowTicks: number,
    result: { deleted: number; streams: number; skipped: number },
  ): string | undefined {
    return this.log.transaction(() => {
      const rows = this.log.streamsAfter(after, SCAVENGE_STREAMS_PER_BATCH);
      let budget = SCAVENGE_EVENTS_PER_BATCH;
      let done = after;
      for (const row of rows) {
        const rule = this.discardRule(row, nowTicks);
        if (rule === 'skip') result.skipped++;
        else if (rule) {
          const positions = this.log.discardable(
            row.stream,
            rule,
            rule.anyAge ? { ...point, writtenBefore: Number.MAX_VALUE } : point,
            budget + 1,
          );
          const removed = positions.slice(0, budget);
          for (const position of removed) this.log.deleteAt(position);
          budget -= removed.length;
          result.deleted += removed.length;
          // More than the budget: this stream again in the next transaction.
          if (positions.length > removed.length) return done;
        }
        result.streams++;
        done = row.stream;
        if (budget === 0) return done;
      }
      return rows.length < SCAVENGE_STREAMS_PER_BATCH ? undefined : done;
    });
  }

  /** What a scavenge removes from a stream (its head as the log holds it): nothing, or 'skip' while a write waits. */
  private discardRule(row: StreamRow, nowTicks: number): DiscardRule | undefined | 'skip' {
    const { stream, lastRevision } = row;
    const original = isMetastream(stream) ? originalStreamOf(stream) : undefined;
    const other = original ?? metastreamOf(stream);
    if (this.written.has(stream) || this.written.has(other)) return 'skip';
    if (lastRevision < 0) return undefined;
    const everything = {
      upTo: lastRevision + 1,
      before: lastRevision + 1,
      createdBefore: 0,
      anyAge: true,
      newestFirst: true,
    };
    if (original !== undefined) {
      if (this.log.loadHead(original)?.state === StreamState.Tombstoned) return everything;
      return { upTo: lastRevision, before: lastRevision - METASTREAM_MAX_COUNT + 1, createdBefore: 0 };
    }
    if (row.state === StreamState.Tombstoned) return everything;
    let before = row.state === StreamState.SoftDeleted ? lastRevision + 1 : row.truncateBefore;
    let createdBefore = 0;
    const metaHead = this.log.loadHead(other);
    const [last] =
      metaHead && metaHead.lastRevision >= 0
        ? this.log.readStreamBackward(other, metaHead.lastRevision, 1)
        : [];
    const meta = last ? parseStreamMetadata(eventDataOf(last.wire)) : null;
    if (meta) {
      // As `visibility` reads it.
      if (meta.softDeleted) before = Math.max(before, lastRevision + 1);
      else if (meta.truncateBefore !== undefined) before = Math.max(before, meta.truncateBefore);
      if (meta.maxCount !== undefined) before = Math.max(before, lastRevision - meta.maxCount + 1);
      if (meta.maxAge !== undefined) createdBefore = nowTicks - meta.maxAge * 1000 * TICKS_PER_MS;
    }
    if (before <= 0 && createdBefore <= 0) return undefined;
    return { upTo: lastRevision, before, createdBefore };
  }

  // Reads see durable events only: a commit waiting for its fsync is invisible, as if not yet written.
  readStreamForward(stream: string, fromRevision: number, limit: number): StoredEvent[] {
    return this.durable(this.log.readStreamForward(stream, fromRevision, limit));
  }

  readStreamBackward(stream: string, fromRevision: number, limit: number): StoredEvent[] {
    return this.durable(this.log.readStreamBackward(stream, fromRevision, limit));
  }

  readAllForward(from: number, limit: number): StoredEvent[] {
    // Cut at the durable position in the query itself: a scavenge leaves gaps, so a page may only be short at the end.
    return from <= this.position ? this.log.readAllForward(from, this.position, limit) : [];
  }

  readAllBackward(before: number, limit: number): StoredEvent[] {
    return this.durable(this.log.readAllBackward(Math.min(before, this.position + 1), limit));
  }

  private durable(events: StoredEvent[]): StoredEvent[] {
    if (this.writtenPosition === this.position) return events;
    return events.filter((e) => e.position <= this.position);
  }

  append(stream: string, expected: ExpectedRevision, events: ProposedEvent[]): Promise<WriteOutcome> {
    return this.enqueue({ kind: 'append', stream, expected, events });
  }

  delete(stream: string, expected: ExpectedRevision, tombstone: boolean): Promise<WriteOutcome> {
    return this.enqueue({ kind: 'delete', stream, expected, tombstone });
  }

  private enqueue(request: WriteRequest): Promise<WriteOutcome> {
    if (this.closed) return Promise.resolve({ kind: 'failed', message: 'The event store is shutting down' });
    if (this.broken) return Promise.resolve({ kind: 'failed', message: this.broken });
    return new Promise((done) => {
      this.queue.push({ request, done });
      this.schedule();
    });
  }

  private schedule(): void {
    // While an fsync is in flight, what arrives could not be acknowledged before the next fsync anyway: it stays
    // queued and is committed in one transaction when that fsync returns (syncWal), instead of in one small
    // transaction per turn of the event loop. Fewer, larger commits: less CPU per event, same latency.
    if (this.scheduled || this.syncing || this.queue.length === 0) return;
    this.scheduled = true;
    const delay = this.groupCommit.delayMs(performance.now());
    if (delay > 0) this.heldFlush = setTimeout(() => this.flush(), delay);
    else setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    clearTimeout(this.heldFlush);
    this.heldFlush = undefined;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const ctx = new FlushContext(this.writtenPosition, this.now() * TICKS_PER_MS);
    let outcomes: WriteOutcome[];
    this.flushing = true;
    try {
      outcomes = this.log.transaction(() => {
        const results = batch.map(({ request }) =>
          request.kind === 'append'
            ? this.applyAppend(ctx, request.stream, request.expected, request.events)
            : this.applyDelete(ctx, request.stream, request.expected, request.tombstone),
        );
        for (const [stream, head] of ctx.heads) this.log.saveHead(stream, head);
        return results;
      });
    } catch (err) {
      const message = `Write failed: ${(err as Error).message}`;
      for (const { done } of batch) done({ kind: 'failed', message });
      return;
    } finally {
      this.flushing = false;
    }
    for (const [stream, head] of ctx.heads) this.written.set(stream, head);
    this.writtenPosition = ctx.lastPosition;
    this.groupCommit.flushed(performance.now(), batch.length);
    const committed = { ctx, batch, outcomes };
    if (!this.syncAfterCommit) return this.publish(committed);
    this.awaitingSync.push(committed);
    this.syncWal();
  }

  /**
   * One fsync of the WAL at a time (on libuv's thread pool); every commit made before it started is durable
   * when it returns and is then published and acknowledged, in commit order.
   */
  private syncWal(): void {
    if (this.syncing || this.awaitingSync.length === 0 || this.closed) return;
    const group = this.awaitingSync;
    this.awaitingSync = [];
    this.syncing = group;
    this.walFd ??= fs.openSync(`${this.log.file}-wal`, 'r');
    fs.fsync(this.walFd, (err) => {
      if (this.closed || this.syncing !== group) return; // close() made them durable and answered them
      this.syncing = null;
      if (err) return this.failDurability(group, err);
      for (const committed of group) this.publish(committed);
      this.syncWal();
      // What was queued meanwhile is flushed on the next turn, after the acknowledgements above went out.
      this.schedule();
    });
  }

  /** The WAL could not be synced: nothing written since the last good fsync may be acknowledged. */
  private failDurability(group: Committed[], err: Error): void {
    this.broken = `The event store cannot make writes durable (fsync failed: ${err.message}); restart it`;
    const failed: WriteOutcome = { kind: 'failed', message: this.broken };
    for (const committed of [...group, ...this.awaitingSync]) {
      for (const { done } of committed.batch) done(failed);
    }
    this.awaitingSync = [];
    // Writes queued while the fsync ran are not committed at all.
    for (const { done } of this.queue) done(failed);
    this.queue = [];
  }

  /** Durable: publish the new state, then notify subscribers, then acknowledge. */
  private publish({ ctx, batch, outcomes }: Committed): void {
    for (const [stream, head] of ctx.heads) {
      // Moved to the end, as on a read.
      this.heads.delete(stream);
      this.heads.set(stream, head);
      if (this.written.get(stream) === head) this.written.delete(stream);
      if (isMetastream(stream)) this.metadataCache.delete(stream.slice(2));
    }
    this.trimCaches();
    this.position = ctx.lastPosition;
    if (ctx.inserted.length > 0) {
      for (const listener of this.listeners) {
        try {
          listener.onCommitted(ctx.inserted);
        } catch {
          // A failing subscriber must not affect the writer or other subscribers.
        }
      }
    }
    for (const stream of ctx.tombstoned) {
      for (const listener of this.listeners) listener.onTombstoned?.(stream);
    }
    batch.forEach(({ done }, i) => done(outcomes[i]));
  }

  private currentHead(ctx: FlushContext, stream: string): StreamHead {
    const head = ctx.heads.get(stream) ?? this.written.get(stream) ?? this.head(stream);
    if (head) return head;
    // Readers must go on finding no stream until this write is durable, not the head row it is about to add.
    this.heads.set(stream, NO_HEAD);
    return NO_HEAD;
  }

  /** The head a write builds on, without caching anything for a stream never written (a lookup only). */
  private writtenHead(ctx: FlushContext, stream: string): StreamHead | undefined {
    return ctx.heads.get(stream) ?? this.written.get(stream) ?? this.head(stream);
  }

  private writtenTombstoned(ctx: FlushContext, stream: string): boolean {
    if (this.writtenHead(ctx, stream)?.state === StreamState.Tombstoned) return true;
    return (
      isMetastream(stream) &&
      this.writtenHead(ctx, originalStreamOf(stream))?.state === StreamState.Tombstoned
    );
  }

  private writtenSoftDeleted(ctx: FlushContext, stream: string): boolean {
    if (this.writtenHead(ctx, stream)?.state === StreamState.SoftDeleted) return true;
    return !isMetastream(stream) && this.writtenMetadata(ctx, stream)?.softDeleted === true;
  }

  private hasMetadata(ctx: FlushContext, stream: string): boolean {
    return (this.writtenHead(ctx, metastreamOf(stream))?.lastRevision ?? -1) >= 0;
  }

  /**
   * EventStoreDB's check of an expectation (IndexWriter.CheckCommit), idempotence aside: null when the write
   * may go ahead. A soft-deleted stream keeps its last revision: `no_stream` is met (the first write brings it
   * back) and so is its last revision, while `stream_exists` is refused as deleted. A stream that has metadata
   * but no event exists for `stream_exists`.
   */
  private refusal(
    ctx: FlushContext,
    stream: string,
    head: StreamHead,
    softDeleted: boolean,
    expected: ExpectedRevision,
  ): WriteOutcome | null {
    const wrong: WriteOutcome = {
      kind: 'wrong_expected_version',
      currentRevision: head.lastRevision,
      expected,
    };
    switch (expected.kind) {
      case 'any':
        return null;
      case 'stream_exists':
        if (softDeleted) return { kind: 'stream_deleted' };
        return head.lastRevision >= 0 || this.hasMetadata(ctx, stream) ? null : wrong;
      case 'no_stream':
        return head.lastRevision < 0 || softDeleted ? null : wrong;
      case 'revision':
        return expected.revision === head.lastRevision ? null : wrong;
    }
  }

  /**
   * EventStoreDB idempotence: when the proposed event ids are already the events at the place this write
   * would have put them, the write succeeds again without duplicating anything; when only some of them are,
   * it is refused.
   */
  private idempotentOutcome(
    stream: string,
    head: StreamHead,
    expected: ExpectedRevision,
    events: ProposedEvent[],
  ): WriteOutcome | null {
    if (events.length === 0 || head.lastRevision < 0) return null;
    const first = this.log.revisionOfEventId(stream, events[0].eventId);
    if (first === undefined) return null;
    if (expected.kind === 'revision' && first !== expected.revision + 1) return null;
    if (expected.kind === 'no_stream' && first !== 0) return null;
    const existing = this.log.eventIdsFrom(stream, first, events.length);
    const matches =
      existing.length === events.length && existing.every((row, i) => row.eventId === events[i].eventId);
    if (!matches) return { kind: 'wrong_expected_version', currentRevision: head.lastRevision, expected };
    const last = existing[existing.length - 1];
    return {
      kind: 'ok',
      currentRevision: last.revision,
      position: { commit: last.position, prepare: last.position },
    };
  }

  private applyAppend(
    ctx: FlushContext,
    stream: string,
    expected: ExpectedRevision,
    events: ProposedEvent[],
  ): WriteOutcome {
    if (this.writtenTombstoned(ctx, stream)) return { kind: 'stream_deleted' };
    const head = this.currentHead(ctx, stream);
    const softDeleted = this.writtenSoftDeleted(ctx, stream);
    const refused = this.refusal(ctx, stream, head, softDeleted, expected);
    if (refused?.kind === 'stream_deleted') return refused;
    // A met exact-revision expectation, or `no_stream` on a stream without events, puts the events where no
    // event is yet: it cannot be a repeat, so no lookup is needed. A met `no_stream` on a soft-deleted stream
    // (which has events) can be one, of its first events at revision 0.
    const softDeletedFirstWrite = expected.kind === 'no_stream' && head.lastRevision >= 0;
    if (refused || expected.kind === 'any' || expected.kind === 'stream_exists' || softDeletedFirstWrite) {
      const idempotent = this.idempotentOutcome(stream, head, expected, events);
      if (idempotent) return idempotent;
    }
    if (refused) return refused;
    const original = isMetastream(stream) ? originalStreamOf(stream) : undefined;
    const originalSoftDeleted = original !== undefined && this.writtenSoftDeleted(ctx, original);
    const written = events.length > 0 ? this.insert(ctx, stream, head, events) : null;
    // Writing a soft-deleted stream brings it back, as EventStoreDB's writer does (SoftUndeleteStream): one more
    // `$metadata`, the latest with `$tb` = the first new revision, keeps the old events hidden. So does
    // writing the metadata of a soft-deleted stream (SoftUndeleteMetastream): `$tb` = the revision after its
    // last. Even an empty write does.
    if (softDeleted) this.undelete(ctx, stream, head.lastRevision + 1);
    if (originalSoftDeleted) {
      this.undelete(ctx, original, (this.writtenHead(ctx, original)?.lastRevision ?? -1) + 1);
    }
    if (!written) return { kind: 'ok', currentRevision: head.lastRevision, position: null };
    return { kind: 'ok', currentRevision: written.revision, position: written.position };
  }

  /** Adds `events` after `head` (nothing checked: the caller did). */
  private insert(
    ctx: FlushContext,
    stream: string,
    head: StreamHead,
    events: ProposedEvent[],
  ): { revision: number; position: Position } {
    let revision = head.lastRevision;
    const first = ctx.inserted.length;
    for (const e of events) {
      const position = ++ctx.lastPosition;
      ctx.inserted.push({
        position,
        stream,
        revision: ++revision,
        eventId: e.eventId,
        type: e.type,
        created: ctx.created,
        // Encoded once here: stored as is, sent as is to every reader and live subscriber.
        wire: encodeEventResp({
          position,
          stream,
          revision,
          eventId: e.eventId,
          type: e.type,
          contentType: e.contentType,
          created: ctx.created,
          data: e.data,
          metadata: e.metadata,
        }),
      });
    }
    // Written before the next request of the flush is validated (its idempotence check reads the table).
    this.log.insertAll(first === 0 ? ctx.inserted : ctx.inserted.slice(first));
    ctx.heads.set(stream, {
      lastRevision: revision,
      state: StreamState.Live,
      truncateBefore: head.truncateBefore,
    });
    return { revision, position: { commit: ctx.lastPosition, prepare: ctx.lastPosition } };
  }

  private writeMetadata(
    ctx: FlushContext,
    stream: string,
    data: Buffer,
  ): { revision: number; position: Position } {
    const metastream = metastreamOf(stream);
    return this.insert(ctx, metastream, this.currentHead(ctx, metastream), [
      {
        eventId: randomUUID(),
        type: '$metadata',
        contentType: 'application/json',
        data,
        metadata: Buffer.alloc(0),
      },
    ]);
  }

  /** The stream is live again from `truncateBefore` on: its latest metadata, written again with that `$tb`. */
  private undelete(ctx: FlushContext, stream: string, truncateBefore: number): void {
    const head = this.writtenHead(ctx, stream);
    // A stream soft-deleted by an earlier version of this server kept that in its head.
    if (head?.state === StreamState.SoftDeleted) ctx.heads.set(stream, { ...head, state: StreamState.Live });
    const raw = this.writtenMetadata(ctx, stream)?.raw;
    // Metadata that is not a JSON object is left as it is, as EventStoreDB does (SoftUndeleteRawMeta fails).
    if (raw) this.writeMetadata(ctx, stream, withTruncateBefore(raw, truncateBefore));
  }

  private applyDelete(
    ctx: FlushContext,
    stream: string,
    expected: ExpectedRevision,
    tombstone: boolean,
  ): WriteOutcome {
    if (this.writtenTombstoned(ctx, stream)) return { kind: 'stream_deleted' };
    const head = this.currentHead(ctx, stream);
    const refused = this.refusal(ctx, stream, head, this.writtenSoftDeleted(ctx, stream), expected);
    if (refused) return refused;
    if (tombstone) {
      // The head keeps the stream tombstoned; the record tells readers of `$all` (see STREAM_DELETED_TYPE).
      const position = ++ctx.lastPosition;
      const eventId = randomUUID();
      const record: NewEvent = {
        position,
        stream,
        revision: TOMBSTONE_REVISION,
        eventId,
        type: STREAM_DELETED_TYPE,
        created: ctx.created,
        wire: encodeEventResp({
          position,
          stream,
          revision: TOMBSTONE_REVISION,
          eventId,
          type: STREAM_DELETED_TYPE,
          contentType: 'application/octet-stream',
          created: ctx.created,
          data: NOTHING,
          metadata: NOTHING,
        }),
      };
      ctx.inserted.push(record);
      this.log.insertAll([record]);
      ctx.heads.set(stream, { ...head, state: StreamState.Tombstoned });
      ctx.tombstoned.push(stream);
      return {
        kind: 'ok',
        currentRevision: head.lastRevision,
        position: { commit: position, prepare: position },
      };
    }
    // Soft delete, as EventStoreDB's writer does it (StorageWriterService, WriteDelete): nothing to delete
    // when the stream has neither events nor metadata, whatever the expectation; otherwise the stream's
    // metadata becomes `$tb` = 2⁶³−1 alone, and the stream reads as not found until it is written again
    // (its revisions then continue). Deleting it again writes that again.
    if (head.lastRevision < 0 && !this.hasMetadata(ctx, stream)) {
      return { kind: 'wrong_expected_version', currentRevision: -1, expected };
    }
    const { position } = this.writeMetadata(ctx, stream, softDeletedMetadata());
    return { kind: 'ok', currentRevision: head.lastRevision, position };
  }

  /** Flushes what is queued, makes it durable and acknowledges it, then closes the database. */
  close(): void {
    if (this.closed) return;
    this.flush();
    const unsynced = [...(this.syncing ?? []), ...this.awaitingSync];
    this.syncing = null;
    this.awaitingSync = [];
    if (unsynced.length > 0) {
      try {
        fs.fsyncSync(this.walFd ?? fs.openSync(`${this.log.file}-wal`, 'r'));
        for (const committed of unsynced) this.publish(committed);
      } catch (err) {
        this.failDurability(unsynced, err as Error);
      }
    }
    if (this.walFd !== undefined) fs.closeSync(this.walFd);
    this.closed = true;
    this.listeners.clear();
    this.log.close();
  }
}
