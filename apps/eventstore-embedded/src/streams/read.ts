import type { ServerWritableStream } from '@grpc/grpc-js';
import { ReadReq } from '@eventstore/db-client/generated/streams_pb';
import { BadRequest, streamDeletedError, toServiceError } from '../errors';
import { StoredEvent } from '../storage/types';
import { ServerContext } from './context';
import { encodeStreamNotFound } from './encode';
import { EventFilter, parseFilter } from './filter';
import { resolvedWire } from './links';
import { parseStreamName, parseUint64 } from './request';
import { ReadSink, readSink } from './sink';
import { startSubscription } from './subscriptions';

const PAGE_SIZE = 512;
const BACKWARDS = 1;

type Call = ServerWritableStream<ReadReq, Buffer>;

/** A cursor over the log in the read's direction; a page shorter than `limit` means the end. */
type NextPage = (limit: number) => StoredEvent[];

interface FiniteRead {
  next: NextPage;
  visible: (e: StoredEvent) => boolean;
}

function streamRead(ctx: ServerContext, sink: ReadSink, options: ReadReq.Options): FiniteRead | null {
  const so = options.getStream() as ReadReq.Options.StreamOptions;
  const stream = parseStreamName(so.getStreamIdentifier());
  if (ctx.store.isTombstoned(stream)) throw streamDeletedError(stream);
  const head = ctx.store.head(stream);
  if (!head || head.lastRevision < 0 || ctx.store.isSoftDeleted(stream, head)) {
    sink.push(encodeStreamNotFound(stream));
    return null;
  }
  const { fromRevision: lowest, minCreated } = ctx.store.visibility(stream, head);
  const visible = (e: StoredEvent) => e.created >= minCreated;
  const requested = so.hasStart()
    ? 0
    : so.hasEnd()
      ? head.lastRevision
      : parseUint64(so.getRevision(), 'revision');
  if (options.getReadDirection() === BACKWARDS) {
    let cursor = requested;
    return {
      visible,
      next: (limit) => {
        if (cursor < lowest) return [];
        const page = ctx.store.readStreamBackward(stream, cursor, limit).filter((e) => e.revision >= lowest);
        cursor = page.length > 0 ? page[page.length - 1].revision - 1 : -1;
        return page;
      },
    };
  }
  let cursor = so.hasEnd() ? head.lastRevision + 1 : Math.max(requested, lowest);
  return {
    visible,
    next: (limit) => {
      const page = ctx.store.readStreamForward(stream, cursor, limit);
      if (page.length > 0) cursor = page[page.length - 1].revision + 1;
      return page;
    },
  };
}

function allRead(ctx: ServerContext, options: ReadReq.Options, filter: EventFilter | null): FiniteRead {
  const ao = options.getAll() as ReadReq.Options.AllOptions;
  const position = () => parseUint64(ao.getPosition()?.getCommitPosition() ?? '0', 'commit position');
  const visible = filter ? (e: StoredEvent) => filter.matches(e) : () => true;
  if (options.getReadDirection() === BACKWARDS) {
    // Backwards from a position reads the events before it.
    let before = ao.hasStart() ? 0 : ao.hasEnd() ? Number.MAX_SAFE_INTEGER : position();
    return {
      visible,
      next: (limit) => {
        const page = ctx.store.readAllBackward(before, limit);
        if (page.length > 0) before = page[page.length - 1].position;
        return page;
      },
    };
  }
  // Forwards from a position reads from that event on.
  let from = ao.hasStart() ? 0 : ao.hasEnd() ? ctx.store.lastPosition + 1 : position();
  return {
    visible,
    next: (limit) => {
      const page = ctx.store.readAllForward(from, limit);
      if (page.length > 0) from = page[page.length - 1].position + 1;
      return page;
    },
  };
}

/**
 * Sends the read page by page; waits for the client whenever enough is queued. `wire`: what is sent for an event
 * (its stored message, or with its link resolved, links.ts).
 */
async function pump(
  sink: ReadSink,
  read: FiniteRead,
  count: number,
  wire: (e: StoredEvent) => Buffer,
): Promise<void> {
  let remaining = count;
  while (remaining > 0) {
    const limit = Math.min(PAGE_SIZE, remaining);
    const page = read.next(limit);
    for (const e of page) {
      if (remaining === 0) break;
      if (!read.visible(e)) continue;
      remaining--;
      sink.push(wire(e));
      // Large events: wait within the page too, so what is queued stays bounded whatever the event size.
      if (sink.saturated() && !sink.flush() && !(await sink.drained())) return;
    }
    // A short page is the end (of the stream, of `$all`, of what is durable): no query to find nothing.
    if (page.length < limit) break;
    if (!sink.flush() && !(await sink.drained())) return;
  }
  sink.end();
}

/** Streams.Read: a finite read of a stream or `$all`, or a subscription when `subscription` is set. */
export function readHandler(ctx: ServerContext) {
  return (call: Call): void => {
    call.on('error', () => undefined);
    try {
      const options = call.request.getOptions();
      if (!options) throw new BadRequest('Read options are required');
      if (!options.hasStream() && !options.hasAll()) throw new BadRequest('Read a stream or $all');
      const sink = readSink(call);
      if (options.hasSubscription()) return startSubscription(ctx, call, sink, options);
      const count = options.hasCount() ? parseUint64(options.getCount(), 'count') : Number.MAX_SAFE_INTEGER;
      const read = options.hasStream()
        ? streamRead(ctx, sink, options)
        : allRead(ctx, options, parseFilter(options));
      if (!read) {
        sink.end();
        return;
      }
      const resolve = options.getResolveLinks();
      const wire = resolve ? (e: StoredEvent) => resolvedWire(ctx.store, e) : (e: StoredEvent) => e.wire;
      pump(sink, read, count, wire).catch((err) => sink.fail(toServiceError(err)));
    } catch (err) {
      call.emit('error', toServiceError(err));
    }
  };
}
