/**
 * The one place that talks to EventStoreDB / KurrentDB (or the embedded server, which speaks the same gRPC
 * protocol) through `@eventstore/db-client`. Everything else in the code base sees plain records, bigint
 * revisions and positions, and our own `StreamRevisionConflict`, `StreamTombstonedError`,
 * `StreamMissingError`, `AppendTooLargeError` and `EventStore…Error`s instead of the client's error classes.
 * The errors defined here are the adapter's own (it imports none from `errors.ts`, whose errors of the write
 * path above it extend some of these: the import graph stays acyclic).
 */
import {
  BACKWARDS,
  END,
  EventStoreDBClient,
  FORWARDS,
  NO_STREAM,
  START,
  DeadlineExceededError,
  NotLeaderError,
  StreamDeletedError,
  StreamNotFoundError,
  UnavailableError,
  UnknownError,
  MaxAppendSizeExceededError,
  WrongExpectedVersionError,
  jsonEvent,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type AppendExpectedRevision,
  type ReadPosition,
  type ResolvedEvent,
} from '@eventstore/db-client';
// Not among the package's exports; the function `EventStoreDBClient.connectionString` parses with.
import { parseConnectionString } from '@eventstore/db-client/dist/Client/parseConnectionString';
import { randomUUID } from 'node:crypto';

export type JsonObject = Record<string, unknown>;

/**
 * Reads a connection string as the client will when it connects (`EsdbClientAdapter.connect`), without
 * connecting: throws what the client would throw (see connection-string.ts, which checks a string at start-up).
 */
export function clientReadsConnectionString(value: string): void {
  parseConnectionString(value);
}

/** `no_stream`: the stream must not exist; a bigint: the stream's last event must have that revision. */
export type ExpectedRevision = bigint | 'no_stream' | 'any';

export interface EventToAppend {
  /** Event id; re-appending the same ids with the same expected revision is idempotent on the server. */
  id?: string;
  type: string;
  data: JsonObject;
  metadata: JsonObject;
}

export interface StoredEvent {
  id: string;
  streamName: string;
  revision: bigint;
  /** Commit position in `$all`; absent when the server does not report it on stream reads. */
  position?: bigint;
  type: string;
  data: JsonObject;
  metadata: JsonObject;
  /** Server time of the write, ISO-8601. */
  created: string;
  /**
   * Why the event is no JSON this project can read, when it is not: its content type is not JSON (a binary
   * event another tool wrote), its data is no JSON object, or its metadata is not a JSON object. `data` and
   * `metadata` are then `{}`. Readers of the project's own streams refuse such an event (a session event is
   * unreadable, as one of an unknown type), never skip it: skipped, it left a session at a revision its stream
   * is not at.
   */
  unreadable?: string;
}

export interface AppendOutcome {
  /** Revision of the last event appended. */
  nextRevision: bigint;
  /** Commit position of the append in `$all`. */
  position?: bigint;
}

export class StreamRevisionConflict extends Error {
  override readonly name = 'StreamRevisionConflict';
  constructor(
    readonly streamName: string,
    readonly expected: ExpectedRevision,
    readonly actual: bigint | 'no_stream' | undefined,
  ) {
    super(`Stream ${streamName}: expected revision ${String(expected)}, found ${String(actual)}`);
  }
}

/**
 * A read or a write (an append, a metadata write) of a stream that was deleted for good (tombstoned:
 * EventStoreDB's hard delete, `tombstoneStream`): it can never be read or written again. A soft-deleted stream
 * (`deleteStream`) is not this: it reads as not found (`[]`, or `StreamMissingError` for a read that asks),
 * as on EventStoreDB, its metadata stream holds the `$tb` the delete wrote, and an append revives it.
 */
export class StreamTombstonedError extends Error {
  override readonly name = 'StreamTombstonedError';
  constructor(
    readonly streamName: string,
    override readonly cause?: unknown,
  ) {
    super(`Stream ${streamName} is deleted for good (tombstoned)`);
  }
}

/**
 * A read with `mustExist` of a stream that does not exist or was soft-deleted: what a read without it answers
 * with `[]`. A stream that exists but holds no events from the revision asked for is not this (`[]`), so a
 * reader that knows a stream's revision tells "nothing new" from "deleted since" at no extra cost.
 */
export class StreamMissingError extends Error {
  override readonly name = 'StreamMissingError';
  constructor(readonly streamName: string) {
    super(`Stream ${streamName} does not exist (or was soft-deleted)`);
  }
}

/**
 * The event store refused an append as larger than its maximum append size. The domain keeps what it
 * decides under `SESSION_LIMITS.eventBytes`, so this means a server configured with a smaller limit, or a
 * session written before that limit: nothing was appended.
 */
export class AppendTooLargeError extends Error {
  override readonly name = 'AppendTooLargeError';
  readonly code = 'LIMIT_EXCEEDED';
  constructor(
    readonly streamName: string,
    readonly maxAppendSize: number | undefined,
  ) {
    super(
      `The event store refused these events as too large${maxAppendSize ? ` (it takes at most ${maxAppendSize} bytes per append)` : ''}; nothing was recorded`,
    );
  }
}

/** The server could not be reached or did not answer in time (the API answers 503). */
export class EventStoreUnavailableError extends Error {
  override readonly name: string = 'EventStoreUnavailableError';
  /**
   * 503 `SERVICE_UNAVAILABLE`: the API's command metrics label a command that ended so
   * `outcome="service_unavailable"` (it was `error`, with the 500s).
   */
  readonly code: string = 'SERVICE_UNAVAILABLE';
  constructor(
    override readonly cause: unknown,
    message = 'The event store is not reachable',
  ) {
    super(message);
  }
}

/**
 * What a call that timed out was doing. `delete` (soft) and `tombstone` (hard) are the operator's deletes
 * (`deleteStream`, `tombstoneStream`), never a call the engine makes.
 */
export type EventStoreOperation = 'read' | 'append' | 'set-metadata' | 'delete' | 'tombstone';

/**
 * A call got no answer within its deadline: the client-side one of `withCallTimeout`, or the server's own
 * (gRPC DEADLINE_EXCEEDED, EventStoreDB's `Timeout`). Unlike a refused connection, its outcome is unknown: the
 * request may have reached the server, and an append may still be applied — at once, or when a hung server
 * resumes. Whatever the call settles to later is dropped, never reported.
 */
export class EventStoreTimeoutError extends EventStoreUnavailableError {
  override readonly name: string = 'EventStoreTimeoutError';
  /**
   * The API's code for it (as for the library's other refusals): 503 `SERVICE_UNAVAILABLE`. The API's command
   * metrics label a command that ended so with `outcome="service_unavailable"`.
   */
  override readonly code = 'SERVICE_UNAVAILABLE';
  constructor(
    readonly operation: EventStoreOperation,
    readonly streamName: string,
    /**
     * The call's deadline (`withCallTimeout`), whichever saw it pass first — the adapter's timer or gRPC (the
     * same deadline, sent with the call); undefined when the call had none and the server reported a timeout.
     */
    readonly timeoutMs: number | undefined,
    cause?: unknown,
  ) {
    super(
      cause,
      `The event store did not answer a call (${operation}) ${timeoutMs === undefined ? 'in time' : `within ${timeoutMs} ms`}`,
    );
  }
}

/** What a write whose connection failed was doing. */
export type EventStoreWrite = Exclude<EventStoreOperation, 'read'>;

/**
 * The connection failed (gRPC UNAVAILABLE: dropped, reset, the server process killed) while a write was on its
 * way. As after a timeout, its outcome is unknown: the server may have received the write and applied it before
 * the connection went, and nothing tells the client whether it did. The client does not tell a connection that
 * failed before the write was sent from one that failed after, so a write to a server that was already down
 * ends so too. A read never does (it changed nothing), nor a server that refused the write (not the leader).
 */
export class EventStoreWriteInterruptedError extends EventStoreUnavailableError {
  override readonly name: string = 'EventStoreWriteInterruptedError';
  /** As for `EventStoreTimeoutError`: 503 `SERVICE_UNAVAILABLE`, and `outcome="service_unavailable"`. */
  override readonly code = 'SERVICE_UNAVAILABLE';
  constructor(
    readonly operation: EventStoreWrite,
    readonly streamName: string,
    cause: unknown,
  ) {
    super(cause, `The connection to the event store failed during a write (${operation})`);
  }
}

/** gRPC status codes UNAVAILABLE (14) and DEADLINE_EXCEEDED (4). */
const GRPC_UNREACHABLE = new Set([14, 4]);
const GRPC_DEADLINE_EXCEEDED = 4;

/**
 * The client converts most gRPC failures into its own errors, but an append (its batch-append stream) to a
 * server it cannot reach rejects with grpc-js's raw ServiceError (`code: 14`): both mean "not reachable".
 */
const unavailable = (error: unknown): boolean =>
  error instanceof UnavailableError ||
  error instanceof DeadlineExceededError ||
  error instanceof NotLeaderError ||
  (error instanceof Error && GRPC_UNREACHABLE.has((error as { code?: unknown }).code as number));

/**
 * The error says the event store could not be reached, or did not answer in time: a refused or dropped
 * connection (gRPC UNAVAILABLE), a deadline, a node that is not the leader — or the adapter's own
 * `EventStoreUnavailableError` for one of those. For readers that only wait for the store to come back (the
 * projector's subscription): such an error needs no stack trace in a log, one line says it.
 */
export const isEventStoreUnreachable = (error: unknown): boolean =>
  (error instanceof EventStoreUnavailableError && !(error instanceof EventStoreWriteFailedError)) ||
  unavailable(error);

/** The server (or grpc-js, for a per-call gRPC deadline) gave up waiting: the outcome is unknown. */
const deadlineExceeded = (error: unknown): boolean =>
  error instanceof DeadlineExceededError ||
  (error instanceof Error && (error as { code?: unknown }).code === GRPC_DEADLINE_EXCEEDED);

/**
 * The server answered a write with an error of its own (EventStoreDB's `Unknown`: an exception on the server;
 * the embedded server's storage failed — a full disk, a file gone read-only — and its log says so). The client
 * keeps no message for it. Treated as an interrupted write: 503, and, since nothing tells the client that the
 * server wrote nothing, an outcome the caller is told is unknown — the safe answer (a retry with the same
 * `Idempotency-Key` is applied at most once); it was a bare 500 `INTERNAL_ERROR`.
 */
export class EventStoreWriteFailedError extends EventStoreWriteInterruptedError {
  override readonly name: string = 'EventStoreWriteFailedError';
  constructor(operation: EventStoreWrite, streamName: string, cause: unknown) {
    super(operation, streamName, cause);
    this.message = `The event store failed a write (${operation}) with an error of its own`;
  }
}

/**
 * The server failed a write with an error of its own: the `Unknown` an append's answer carries (no gRPC status:
 * the client keeps no message), or a call ending in gRPC UNKNOWN (2) or INTERNAL (13). Not a status that says the
 * request itself is wrong (INVALID_ARGUMENT, UNIMPLEMENTED, PERMISSION_DENIED…) — that fails again on every retry
 * and stays an unexpected 500 — nor a detail the client did not recognise.
 */
const serverFailedWrite = (error: unknown): boolean => {
  if (!(error instanceof UnknownError)) return false;
  const code = (error as { code?: unknown }).code;
  return (
    (code === undefined || code === 2 || code === 13) && !error.message.startsWith('Could not recognize')
  );
};

/** A write that failed as unreachable: refused by a follower (not applied), or interrupted (unknown). */
const unavailableDuringWrite = (
  operation: EventStoreWrite,
  streamName: string,
  error: unknown,
): EventStoreUnavailableError =>
  error instanceof NotLeaderError
    ? new EventStoreUnavailableError(error)
    : new EventStoreWriteInterruptedError(operation, streamName, error);

/**
 * Settles as `work` does, unless `timeoutMs` passes first: then `cancel` runs (to end the call on the client)
 * and the result is `timedOut()`. Whatever `work` settles to afterwards is dropped — a late success is never
 * reported as one, a late failure never surfaces (not even as an unhandled rejection).
 */
function withinDeadline<T>(
  work: Promise<T>,
  timeoutMs: number | undefined,
  timedOut: () => Error,
  cancel?: () => unknown,
): Promise<T> {
  if (timeoutMs === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(timedOut());
      try {
        void Promise.resolve(cancel?.()).catch(() => undefined);
      } catch {
        // nothing left to end
      }
    }, timeoutMs);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

export interface ReadStreamOptions {
  fromRevision?: bigint;
  maxCount?: number;
  direction?: 'forwards' | 'backwards';
  /** A stream that does not exist or was soft-deleted is `StreamMissingError` instead of `[]`. */
  mustExist?: boolean;
}

/**
 * The type of the event a hard delete (`tombstoneStream`) writes into the stream it deletes, after its events in
 * `$all`: empty, at revision 2⁶³−1, kept by a scavenge (EventStoreDB's and the embedded server's).
 */
export const STREAM_DELETED_EVENT_TYPE = '$streamDeleted';

/** The revision of that event: EventStoreDB's `long.MaxValue` (the embedded server's on the wire too). */
export const STREAM_DELETED_REVISION = 2n ** 63n - 1n;

/**
 * A hard delete's record: `$streamDeleted` at `STREAM_DELETED_REVISION` in a stream that is no system stream (its
 * name does not start with `$`). An event of that type a client appended (at an ordinary revision) is none: it
 * stays a system event, passed by.
 */
export const isStreamDeleted = (stored: { streamName: string; type: string; revision: bigint }): boolean =>
  stored.type === STREAM_DELETED_EVENT_TYPE &&
  stored.revision === STREAM_DELETED_REVISION &&
  !stored.streamName.startsWith('$');

/**
 * Whether a read of `$all` hands an event on: never one of a system stream, and a system event (its type starts
 * with `$`) only when it is a tombstone and `tombstones` asks for them.
 */
const handedOn = (stored: StoredEvent, tombstones: boolean | undefined): boolean =>
  !stored.streamName.startsWith('$') &&
  (!stored.type.startsWith('$') || (tombstones === true && isStreamDeleted(stored)));

export interface ReadAllOptions {
  /** Exclusive/inclusive as the server defines it for `$all` reads (inclusive on EventStoreDB). */
  fromPosition?: bigint;
  maxCount?: number;
  /** Client-side filter (`readAll` sends none); system streams (`$…`) are always skipped. */
  prefixes?: string[];
  /**
   * Also hand on the `$streamDeleted` events (tombstones) of the streams read, in log order (for the session
   * readers, which remove an erased session's rows). Every other system event is skipped, as it is without.
   */
  tombstones?: boolean;
}

export interface SubscribeOptions {
  /** Resume after this commit position; from the start when omitted. */
  fromPosition?: bigint;
  /** Server-side stream-name prefix filter. */
  prefixes: string[];
  /** As `ReadAllOptions.tombstones`: also hand on the streams' `$streamDeleted` events. */
  tombstones?: boolean;
  /** Called with the commit position the server has searched up to, also when no event matched. */
  onCheckpoint?: (position: bigint) => Promise<void> | void;
  checkpointInterval?: number;
}

/**
 * A live catch-up subscription: iterate it event by event, or `batches()` for the same events in arrays
 * (one or the other, not both), close it when done.
 */
export interface EventSubscription extends AsyncIterable<StoredEvent> {
  /**
   * The events in arrays of what has arrived, at most `maxSize` each, with no awaited step per event:
   * while catching up the arrays fill, live they hold what came in one go. An error ends the iteration.
   */
  batches(maxSize?: number): AsyncIterable<StoredEvent[]>;
  close(): Promise<void>;
  /**
   * Called (by servers that support it) when the subscription has caught up with the live end — in the order of
   * the events: once every event before the live end has been handed on and the consumer has asked for more
   * (`CaughtUpInOrder`). A consumer that fails on one of them never hears it.
   */
  onCaughtUp(listener: () => void): void;
  /**
   * The server accepted the subscription (its first message, before any event): the store answers. A
   * subscription to a server that cannot be reached never gets it; it fails instead.
   */
  onConfirmed(listener: () => void): void;
}

const isJsonObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);

/**
 * Why a recorded event is no JSON event (`StoredEvent.unreadable`), or undefined. The client hands over JSON it
 * could not parse — data or metadata — as the raw bytes; no metadata at all is an empty array.
 */
function unreadableContent(event: { isJson: boolean; data: unknown; metadata: unknown }): string | undefined {
  if (!event.isJson) return 'its content type is not application/json';
  if (!isJsonObject(event.data)) return 'its data is not a JSON object';
  const metadata = event.metadata;
  if (metadata instanceof Uint8Array ? metadata.length > 0 : !isJsonObject(metadata ?? {}))
    return 'its metadata is not a JSON object';
  return undefined;
}

function toStored(resolved: ResolvedEvent | AllStreamResolvedEvent): StoredEvent | undefined {
  const event = resolved.event;
  if (!event) return undefined;
  const unreadable = unreadableContent(event);
  const stored: StoredEvent = {
    id: event.id,
    streamName: event.streamId,
    revision: event.revision,
    position: event.position?.commit ?? resolved.commitPosition,
    type: event.type,
    data: unreadable === undefined ? (event.data as JsonObject) : {},
    metadata: unreadable === undefined && isJsonObject(event.metadata) ? event.metadata : {},
    created: event.created.toISOString(),
  };
  if (unreadable !== undefined) stored.unreadable = unreadable;
  return stored;
}

function toClientExpected(expected: ExpectedRevision): AppendExpectedRevision {
  return expected === 'no_stream' ? NO_STREAM : expected;
}

function toReadPosition(position: bigint | undefined): ReadPosition {
  return position === undefined ? START : { commit: position, prepare: position };
}

/** How long an answer of the store vouches for it (`isAnswering`) when the adapter has no call deadline. */
const ANSWER_WINDOW_MS = 10_000;

/**
 * When the server last answered a call made over one connection — by any of the adapters that share it
 * (`withCallTimeout`) — for `isAnswering`. An answer is a result or a refusal that only the server can give (a
 * stream not found or deleted, a wrong expected revision, an append too large); a refused or reset
 * connection (gRPC UNAVAILABLE) wipes what answered before: nothing answers now. A deadline passing says
 * neither (the store may only be slow).
 */
class ServerAnswers {
  private lastAt = Number.NEGATIVE_INFINITY;
  /** The probe under way, shared by the checks that come while it waits. */
  probe: Promise<boolean> | undefined;

  answered(): void {
    this.lastAt = performance.now();
  }

  /** What a failed call says of the server: an answer of its own, a refused connection, or nothing. */
  failed(error: unknown): void {
    if (
      error instanceof StreamNotFoundError ||
      error instanceof StreamDeletedError ||
      error instanceof WrongExpectedVersionError ||
      error instanceof MaxAppendSizeExceededError
    ) {
      this.answered();
    } else if (refusedConnection(error)) {
      this.lastAt = Number.NEGATIVE_INFINITY;
    }
  }

  within(ms: number): boolean {
    return performance.now() - this.lastAt <= ms;
  }
}

/** gRPC UNAVAILABLE: no connection (refused, reset, none to be had): not a slow answer. */
const refusedConnection = (error: unknown): boolean =>
  error instanceof UnavailableError || (error instanceof Error && (error as { code?: unknown }).code === 14);

export class EsdbClientAdapter {
  private constructor(
    private readonly client: EventStoreDBClient,
    /** Client-side deadline of each unary call (`withCallTimeout`); none when undefined. */
    readonly callTimeoutMs?: number,
    private readonly answers = new ServerAnswers(),
  ) {}

  static connect(connectionString: string): EsdbClientAdapter {
    return new EsdbClientAdapter(EventStoreDBClient.connectionString(connectionString));
  }

  /**
   * The same connection, with a client-side deadline of `timeoutMs` on each of its unary calls — `readStream`,
   * `appendToStream`, `setStreamMaxAge`, and the operator's `deleteStream` / `tombstoneStream` — for the work
   * done on behalf of a request. Past it the call rejects with `EventStoreTimeoutError`. Reads of `$all` and
   * subscriptions, which may rightly run for minutes, are not bounded, and `isReachable` keeps its own
   * deadline. Closing either adapter closes the connection.
   *
   * The client leaves reads without a deadline (it overrides a per-call one with Infinity) and runs appends on
   * one shared batch-append stream without a client-side deadline (the per-call one only goes to the server,
   * which may ignore it), so the bound is a timer here: a read is cancelled when it passes; an append cannot be
   * withdrawn from the shared stream, may still be applied, and its late answer is dropped.
   */
  withCallTimeout(timeoutMs: number): EsdbClientAdapter {
    if (!(Number.isInteger(timeoutMs) && timeoutMs > 0)) {
      throw new RangeError(`A call timeout must be a positive whole number of ms (got ${timeoutMs})`);
    }
    return new EsdbClientAdapter(this.client, timeoutMs, this.answers);
  }

  /**
   * All events of a stream from `fromRevision` on (oldest first); `[]` when the stream does not exist or was
   * soft-deleted (`StreamMissingError` with `mustExist`), `StreamTombstonedError` when it was tombstoned.
   */
  async readStream(streamName: string, options: ReadStreamOptions = {}): Promise<StoredEvent[]> {
    const backwards = options.direction === 'backwards';
    let read: ReturnType<EventStoreDBClient['readStream']> | undefined;
    const collect = async (): Promise<StoredEvent[]> => {
      const events: StoredEvent[] = [];
      read = this.client.readStream(streamName, {
        fromRevision: options.fromRevision ?? (backwards ? END : START),
        direction: backwards ? BACKWARDS : FORWARDS,
        ...(options.maxCount !== undefined ? { maxCount: options.maxCount } : {}),
      });
      for await (const resolved of read) {
        const stored = toStored(resolved);
        if (stored) events.push(stored);
      }
      return events;
    };
    try {
      return await withinDeadline(
        collect(),
        this.callTimeoutMs,
        () => new EventStoreTimeoutError('read', streamName, this.callTimeoutMs),
        // Ends the call (and lets its stream finish, so `close()` does not wait for it).
        () => read?.cancel(),
      ).then((events) => {
        this.answers.answered();
        return events;
      });
    } catch (error) {
      if (error instanceof EventStoreTimeoutError) throw error;
      this.answers.failed(error);
      if (error instanceof StreamNotFoundError) {
        if (options.mustExist) throw new StreamMissingError(streamName);
        return [];
      }
      if (error instanceof StreamDeletedError) throw new StreamTombstonedError(streamName, error);
      if (deadlineExceeded(error))
        throw new EventStoreTimeoutError('read', streamName, this.callTimeoutMs, error);
      if (unavailable(error)) throw new EventStoreUnavailableError(error);
      throw error;
    }
  }

  /**
   * Appends in one write with the expected revision; a mismatch is a `StreamRevisionConflict`, a tombstoned
   * stream `StreamTombstonedError` (whatever the expected revision). The metadata
   * goes to the client as the UTF-8 bytes of its JSON (what the client would send for the object: the server
   * stores the same bytes and every reader parses them back), which spares the client's base64 encoding of
   * it and google-protobuf's decoding of that base64 again.
   */
  async appendToStream(
    streamName: string,
    events: EventToAppend[],
    expectedRevision: ExpectedRevision,
  ): Promise<AppendOutcome> {
    try {
      const result = await withinDeadline(
        this.client.appendToStream(
          streamName,
          events.map((event) =>
            jsonEvent({
              id: event.id ?? randomUUID(),
              type: event.type,
              data: event.data,
              metadata: jsonBytes(event.metadata),
            }),
          ),
          {
            expectedRevision: toClientExpected(expectedRevision),
            // The batch-append path sends it to the server as the append's deadline (the client's default
            // there is 10 s); the unary path uses it as the gRPC deadline.
            ...(this.callTimeoutMs !== undefined ? { deadline: this.callTimeoutMs } : {}),
          },
        ),
        this.callTimeoutMs,
        () => new EventStoreTimeoutError('append', streamName, this.callTimeoutMs),
      );
      this.answers.answered();
      return { nextRevision: result.nextExpectedRevision, position: result.position?.commit };
    } catch (error) {
      if (error instanceof EventStoreTimeoutError) throw error;
      this.answers.failed(error);
      if (error instanceof WrongExpectedVersionError) {
        const actual = error.actualVersion;
        throw new StreamRevisionConflict(
          streamName,
          expectedRevision,
          typeof actual === 'bigint' ? actual : actual === NO_STREAM ? 'no_stream' : undefined,
        );
      }
      if (error instanceof MaxAppendSizeExceededError) {
        throw new AppendTooLargeError(streamName, error.maxAppendSize);
      }
      if (error instanceof StreamDeletedError) throw new StreamTombstonedError(streamName, error);
      if (deadlineExceeded(error))
        throw new EventStoreTimeoutError('append', streamName, this.callTimeoutMs, error);
      if (unavailable(error)) throw unavailableDuringWrite('append', streamName, error);
      if (serverFailedWrite(error)) throw new EventStoreWriteFailedError('append', streamName, error);
      throw error;
    }
  }

  /**
   * Sets `$maxAge` (seconds) on a stream: the server stops returning older events and scavenges them. A
   * tombstoned stream's metadata can no longer be written on EventStoreDB: `StreamTombstonedError`.
   */
  async setStreamMaxAge(streamName: string, maxAgeSeconds: number): Promise<void> {
    try {
      await withinDeadline(
        this.client.setStreamMetadata(
          streamName,
          { maxAge: maxAgeSeconds },
          this.callTimeoutMs !== undefined ? { deadline: this.callTimeoutMs } : {},
        ),
        this.callTimeoutMs,
        () => new EventStoreTimeoutError('set-metadata', streamName, this.callTimeoutMs),
      );
      this.answers.answered();
    } catch (error) {
      if (error instanceof EventStoreTimeoutError) throw error;
      this.answers.failed(error);
      if (error instanceof StreamDeletedError) throw new StreamTombstonedError(streamName, error);
      if (deadlineExceeded(error)) {
        throw new EventStoreTimeoutError('set-metadata', streamName, this.callTimeoutMs, error);
      }
      if (unavailable(error)) throw unavailableDuringWrite('set-metadata', streamName, error);
      if (serverFailedWrite(error)) throw new EventStoreWriteFailedError('set-metadata', streamName, error);
      throw error;
    }
  }

  /**
   * Deletes a stream for good (EventStoreDB's hard delete): every later read or write of it is
   * `StreamTombstonedError`, and its name can never be used again. The engine never deletes a stream — it has
   * no delete command; this is for operators' tools and for tests that play the operator (an erasure
   * request, say). A stream tombstoned already is `StreamTombstonedError`.
   */
  async tombstoneStream(streamName: string): Promise<void> {
    await this.deleteCall('tombstone', streamName, (options) =>
      this.client.tombstoneStream(streamName, options),
    );
  }

  /**
   * Soft-deletes a stream: it reads as not found (its metadata stream gets a `$tb` that hides its events) until
   * an append revives it, whose events continue its revisions and are then all it shows. As `tombstoneStream`:
   * for operators' tools and tests only; the engine never deletes a stream.
   */
  async deleteStream(streamName: string): Promise<void> {
    await this.deleteCall('delete', streamName, (options) => this.client.deleteStream(streamName, options));
  }

  /**
   * A delete (soft or hard) as the other writes are made: within the call deadline (`withCallTimeout`, also
   * sent as the gRPC deadline), a timeout is `EventStoreTimeoutError` (outcome unknown: the server may still
   * delete the stream), a connection lost on the way `EventStoreWriteInterruptedError`, a follower's refusal
   * `EventStoreUnavailableError`, a tombstoned stream `StreamTombstonedError`.
   */
  private async deleteCall(
    operation: 'delete' | 'tombstone',
    streamName: string,
    call: (options: { deadline?: number }) => Promise<unknown>,
  ): Promise<void> {
    try {
      await withinDeadline(
        call(this.callTimeoutMs !== undefined ? { deadline: this.callTimeoutMs } : {}),
        this.callTimeoutMs,
        () => new EventStoreTimeoutError(operation, streamName, this.callTimeoutMs),
      );
      this.answers.answered();
    } catch (error) {
      if (error instanceof EventStoreTimeoutError) throw error;
      this.answers.failed(error);
      if (error instanceof StreamDeletedError) throw new StreamTombstonedError(streamName, error);
      if (deadlineExceeded(error))
        throw new EventStoreTimeoutError(operation, streamName, this.callTimeoutMs, error);
      if (unavailable(error)) throw unavailableDuringWrite(operation, streamName, error);
      throw error;
    }
  }

  /**
   * Pages through `$all` from a position, skipping system events (tombstones too, unless `tombstones`) and, when
   * given, other prefixes. Stopping
   * early (`return` / `break`) ends the read (see `abandon`).
   */
  async *readAll(options: ReadAllOptions = {}): AsyncGenerator<StoredEvent> {
    const read = this.client.readAll({
      fromPosition: toReadPosition(options.fromPosition),
      direction: FORWARDS,
      ...(options.maxCount !== undefined ? { maxCount: options.maxCount } : {}),
    });
    let ended = false;
    try {
      for await (const resolved of read.iterator({ destroyOnReturn: false })) {
        const stored = toStored(resolved);
        if (!stored || !handedOn(stored, options.tombstones)) continue;
        if (options.prefixes && !options.prefixes.some((prefix) => stored.streamName.startsWith(prefix)))
          continue;
        yield stored;
      }
      ended = true;
    } finally {
      if (!ended) await abandon(read, () => read.cancel());
    }
  }

  /**
   * `readAll` in pages of up to `batchSize` events, for bulk readers (replay verify): events are taken
   * from the client's stream as they are decoded rather than one awaited step each, which halves the
   * client's CPU per event. Stopping early (`return` / `break`) cancels the read on the server.
   */
  async *readAllBatches(
    options: ReadAllOptions & { batchSize?: number } = {},
  ): AsyncGenerator<StoredEvent[]> {
    const batchSize = options.batchSize ?? 1000;
    const read = this.client.readAll(
      {
        fromPosition: toReadPosition(options.fromPosition),
        direction: FORWARDS,
        ...(options.maxCount !== undefined ? { maxCount: options.maxCount } : {}),
      },
      { highWaterMark: batchSize },
    );
    yield* pages(read, {
      maxSize: batchSize,
      full: true,
      keep: (resolved: AllStreamResolvedEvent) => {
        const stored = toStored(resolved);
        if (!stored || !handedOn(stored, options.tombstones)) return undefined;
        if (options.prefixes && !options.prefixes.some((prefix) => stored.streamName.startsWith(prefix)))
          return undefined;
        return stored;
      },
      mapError: (error) => (unavailable(error) ? new EventStoreUnavailableError(error) : error),
      stop: () => read.cancel(),
    });
  }

  /**
   * Catch-up subscription to `$all`, filtered on the server to stream-name prefixes. Its caught-up signal
   * (`onCaughtUp`) comes in the order of the events: see `CaughtUpInOrder`.
   */
  subscribeToAll(options: SubscribeOptions): EventSubscription {
    const subscription = this.client.subscribeToAll({
      fromPosition: toReadPosition(options.fromPosition),
      filter: streamNameFilter({
        prefixes: options.prefixes,
        ...(options.checkpointInterval !== undefined
          ? { checkpointInterval: options.checkpointInterval }
          : {}),
        ...(options.onCheckpoint
          ? {
              checkpointReached: (_: unknown, position: { commit: bigint }) =>
                options.onCheckpoint!(position.commit),
            }
          : {}),
      }),
    });
    const caughtUp = new CaughtUpInOrder();
    // Listened to from the start: the message may come before the consumer first asks for events.
    subscription.on('caughtUp', () => caughtUp.arrived(subscription.readableLength));
    const batches = (maxSize = 1000) =>
      pages(subscription, {
        maxSize,
        full: false,
        keep: (resolved: AllStreamResolvedEvent) => {
          const stored = toStored(resolved);
          // The server filters by prefix; `$`-typed events of the matching streams are left out here, tombstones
          // handed on when asked for.
          return stored &&
            (!stored.type.startsWith('$') || (options.tombstones === true && isStreamDeleted(stored)))
            ? stored
            : undefined;
        },
        mapError: (error) => error,
        stop: () => subscription.unsubscribe(),
        caughtUp,
      });
    return {
      async *[Symbol.asyncIterator]() {
        for await (const page of batches()) yield* page;
      },
      batches,
      close: () => subscription.unsubscribe(),
      onCaughtUp: (listener) => caughtUp.listen(listener),
      onConfirmed: (listener) => void subscription.on('confirmation', listener),
    };
  }

  /**
   * The commit position of the last event in `$all`, whatever its stream (system events too); 0 for an empty
   * log. The projector compares its checkpoint with it: read models ahead of the log's end were projected from
   * a log that has since gone back (a store restored from a backup, or replaced).
   */
  async lastPosition(timeoutMs = this.callTimeoutMs ?? 10_000): Promise<bigint> {
    const read = this.client.readAll({ fromPosition: END, direction: BACKWARDS, maxCount: 1 });
    const last = async (): Promise<bigint> => {
      let position = 0n;
      // Read to its end (one event at most), not left early: a read stream left in the middle keeps its call
      // open, and the client's `dispose` then waits for it.
      for await (const resolved of read) {
        const commit = resolved.event?.position?.commit ?? resolved.commitPosition;
        if (commit !== undefined && commit > position) position = commit;
      }
      return position;
    };
    try {
      // Its own deadline (the client ignores a read's): a hung store must not hold up the projector's stop.
      return await withinDeadline(
        last(),
        timeoutMs,
        () => new EventStoreTimeoutError('read', '$all', timeoutMs),
        () => read.cancel(),
      );
    } catch (error) {
      if (error instanceof EventStoreTimeoutError) throw error;
      if (unavailable(error)) throw new EventStoreUnavailableError(error);
      throw error;
    }
  }

  /**
   * True when the server answers a cheap read within `timeoutMs` (its own deadline, whatever `withCallTimeout`
   * says). The client ignores a read's `deadline` option, so a hung server would otherwise keep this waiting
   * until the connection's keep-alive gives up (~20 s).
   */
  async isReachable(timeoutMs = 2000): Promise<boolean> {
    let read: ReturnType<EventStoreDBClient['readStream']> | undefined;
    const probe = async (): Promise<boolean> => {
      read = this.client.readStream('$health-probe', { maxCount: 1 });
      for await (const _ of read) break;
      return true;
    };
    try {
      return await withinDeadline(
        probe(),
        timeoutMs,
        () => new EventStoreTimeoutError('read', '$health-probe', timeoutMs),
        () => read?.cancel(),
      );
    } catch (error) {
      return error instanceof StreamNotFoundError;
    }
  }

  /** How long an answer of the store vouches for it in `isAnswering`: the call deadline, 10 s without one. */
  get answerWindowMs(): number {
    return this.callTimeoutMs ?? ANSWER_WINDOW_MS;
  }

  /**
   * Whether the store answers, for /health/ready: true when it answers a cheap read within `probeTimeoutMs`, or —
   * that probe still waiting — when it answered a call made over this connection within `windowMs` (the
   * requests' call deadline: `withCallTimeout`'s, 10 s without one). A store that answers the requests within the deadline they are
   * given is ready however slow its probe (a saturated node, a link with seconds of jitter); one that refuses
   * the connection is not, whatever it answered before; a hung one stops being ready once its last answer is
   * older than the window. The probe goes on in the background until the window's end, so that a late
   * answer counts for the next check — an idle replica behind a slow link becomes ready without requests of
   * its own — and checks that come while it waits share it.
   */
  async isAnswering(probeTimeoutMs = 2000, windowMs = this.answerWindowMs): Promise<boolean> {
    // The probe may run as long as the check waits, even with a call deadline shorter than that.
    const probe = (this.answers.probe ??= this.probeAnswer(Math.max(windowMs, probeTimeoutMs)).finally(() => {
      this.answers.probe = undefined;
    }));
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<'waiting'>((resolve) => {
      timer = setTimeout(() => resolve('waiting'), probeTimeoutMs);
    });
    const first = await Promise.race([probe, waited]).finally(() => clearTimeout(timer));
    // A probe that failed on its own deadline (one an earlier check started) says nothing a recent answer does
    // not outweigh; a refused connection has wiped the answers before it.
    return first === true || this.answers.within(windowMs);
  }

  /** One read of a stream that need not exist, within `timeoutMs`: whether the server answered it. */
  private async probeAnswer(timeoutMs: number): Promise<boolean> {
    let read: ReturnType<EventStoreDBClient['readStream']> | undefined;
    const probe = async (): Promise<void> => {
      read = this.client.readStream('$health-probe', { maxCount: 1 });
      for await (const _ of read) break;
    };
    try {
      await withinDeadline(
        probe(),
        timeoutMs,
        () => new EventStoreTimeoutError('read', '$health-probe', timeoutMs),
        () => read?.cancel(),
      );
      this.answers.answered();
      return true;
    } catch (error) {
      this.answers.failed(error);
      return error instanceof StreamNotFoundError;
    }
  }

  async close(): Promise<void> {
    await this.client.dispose();
  }
}

/**
 * A subscription's caught-up signal in the order of its events. The client emits `caughtUp` the moment it
 * decodes the server's message, while events the server sent before it may still wait in the client stream's
 * buffer or in the array `pages` is filling: a listener that took it for "everything before the live end has been
 * handled" was early. The projector then reported itself caught up with a page still unread — and a subscription
 * that failed on that very page (an event it could not read) seemed to reach the live end on every attempt, so
 * its outage "ended" and started again each time, its back-off never grew and it looked healthy. Here the
 * listeners are called once every event sent before the message has been handed on by `pages` and the consumer
 * has come back for more (it did not fail on them).
 */
class CaughtUpInOrder {
  private readonly listeners: (() => void)[] = [];
  /** 'data' events `pages` has taken from the client's stream. */
  private taken = 0;
  /** The caught-up message follows this many taken events: set when it arrives, until they have been taken. */
  private due: number | undefined;
  /** `pages`, told when the events before the message have all been taken. */
  private reached: (() => void) | undefined;

  listen(listener: () => void): void {
    this.listeners.push(listener);
  }

  /**
   * The client decoded the caught-up message: every event before it has been pushed into its stream, and
   * `buffered` of them are still in that stream's buffer, not yet taken.
   */
  arrived(buffered: number): void {
    this.due = this.taken + buffered;
    this.check();
  }

  /** `pages` took an event from the stream (after adding it to its array). */
  took(): void {
    this.taken += 1;
    this.check();
  }

  /** `pages` starts taking events: it is told when the point is reached. */
  attach(reached: () => void): void {
    this.reached = reached;
    this.check();
  }

  /** The consumer has handled everything before the live end. */
  emit(): void {
    for (const listener of this.listeners) listener();
  }

  private check(): void {
    if (this.reached === undefined || this.due === undefined || this.taken < this.due) return;
    this.due = undefined;
    this.reached();
  }
}

/** The part of the client's read and subscription streams that `pages` uses. */
interface PagedSource {
  on(event: 'data', listener: (resolved: AllStreamResolvedEvent) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  pause(): unknown;
  resume(): unknown;
  removeAllListeners(event: 'data'): unknown;
}

/**
 * Takes events from a client stream as it emits them ('data') and hands them on in arrays, pausing the
 * stream while `maxSize` are waiting: one awaited step per array instead of per event (the client's own
 * async iterator and a generator on top cost more CPU than decoding). `full`: wait for a full array until
 * the stream ends (bulk reads); otherwise an array holds what has arrived, gathered until the current
 * I/O turn is over. Leaving early ends the read or subscription (`abandon`).
 */
async function* pages<T>(
  source: PagedSource,
  options: {
    /** Ends the read / subscription on the server when the consumer leaves early. */
    stop: () => Promise<void>;
    maxSize: number;
    full: boolean;
    keep: (resolved: AllStreamResolvedEvent) => T | undefined;
    mapError: (error: unknown) => unknown;
    /** A subscription's caught-up signal, emitted once the consumer has handled the events before it. */
    caughtUp?: CaughtUpInOrder;
  },
): AsyncGenerator<T[]> {
  let batch: T[] = [];
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  /** Events kept so far, and of them those in arrays the consumer took and came back from. */
  let kept = 0;
  let handled = 0;
  /** The live end falls after this many kept events (once the events before it have all been taken). */
  let liveAfter: number | undefined;
  const caughtUp = options.caughtUp;
  source.on('data', (resolved) => {
    const event = options.keep(resolved);
    if (event !== undefined) {
      batch.push(event);
      kept += 1;
      if (batch.length >= options.maxSize) {
        source.pause();
        wake?.();
      } else if (!options.full && batch.length === 1) {
        wake?.();
      }
    }
    caughtUp?.took();
  });
  caughtUp?.attach(() => {
    liveAfter = kept;
    wake?.();
  });
  const finish = (error?: unknown) => {
    ended = true;
    if (error !== undefined) failure ??= options.mapError(error);
    wake?.();
  };
  source.on('end', () => finish());
  source.on('error', (error) => finish(error));
  try {
    for (;;) {
      if (liveAfter !== undefined && handled >= liveAfter) {
        liveAfter = undefined;
        caughtUp!.emit();
      }
      const enough = options.full ? batch.length >= options.maxSize : batch.length > 0;
      if (!enough && !ended) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        // Live: what the client decodes in this turn joins the array.
        if (!options.full && batch.length < options.maxSize && !ended) await new Promise(setImmediate);
      }
      if (failure !== undefined) throw failure;
      if (batch.length === 0 && ended) return;
      const page = batch;
      batch = [];
      if (!ended) source.resume();
      if (page.length > 0) {
        yield page;
        handled += page.length;
      }
    }
  } finally {
    if (!ended) await abandon(source, options.stop);
  }
}

/**
 * Ends a read or subscription its consumer left early, so that the client's `dispose()` (which waits for
 * every call it started to finish) can return: cancels the call on the server, then lets the stream flow,
 * dropping what it still holds, to its end. Destroying the stream instead would unpipe it from the gRPC call
 * beneath, and a call whose reply had already arrived in full (a reader stopping a few events before the end of
 * the log) ignores the cancel and never finishes while its last messages lie unread: `dispose()` then waits
 * forever, and so does a process's shutdown.
 */
async function abandon(
  source: Pick<PagedSource, 'pause' | 'resume' | 'removeAllListeners'>,
  stop: () => Promise<void>,
): Promise<void> {
  source.pause();
  source.removeAllListeners('data');
  await stop().catch(() => undefined);
  source.resume();
}

const utf8 = new TextEncoder();

/** JSON as UTF-8 bytes in a plain `Uint8Array`, which the client passes through as is (a `Buffer` it copies first). */
function jsonBytes(value: JsonObject): Uint8Array {
  return utf8.encode(JSON.stringify(value));
}
