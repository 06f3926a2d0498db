import { randomUUID } from 'node:crypto';
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { ReadReq } from '@eventstore/db-client/generated/streams_pb';
import { streamDeletedError, toServiceError } from '../errors';
import { CommitListener } from '../storage/event-store';
import { StoredEvent, TOMBSTONE_REVISION } from '../storage/types';
import { ServerContext } from './context';
import { encodeCaughtUp, encodeCheckpoint, encodeConfirmation } from './encode';
import { EventFilter, parseFilter } from './filter';
import { resolvedWire } from './links';
import { parseStreamName, parseUint64 } from './request';
import { ReadSink } from './sink';

const PAGE_SIZE = 512;

type Call = ServerWritableStream<ReadReq, Buffer>;

/**
 * What is subscribed to. A stream's `minCreated`: events written before it are hidden by the stream's `$maxAge`
 * (as a read of the stream hides them), judged when the subscription starts.
 */
type Target =
  { kind: 'all'; filter: EventFilter | null } | { kind: 'stream'; stream: string; minCreated: number };

/**
 * A catch-up subscription: reads the log in pages from its cursor, then goes live.
 *
 * The switch to live happens in the same synchronous turn as the read that found nothing more, and commits
 * notify listeners synchronously right after committing, so no event can fall between the two (no gap) and
 * the cursor check drops anything already sent (no duplicate). When the client is slow, the subscription
 * leaves live mode, waits for the call to drain and catches up from the log again: buffering stays bounded.
 * Responses are pushed to the sink and flushed once per page / per commit (one HTTP/2 write for many events).
 */
class Subscription implements CommitListener {
  private live = false;
  private closed = false;
  private caughtUpSent = false;
  private sinceCheckpoint = 0;
  private readonly checkpointInterval: number;
  private readonly removeListener: () => void;
  private readonly unregisterShutdown: () => void;

  /** `$all`: last position examined; stream: last revision examined. */
  constructor(
    private readonly ctx: ServerContext,
    call: Call,
    private readonly sink: ReadSink,
    private readonly target: Target,
    private cursor: number,
    /** `resolveLinkTos`: links are sent resolved (links.ts). */
    private readonly resolveLinks = false,
  ) {
    this.checkpointInterval = target.kind === 'all' && target.filter ? target.filter.checkpointInterval : 0;
    this.removeListener = ctx.store.addListener(this);
    const shutdown = () => {
      this.close();
      sink.end();
    };
    ctx.shutdownHooks.add(shutdown);
    this.unregisterShutdown = () => ctx.shutdownHooks.delete(shutdown);
    const close = () => this.close();
    call.on('cancelled', close);
    call.on('close', close);
    call.on('error', close);
    call.on('finish', close);
  }

  start(): void {
    this.sink.push(encodeConfirmation(randomUUID()));
    this.resume();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.live = false;
    this.removeListener();
    this.unregisterShutdown();
  }

  private readPage(): StoredEvent[] {
    const store = this.ctx.store;
    return this.target.kind === 'all'
      ? store.readAllForward(this.cursor + 1, PAGE_SIZE)
      : store.readStreamForward(this.target.stream, this.cursor + 1, PAGE_SIZE);
  }

  /** Catches up from the log; a failure (e.g. the store closing under it) ends this call only. */
  private resume(): void {
    this.catchUp().catch((err: unknown) => {
      if (this.closed) return;
      this.close();
      this.sink.fail(toServiceError(err));
    });
  }

  private async catchUp(): Promise<void> {
    this.live = false;
    while (!this.closed && !this.ctx.store.isClosed) {
      const page = this.readPage();
      let waited = false;
      for (const e of page) {
        this.deliver(e);
        // Large events: wait within the page too, so what is queued stays bounded whatever the event size.
        if (this.sink.saturated() && !this.sink.flush()) {
          if (!(await this.drained())) return;
          waited = true;
        }
      }
      // After a wait the page is stale (commits may have come meanwhile): read on from the cursor.
      if (waited) continue;
      if (page.length < PAGE_SIZE) {
        // Caught up (a short page holds everything durable): go live in this same turn (see class comment).
        this.live = true;
        if (!this.caughtUpSent) {
          this.caughtUpSent = true;
          // A filtered `$all` subscription hears where the catch-up ended, as EventStoreDB sends it at the end of
          // its read (a sparse filter on a quiet log would otherwise wait `checkpointInterval` × 32 events for
          // one); the count to the next starts again from here.
          if (this.checkpointInterval > 0) {
            this.sinceCheckpoint = 0;
            this.sink.push(encodeCheckpoint(this.cursor));
          }
          this.sink.push(encodeCaughtUp());
        }
        this.flushLive();
        return;
      }
      if (!this.sink.flush() && !(await this.drained())) return;
    }
  }

  /** Sends what is queued; when the client is too far behind, leaves live mode until it drained. */
  private flushLive(): void {
    if (this.sink.flush()) return;
    // Too far ahead of the client: stop pushing, resume from the log once it drained.
    this.live = false;
    void this.drained().then((ok) => {
      if (ok) this.resume();
    });
  }

  private async drained(): Promise<boolean> {
    const ok = await this.sink.drained();
    return ok && !this.closed;
  }

  /** Queues `e` if it passes the filter (and a checkpoint when one is due), advances the cursor. */
  private deliver(e: StoredEvent): void {
    if (this.target.kind === 'all') {
      this.cursor = e.position;
      const filter = this.target.filter;
      if (!filter || filter.matches(e)) this.sink.push(this.wire(e));
      if (this.checkpointInterval > 0 && ++this.sinceCheckpoint >= this.checkpointInterval) {
        this.sinceCheckpoint = 0;
        this.sink.push(encodeCheckpoint(e.position));
      }
    } else {
      // A stream's tombstone record is for readers of `$all`: its subscribers are told the stream was deleted.
      if (e.revision === TOMBSTONE_REVISION) return;
      this.cursor = e.revision;
      if (e.created >= this.target.minCreated) this.sink.push(this.wire(e));
    }
  }

  private wire(e: StoredEvent): Buffer {
    return this.resolveLinks ? resolvedWire(this.ctx.store, e) : e.wire;
  }

  onCommitted(events: StoredEvent[]): void {
    if (!this.live || this.closed) return;
    for (const e of events) {
      if (this.target.kind === 'all') {
        if (e.position <= this.cursor) continue;
      } else if (e.stream !== this.target.stream || e.revision <= this.cursor) {
        continue;
      }
      this.deliver(e);
      if (this.sink.saturated()) break; // the rest of this commit is read from the log after the drain
    }
    this.flushLive();
  }

  onTombstoned(stream: string): void {
    if (this.target.kind === 'stream' && this.target.stream === stream && !this.closed) {
      this.close();
      this.sink.fail(streamDeletedError(stream));
    }
  }
}

export function startSubscription(
  ctx: ServerContext,
  call: Call,
  sink: ReadSink,
  options: ReadReq.Options,
): void {
  const store = ctx.store;
  if (options.hasAll()) {
    const ao = options.getAll() as ReadReq.Options.AllOptions;
    const filter = parseFilter(options);
    // Subscribing from a position delivers what comes after it.
    const after = ao.hasStart()
      ? 0
      : ao.hasEnd()
        ? store.lastPosition
        : parseUint64(ao.getPosition()?.getCommitPosition() ?? '0', 'commit position');
    new Subscription(ctx, call, sink, { kind: 'all', filter }, after, options.getResolveLinks()).start();
    return;
  }
  const so = options.getStream() as ReadReq.Options.StreamOptions;
  const stream = parseStreamName(so.getStreamIdentifier());
  if (store.isTombstoned(stream)) throw streamDeletedError(stream);
  const head = store.head(stream);
  let after = so.hasStart()
    ? -1
    : so.hasEnd()
      ? (head?.lastRevision ?? -1)
      : parseUint64(so.getRevision(), 'revision');
  let minCreated = 0;
  if (head) {
    const visible = store.visibility(stream, head);
    after = Math.max(after, visible.fromRevision - 1);
    minCreated = visible.minCreated;
  }
  new Subscription(
    ctx,
    call,
    sink,
    { kind: 'stream', stream, minCreated },
    after,
    options.getResolveLinks(),
  ).start();
}
