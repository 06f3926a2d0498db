/**
 * Responses remembered per `Idempotency-Key`, kept in the event store itself so they survive restarts and
 * behave the same on the embedded server and on a real EventStoreDB cluster (no second database to keep in
 * step). Each key scope — (application, endpoint, session, key) — has its own stream
 * `idempotency-{applicationId}-{sha256(scope)}` with `$maxAge` = 24 h: the server stops returning the record
 * after a day and scavenging purges it. The age is also checked on read, so the 24 h window holds even on a
 * server that has not applied `$maxAge` yet. The scope itself is stored in the record, so a hash collision
 * can never replay another request's response.
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
 */
import {
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
   * the limits), which names instead the revisions of the command's events to rebuild it from.
   */
  body?: unknown;
  /** First and last revision of the events the command appended in the session stream. */
  revisions?: { first: string; last: string };
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
   * record stream (see above) writes nothing and returns `response`. Any other error is thrown.
   */
  async remember(scope: IdempotencyScope, response: RememberedResponse): Promise<Remembered> {
    const stream = IdempotencyStore.streamName(scope);
    let data: Record<string, unknown> = {
      scope,
      recordedAt: new Date(this.now()).toISOString(),
      ...response,
    };
    // The record must fit in one append: a large body stays in the session stream, where the record points.
    if (response.revisions !== undefined && Buffer.byteLength(JSON.stringify(data)) > REMEMBERED_BODY_BYTES) {
      const { body: _body, ...withoutBody } = data;
      data = withoutBody;
    }
    const record = [{ type: IDEMPOTENT_RESPONSE_RECORDED, data: data as JsonObject, metadata: {} }];
    let operation: RecordNotWritten['operation'] = 'set-metadata';
    try {
      // `$maxAge` first: whatever fails or dies after it, no record is left that scavenging would keep.
      await this.store.setStreamMaxAge(stream, this.ttlSeconds);
      operation = 'append';
      try {
        await this.store.appendToStream(stream, record, 'no_stream');
        return { response };
      } catch (error) {
        if (!(error instanceof StreamRevisionConflict)) throw error;
      }
      // The stream exists: either another process won the race, or an expired record is still stored.
      operation = 'read';
      const existing = await this.find(scope);
      if (existing) return { response: existing };
      operation = 'append';
      await this.store.appendToStream(stream, record, 'any');
      return { response };
    } catch (error) {
      if (error instanceof EventStoreUnavailableError) return { response, notWritten: { operation, error } };
      if (error instanceof StreamTombstonedError) return { response };
      throw error;
    }
  }
}

const sameScope = (a: IdempotencyScope | undefined, b: IdempotencyScope): boolean =>
  !!a &&
  a.applicationId === b.applicationId &&
  a.endpoint === b.endpoint &&
  a.integrationId === b.integrationId &&
  a.key === b.key;
