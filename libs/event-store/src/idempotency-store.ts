/**
 * Responses remembered per `Idempotency-Key` where the session stream cannot stand in for them: the API records
 * here only a keyed command that changed nothing (it has no event to carry the key's token; a command that
 * appended is found by the token in its events, see `SessionCommandHandler`). Kept in the event store itself so
 * they survive restarts and behave the same on the embedded server and on a real EventStoreDB cluster (no second
 * database to keep in step). Each key scope — (application, endpoint, session, key) — has its own stream
 * `idempotency-{applicationId}-{sha256(scope)}` with `$maxAge` = 24 h: the server stops returning the record
 * after a day. A scavenge does not remove it (EventStoreDB's, and the embedded server's, keep the last event of
 * every stream, and a record is the only one of its stream): it stays on disk. The age is also checked on read,
 * so the 24 h window holds even on a server that has not applied `$maxAge` yet. The scope itself is stored in the
 * record, so a hash collision can never replay another request's response.
 *
 * The `$maxAge` is set before the record is appended (EventStoreDB keeps it in `$$<stream>`, which may be
 * written before the stream exists; the record's `no_stream` append only sees the stream's own events), so a
 * record never exists without it, whether the API process or the store dies between the two writes.
 *
 * A record is written after the command's session events, which carry the scope's token: the command is
 * applied and its answer known by then. So a store that fails the `$maxAge` or the record append (unreachable,
 * past its deadline, the connection cut) does not cost the client that answer: `remember` returns it without
 * a record and says which call failed, and a retry with the same key is still recognised from the session
 * stream (see `SessionCommandHandler`), and the record is written then. A command that appended nothing left
 * no token to stand in for the record: what to answer then is the caller's decision (see the API's runner).
 *
 * A record stream an operator tombstoned (an erasure request: a record holds a copy of the response, the
 * session in it) can never hold a record again. `find` reads it as a key without a record, and `remember`
 * writes nothing and returns the response it was given without `notWritten`: no retry could ever write the
 * record, so the caller's 503 for a no-op whose record failed would be answered to every retry with the key. A command with events is still found by the token they
 * carry (as when a record was never written); one that changed nothing is decided again by a retry
 * (docs/command-api.md, "Deleted session streams").
 *
 * A record must fit in one append. A body over `REMEMBERED_BODY_BYTES` (a session near the size limits) is left
 * out, and so is one the store refuses as too large (a store configured with a smaller maximum append size):
 * the record names where in the session stream its body is rebuilt from instead — the revisions of the
 * command's events, or for a command that appended nothing (a no-op) the revision of the session it answered
 * with. A record the store refuses even without its body is `IdempotencyRecordTooLargeError`.
 */
import {
  AppendTooLargeError,
  EventStoreUnavailableError,
  StreamRevisionConflict,
  StreamTombstonedError,
  type EsdbClientAdapter,
  type JsonObject,
  type StoredEvent,
} from './esdb-client.adapter';
import { sha256Hex } from './canonical-json';

export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;
export const IDEMPOTENT_RESPONSE_RECORDED = 'IdempotentResponseRecorded';

export interface IdempotencyScope {
  applicationId: number;
  /** Route template and method, e.g. `POST /v2/customer_sessions/:id/close`. */
  endpoint: string;
  integrationId: string;
  key: string;
}

/** Largest response body kept in a record (bytes of its JSON); a larger one is rebuilt from the session stream. */
export const REMEMBERED_BODY_BYTES = 256 * 1024;

export interface RememberedResponse {
  status: number;
  /**
   * The response body; absent from a record whose body was over `REMEMBERED_BODY_BYTES` (a session near
   * the limits), which names instead where to rebuild it from: `revisions` or `unchangedAt`.
   */
  body?: unknown;
  /** First and last revision of the events the command appended in the session stream. */
  revisions?: { first: string; last: string };
  /**
   * For a command that appended nothing (a no-op): the revision of the session it was decided on, whose state
   * it answered with. The body is rebuilt by folding the stream up to it.
   */
  unchangedAt?: string;
  etag?: string;
  eventPosition?: string;
  /** SHA-256 of the canonical request (body and query). */
  requestHash: string;
}

/** The call of `remember` that the store failed (`EventStoreUnavailableError`): the record may not exist. */
export interface RecordNotWritten {
  /**
   * `set-metadata` (the `$maxAge`), `append` (the record), or `read` (the record another process may have
   * written, looked up after the stream was found to exist).
   */
  operation: 'set-metadata' | 'append' | 'read';
  error: EventStoreUnavailableError;
}

export interface Remembered {
  /** The response to give: the one passed to `remember`, or the one another process remembered first. */
  response: RememberedResponse;
  /** Set when the store failed a call: `response` is the one passed in, and may not be recorded. */
  notWritten?: RecordNotWritten;
}

/**
 * The store refused an idempotency record as larger than its maximum append size, even without the response
 * body (a store configured with a tiny maximum): the record was not written. The command's own session events,
 * if it had any, were appended before and are recorded.
 */
export class IdempotencyRecordTooLargeError extends Error {
  override readonly name = 'IdempotencyRecordTooLargeError';
  readonly code = 'LIMIT_EXCEEDED';
  constructor(
    readonly streamName: string,
    readonly maxAppendSize: number | undefined,
    /** The command appended session events (they were recorded); else it changed nothing. */
    readonly commandRecorded: boolean,
    options?: { cause: unknown },
  ) {
    super(
      `The event store refused this request's Idempotency-Key record as too large${maxAppendSize ? ` (it takes at most ${maxAppendSize} bytes per append)` : ''}, so the key was not recorded; ` +
        (commandRecorded
          ? "the command's events were recorded before it: the command was applied"
          : 'the command changed nothing (there was nothing to append), so nothing was recorded'),
      options,
    );
  }
}

export class IdempotencyStore {
  constructor(
    private readonly store: EsdbClientAdapter,
    private readonly ttlSeconds = IDEMPOTENCY_TTL_SECONDS,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The scope's digest. It names the record's stream and is written into the metadata of the session events
   * the keyed command appends (`idempotencyToken`), so that a retry finds the command in the session stream
   * even when the record itself was never written (see `SessionCommandHandler`).
   */
  static token(scope: IdempotencyScope): string {
    return sha256Hex([scope.endpoint, scope.integrationId, scope.key].join('\u0000'));
  }

  static streamName(scope: IdempotencyScope): string {
    return `idempotency-${scope.applicationId}-${IdempotencyStore.token(scope)}`;
  }

  /** The scope's record, if it has one within the window (none when its stream was tombstoned). */
  async find(scope: IdempotencyScope): Promise<RememberedResponse | undefined> {
    let latest: StoredEvent | undefined;
    try {
      [latest] = await this.store.readStream(IdempotencyStore.streamName(scope), {
        direction: 'backwards',
        maxCount: 1,
      });
    } catch (error) {
      if (error instanceof StreamTombstonedError) return undefined;
      throw error;
    }
    if (!latest) return undefined;
    const data = latest.data as unknown as RememberedResponse & {
      scope: IdempotencyScope;
      recordedAt: string;
    };
    if (this.now() - Date.parse(data.recordedAt) > this.ttlSeconds * 1000) return undefined;
    if (!sameScope(data.scope, scope)) return undefined;
    return {
      status: data.status,
      body: data.body,
      revisions: data.revisions,
      unchangedAt: data.unchangedAt,
      etag: data.etag,
      eventPosition: data.eventPosition,
      requestHash: data.requestHash,
    };
  }

  /**
   * Remembers the first response; when another process remembered one first, returns that one instead. When
   * the store fails the `$maxAge` or the record (`EventStoreUnavailableError`: unreachable, past the call's
   * deadline, the connection cut), returns `response` with `notWritten` — no record may exist (one whose
   * append got no answer may still land) — and the caller decides what that costs its client. A tombstoned
   * record stream (see above) writes nothing and returns `response`. A record too large for the store even
   * without its body is `IdempotencyRecordTooLargeError`. Any other error is thrown.
   */
  async remember(scope: IdempotencyScope, response: RememberedResponse): Promise<Remembered> {
    const stream = IdempotencyStore.streamName(scope);
    const data: Record<string, unknown> = {
      scope,
      recordedAt: new Date(this.now()).toISOString(),
      ...response,
    };
    // The record must fit in one append: a large body stays in the session stream, where the record points.
    const { body: _body, ...rest } = data;
    // A no-op's record also names its revision as the empty range after it (`first` = revision + 1), the form
    // a release that knows only `revisions` reads the same way: a rollout or a rollback in the 24 h a record
    // lives rebuilds the body, where it would otherwise answer 200 with none.
    const withoutBody =
      response.revisions === undefined && response.unchangedAt !== undefined
        ? {
            ...rest,
            revisions: { first: (BigInt(response.unchangedAt) + 1n).toString(), last: response.unchangedAt },
          }
        : rest;
    const rebuildable = response.revisions !== undefined || response.unchangedAt !== undefined;
    let record =
      rebuildable &&
      (response.body === undefined || Buffer.byteLength(JSON.stringify(data)) > REMEMBERED_BODY_BYTES)
        ? withoutBody
        : data;
    const append = async (expected: 'no_stream' | 'any'): Promise<void> => {
      for (;;) {
        try {
          await this.store.appendToStream(stream, recorded(record), expected);
          return;
        } catch (error) {
          if (!(error instanceof AppendTooLargeError)) throw error;
          if (!rebuildable || record === withoutBody) {
            const appended = response.revisions !== undefined;
            throw new IdempotencyRecordTooLargeError(stream, error.maxAppendSize, appended, { cause: error });
          }
          // A store with a smaller maximum append size: the body stays in the session stream after all.
          record = withoutBody;
        }
      }
    };
    let operation: RecordNotWritten['operation'] = 'set-metadata';
    try {
      // `$maxAge` first: whatever fails or dies after it, no record is left that scavenging would keep.
      await this.store.setStreamMaxAge(stream, this.ttlSeconds);
      operation = 'append';
      try {
        await append('no_stream');
        return { response };
      } catch (error) {
        if (!(error instanceof StreamRevisionConflict)) throw error;
      }
      // The stream exists: either another process won the race, or an expired record is still stored.
      operation = 'read';
      const existing = await this.find(scope);
      if (existing) return { response: existing };
      operation = 'append';
      await append('any');
      return { response };
    } catch (error) {
      if (error instanceof EventStoreUnavailableError) return { response, notWritten: { operation, error } };
      if (error instanceof StreamTombstonedError) return { response };
      throw error;
    }
  }
}

const recorded = (data: Record<string, unknown>) => [
  { type: IDEMPOTENT_RESPONSE_RECORDED, data: data as JsonObject, metadata: {} },
];

const sameScope = (a: IdempotencyScope | undefined, b: IdempotencyScope): boolean =>
  !!a &&
  a.applicationId === b.applicationId &&
  a.endpoint === b.endpoint &&
  a.integrationId === b.integrationId &&
  a.key === b.key;
