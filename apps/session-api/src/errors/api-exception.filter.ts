/**
 * The one place where errors become HTTP responses, in the format of SPEC §5:
 * `{message, errors: [{title: CODE, details, source: {pointer}}], StatusCode}` — `source: {parameter}` instead
 * for an error about a query parameter (Talon.One's `ErrorSource`).
 * Domain categories map to statuses here and nowhere else. Anything unexpected is logged with its stack and
 * answered as a plain 500 without details; bad input never reaches that branch.
 */
import { ArgumentsHost, Catch, HttpException, type ExceptionFilter } from '@nestjs/common';
import {
  AppendTooLargeError,
  ClaimWriteInterruptedError,
  ClaimWriteTimeoutError,
  ConcurrentUpdateError,
  EventStoreTimeoutError,
  EventStoreUnavailableError,
  EventStoreWriteFailedError,
  EventStoreWriteInterruptedError,
  IdempotencyRecordTooLargeError,
  LockWaitError,
  PreconditionFailedError,
  ProfileClaimSchemaError,
  SessionDeletedError,
} from '@session-engine/event-store';
import { DomainError, EventUpcastError, type DomainErrorCategory } from '@session-engine/session-domain';
import { readModelsDamaged, readModelsUnavailable } from '@session-engine/read-models';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { closeIfLargeBodyUnread } from '../http/unread-body';
import {
  ApiError,
  CommandRefused,
  ErrorCode,
  ManagementErrorCode,
  UnrecordedNoOpError,
  type ApiErrorEntry,
} from './api-error';

/** Where an error is: a JSON pointer into the body (or at a path parameter), or a query parameter's name. */
export type ErrorSourceBody =
  | { pointer: string; parameter?: never }
  | { parameter: string; pointer?: never }
  | { pointer?: never; parameter?: never };

export interface ErrorBody {
  message: string;
  errors: { title: string; details: string; source: ErrorSourceBody }[];
  StatusCode: number;
}

const CATEGORY_STATUS: Record<DomainErrorCategory, number> = { invalid: 400, not_found: 404, conflict: 409 };

const HTTP_CODES: Record<number, string> = {
  400: ErrorCode.InvalidField,
  401: ErrorCode.Unauthorized,
  403: ErrorCode.Forbidden,
  404: ErrorCode.RouteNotFound,
  405: ErrorCode.MethodNotAllowed,
  412: ErrorCode.PreconditionFailed,
  413: ErrorCode.PayloadTooLarge,
  415: ErrorCode.UnsupportedMediaType,
  503: ErrorCode.ServiceUnavailable,
};

export interface MappedError {
  status: number;
  entries: ApiErrorEntry[];
  message: string;
  /** Headers of the refusal itself (`Allow` of a 405). */
  headers?: Readonly<Record<string, string>>;
  unexpected?: boolean;
}

/**
 * `request`, when given, shapes the message of an event-store timeout, of a command that gave up waiting for
 * the one ahead of it, or of a write whose connection failed: whether it was a command that writes (not a
 * query or a dry run), and whether it carried an `Idempotency-Key` (then a retry is safe). A 503 carries
 * `Retry-After` where retrying is the remedy (`withRetryAfter`).
 */
export function mapError(error: unknown, request?: IncomingMessage): MappedError {
  return withRetryAfter(mapRefusal(error, request), error, request);
}

/** `Retry-After` of a 503 NOT_READY: the read models are behind, by milliseconds to seconds. */
export const NOT_READY_RETRY_AFTER_SECONDS = 1;
/**
 * `Retry-After` of a 503 SERVICE_UNAVAILABLE: the event store or the read-model database is down, hangs, or
 * changes leader — a matter of seconds at best; sooner would mostly meet the same outage.
 */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

/**
 * Every 503 says when to try again (RFC 9110 §10.2.3): the refusal is temporary, and retrying is the remedy —
 * the command was not applied, or its retry is safe. Not a command whose write may still be applied and which
 * carried no `Idempotency-Key` (its details say to read the session first: a blind retry may apply it twice).
 */
function withRetryAfter(
  mapped: MappedError,
  error: unknown,
  request: IncomingMessage | undefined,
): MappedError {
  if (mapped.status !== 503 || mapped.headers?.['Retry-After'] !== undefined) return mapped;
  if (outcomeUnknown(error, request) && request?.headers?.['idempotency-key'] === undefined) return mapped;
  const seconds =
    mapped.entries[0]?.title === ManagementErrorCode.NotReady
      ? NOT_READY_RETRY_AFTER_SECONDS
      : UNAVAILABLE_RETRY_AFTER_SECONDS;
  return { ...mapped, headers: { ...mapped.headers, 'Retry-After': String(seconds) } };
}

/** A command whose write got no answer or lost its connection: the store may still apply it. */
function outcomeUnknown(error: unknown, request: IncomingMessage | undefined): boolean {
  if (error instanceof EventStoreTimeoutError) return storeOutcome(error, request) === 'unknown';
  return error instanceof EventStoreWriteInterruptedError && !(error instanceof ClaimWriteInterruptedError);
}

function mapRefusal(error: unknown, request?: IncomingMessage): MappedError {
  if (error instanceof ApiError) {
    return { status: error.status, entries: error.entries, message: error.message, headers: error.headers };
  }
  if (error instanceof CommandRefused) return fromDomain(error.domainError, error.pointerBase);
  if (error instanceof DomainError) return fromDomain(error, '');
  if (error instanceof PreconditionFailedError) {
    return single(412, ErrorCode.PreconditionFailed, error.message, undefined);
  }
  if (error instanceof ConcurrentUpdateError)
    return single(409, ErrorCode.ConcurrentUpdate, error.message, undefined);
  if (error instanceof AppendTooLargeError || error instanceof IdempotencyRecordTooLargeError)
    return single(413, ErrorCode.LimitExceeded, error.message, undefined);
  if (error instanceof SessionDeletedError) return sessionDeleted(error);
  if (error instanceof UnrecordedNoOpError) {
    return single(
      503,
      ErrorCode.ServiceUnavailable,
      `${storeFailure(error.cause)} while recording this request's Idempotency-Key; the command changed ` +
        'nothing (there was nothing to append), so it was not applied and nothing of it was written to the ' +
        'session. Retrying it with the same Idempotency-Key and body is safe: it is applied at most once.',
      undefined,
    );
  }
  if (error instanceof EventStoreTimeoutError) {
    return single(503, ErrorCode.ServiceUnavailable, timeoutDetails(error, request), undefined);
  }
  if (error instanceof LockWaitError) {
    return single(503, ErrorCode.ServiceUnavailable, lockWaitDetails(error, request), undefined);
  }
  if (error instanceof ClaimWriteInterruptedError) {
    return single(
      503,
      ErrorCode.ServiceUnavailable,
      `${storeFailure(error.cause as Error)} ${BEFORE_THE_COMMAND}: ${claimNotApplied(request)}`,
      undefined,
    );
  }
  if (error instanceof EventStoreWriteInterruptedError) {
    return single(
      503,
      ErrorCode.ServiceUnavailable,
      unknownOutcome(`${storeFailure(error)} during a write`, request),
      undefined,
    );
  }
  if (error instanceof EventStoreUnavailableError) {
    return single(
      503,
      ErrorCode.ServiceUnavailable,
      'The event store is not reachable; retry later',
      undefined,
    );
  }
  if (readModelsUnavailable(error)) {
    return single(
      503,
      ErrorCode.ServiceUnavailable,
      'The read-model database is not reachable; retry later',
      undefined,
    );
  }
  if (readModelsDamaged(error)) {
    return single(
      503,
      ErrorCode.ServiceUnavailable,
      'The read-model database is damaged and cannot answer this query until it is restored or rebuilt; ' +
        'commands are not affected',
      undefined,
    );
  }
  if (error instanceof EventUpcastError || error instanceof ProfileClaimSchemaError) {
    // The store's data, not the request: still a 500 (and logged with its stack), but one that says what is
    // wrong, so the caller's report names it and the operator knows where to look (docs/operations.md).
    return {
      ...single(
        500,
        ErrorCode.UnreadableEvent,
        `The event log of this session holds an event this version of the engine cannot read (${error.message}): ` +
          'it was written by a newer version, or changed by hand. The session was not changed; it cannot be ' +
          'read or changed until the engine is upgraded or the event repaired.',
        undefined,
      ),
      unexpected: true,
    };
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const response = error.getResponse();
    const details =
      typeof response === 'object' && response !== null && 'message' in response
        ? String((response as { message: unknown }).message)
        : error.message;
    return single(
      status,
      HTTP_CODES[status] ?? (status >= 500 ? ErrorCode.InternalError : ErrorCode.InvalidField),
      details,
      undefined,
    );
  }
  return { ...single(500, ErrorCode.InternalError, 'Internal error', undefined), unexpected: true };
}

/**
 * What a 503 of a hung event store means for the request (the details say it, the warn line logs it): `none`
 * for a query or a dry run, which write nothing; `not_applied` for a command that ended before its events were
 * sent — a read timed out, the profile claim's write did, or it gave up waiting for the command ahead; `unknown`
 * for a command whose write (the session append, `$maxAge`) got no answer, which the store may still apply.
 */
type StoreOutcome = 'none' | 'not_applied' | 'unknown';

function storeOutcome(
  error: EventStoreTimeoutError | LockWaitError,
  request: IncomingMessage | undefined,
): StoreOutcome {
  if (!writes(request)) return 'none';
  return error instanceof EventStoreTimeoutError &&
    error.operation !== 'read' &&
    !(error instanceof ClaimWriteTimeoutError)
    ? 'unknown'
    : 'not_applied';
}

/** Whether the request is a command that may write: not a GET or HEAD, nor a dry run (`?dry=true`). */
function writes(request: IncomingMessage | undefined): boolean {
  const method = request?.method ?? 'GET';
  if (method === 'GET' || method === 'HEAD') return false;
  const url = request?.url ?? '';
  const query = url.includes('?') ? new URLSearchParams(url.slice(url.indexOf('?') + 1)) : undefined;
  return query?.get('dry')?.toLowerCase() !== 'true';
}

/**
 * A command that ended before this request wrote anything: what it says after what happened. With an
 * `Idempotency-Key`, an earlier request with the same key may have applied the command (its record was still
 * being written, or this request's read of it timed out), so the message does not say "not applied".
 */
function notApplied(request: IncomingMessage | undefined): string {
  return request?.headers?.['idempotency-key'] === undefined
    ? 'it was not applied (nothing of it was written). Retrying it is safe.'
    : 'this request wrote nothing (an earlier request with the same Idempotency-Key may have applied the command). ' +
        'Retrying it with the same Idempotency-Key and body is safe: it is applied at most once.';
}

/** Where a command failed whose profile claim's write got no answer or lost its connection. */
const BEFORE_THE_COMMAND =
  "while recording the profile's first-session claim, before this command's events were sent";

/**
 * The profile claim's write failed (`ClaimWriteTimeoutError`, `ClaimWriteInterruptedError`): it comes before the
 * session append, which was never sent, so the command was not applied. The claim itself may still be recorded,
 * so the message does not say that nothing was written; it names this session, and a retry takes it as its own.
 */
function claimNotApplied(request: IncomingMessage | undefined): string {
  return request?.headers?.['idempotency-key'] === undefined
    ? 'it was not applied (the claim, which names this session, may still be recorded: a retry takes it as its own). Retrying it is safe.'
    : 'this request did not apply the command (an earlier request with the same Idempotency-Key may have). ' +
        'Retrying it with the same Idempotency-Key and body is safe: it is applied at most once.';
}

/** What the event store did to a call, as a 503's details say it (no internals). */
function storeFailure(error: Error): string {
  if (error instanceof EventStoreTimeoutError) return didNotAnswer(error);
  if (error instanceof EventStoreWriteFailedError) {
    return 'The event store failed with an error of its own (its log says why: a full disk, say)';
  }
  return error instanceof EventStoreWriteInterruptedError
    ? 'The connection to the event store failed'
    : 'The event store was not reachable';
}

const didNotAnswer = (error: EventStoreTimeoutError) =>
  `The event store did not answer ${error.timeoutMs === undefined ? 'in time' : `within ${error.timeoutMs} ms`}`;

/**
 * An event-store call that got no answer in time. For a command whose write timed out the outcome is unknown
 * — its events may be appended later (a hung store that resumes) — so the message says so, and how to retry
 * safely; one whose read, or whose profile claim's write, timed out was not applied, and a query or a dry run
 * has nothing to apply.
 */
function timeoutDetails(error: EventStoreTimeoutError, request: IncomingMessage | undefined): string {
  const what = didNotAnswer(error);
  switch (storeOutcome(error, request)) {
    case 'none':
      return `${what}; retry later`;
    case 'not_applied':
      return error instanceof ClaimWriteTimeoutError
        ? `${what} ${BEFORE_THE_COMMAND}: ${claimNotApplied(request)}`
        : `${what} while reading, before this command was written: ${notApplied(request)}`;
    case 'unknown':
      return unknownOutcome(what, request);
  }
}

/**
 * A request that gave up waiting for the command ahead of it on the same session (that one waits for the
 * event store, or got no answer from it): its own work never started, so a command was not applied.
 */
function lockWaitDetails(error: LockWaitError, request: IncomingMessage | undefined): string {
  const what =
    error.reason === 'wait-timeout'
      ? `This request waited ${error.waitedMs} ms for an earlier command on the same session, which did not finish (the event store is slow or not answering)`
      : 'An earlier command on the same session, which this request waited for, got no answer from the event store in time';
  return storeOutcome(error, request) === 'none' ? `${what}; retry later` : `${what}: ${notApplied(request)}`;
}

/**
 * A command whose write may or may not have been applied (see `EventStoreTimeoutError` and
 * `EventStoreWriteInterruptedError`): what happened, that the outcome is unknown, and how to retry safely.
 */
function unknownOutcome(what: string, request: IncomingMessage | undefined): string {
  const outcome = `${what}: the outcome of this command is unknown (it may still be applied).`;
  return request?.headers['idempotency-key'] !== undefined
    ? `${outcome} Retrying it with the same Idempotency-Key and body is safe: it is applied at most once.`
    : `${outcome} It carried no Idempotency-Key, so a retry may apply it a second time: read the session before retrying, and send an Idempotency-Key to make retries safe.`;
}

/**
 * A session whose stream an operator tombstoned: a PUT, which would create a missing session, is refused with
 * 409 `SESSION_DELETED` (the id can never be used again); a read or a command that needs the session finds none,
 * 404 `SESSION_NOT_FOUND`, and is told why. Dry runs answer as the command would.
 */
function sessionDeleted(error: SessionDeletedError): MappedError {
  const deleted = `Customer session ${JSON.stringify(error.integrationId)} was deleted for good (an operator deleted its stream in the event store)`;
  return error.command === 'UpdateSession'
    ? single(
        409,
        ErrorCode.SessionDeleted,
        `${deleted}: its id cannot be used again; create the session under a new customerSessionId`,
        undefined,
      )
    : single(404, ErrorCode.SessionNotFound, `${deleted}: it can no longer be read or changed`, undefined);
}

/**
 * A domain refusal. One whose message names no field (`DomainError.predicate`: "must be at most 1000…" at
 * `/customerSession/cartItems/0/price`) is worded as the validation pipe words its errors: the field first,
 * "Invalid request: " before the message (`fieldLabel`). Every other 400 has that prefix on its `message` too.
 */
function fromDomain(error: DomainError, pointerBase: string): MappedError {
  const pointer =
    error.pointer === undefined
      ? pointerBase === ''
        ? undefined
        : pointerBase
      : `${pointerBase}${error.pointer}`;
  const status = CATEGORY_STATUS[error.category];
  if (!error.predicate) {
    const refused = single(status, error.code, error.message, pointer);
    // A 400 refuses what the request's fields hold (a cart over 1,000 lines, a position with no line):
    // worded as every other such refusal, "Invalid request: " first (docs/command-api.md).
    return status === 400 ? { ...refused, message: `Invalid request: ${error.message}` } : refused;
  }
  const details = `${fieldLabel(pointer ?? '')} ${error.message}`;
  return {
    status,
    entries: [{ title: error.code, details, pointer }],
    message: `Invalid request: ${details}`,
  };
}

/** A name a field of the request DTOs may have (not an array index, nor a key of free-form data). */
const FIELD_NAME = /^[A-Za-z][A-Za-z0-9]*$/;

/**
 * How a message names the value at `pointer`: its field's name, as the validation pipe names it
 * ("price", "profileId"), when the pointer ends in one; the pointer itself when it ends in an array index
 * (`/customerSession/couponCodes/0`), in a key of free-form data (`…/attributes/note`, a cost's name
 * `…/additionalCosts/shipping`), or is the whole body.
 */
export function fieldLabel(pointer: string): string {
  if (pointer === '') return 'the request body';
  const segments = pointer.slice(1).split('/');
  const last = segments.at(-1)!;
  const inData = segments.slice(0, -1).includes('attributes') || segments.at(-2) === 'additionalCosts';
  return FIELD_NAME.test(last) && !inData ? last : pointer;
}

const single = (
  status: number,
  title: string,
  details: string,
  pointer: string | undefined,
): MappedError => ({
  status,
  entries: [{ title, details, pointer }],
  message: details,
});

/**
 * The `source` of `entry`'s error: its query parameter, else its pointer, else `{}` — always there, as Talon.One's
 * error model requires it (`APIError.source`), so a client reading `errors[0].source.pointer` finds no pointer
 * rather than failing on a missing `source`.
 */
function sourceOf({ pointer, parameter }: ApiErrorEntry): ErrorSourceBody {
  if (parameter !== undefined) return { parameter };
  return pointer !== undefined ? { pointer } : {};
}

export function toErrorBody(mapped: MappedError): ErrorBody {
  return {
    message: mapped.message,
    errors: mapped.entries.map((entry) => ({
      title: entry.title,
      details: entry.details,
      source: sourceOf(entry),
    })),
    StatusCode: mapped.status,
  };
}

/**
 * What a 503 found unreachable, for its rate-limited warn line (`UnreachableLog`). `event-store-writes`: the store
 * answers, but fails writes with an error of its own (a full disk).
 */
export type UnreachableDependency =
  'event-store' | 'event-store-writes' | 'read-models' | 'read-models-damaged';

const UNREACHABLE_MESSAGES: Record<UnreachableDependency, string> = {
  'event-store': 'event store not reachable: answering 503',
  'event-store-writes': 'event store failing writes: answering 503 (its own log says why)',
  'read-models': 'read-model database not reachable: answering 503',
  'read-models-damaged':
    'read-model database damaged: answering 503 to queries until it is restored or rebuilt (docs/operations.md)',
};

/**
 * What the read-model database did, when that is not "not reachable": a query past its lock_timeout (55P03), one
 * past its statement_timeout (57014: READ_MODEL_QUERY_TIMEOUT_MS, or a query cancelled by an administrator), a
 * server out of connections (53300). The answer is the same 503 SERVICE_UNAVAILABLE; the warn line says which.
 */
const READ_MODEL_FAILURE_MESSAGES: Record<string, string> = {
  '55P03': 'read-model query waited too long for a lock (lock_timeout): answering 503',
  '57014':
    'read-model query cancelled by the database (statement_timeout, or an administrator): answering 503',
  '53300': 'read-model database refused a connection (too many connections): answering 503',
};

/**
 * The fields of an unreachable store's warn line that say what failed: `error`, the error's class (pg's
 * DatabaseError is named after the protocol message, "error": its constructor says more), and for the read
 * models its `errorCode` (SQLSTATE, or Node's network code) and `errorMessage` — the driver's message, which
 * names no query parameter or row (the `detail`, which may quote one, is left out).
 */
function unreachableErrorFields(dependency: UnreachableDependency, error: unknown): Record<string, unknown> {
  const name = (error as Error | undefined)?.name;
  // By shape, not `instanceof Error`: a native module's errors (better-sqlite3's SqliteError) may be made by
  // another context's Error.
  const message = (error as { message?: unknown } | undefined)?.message;
  if (!dependency.startsWith('read-models') || typeof message !== 'string') return { error: name };
  const constructor = (error as object).constructor?.name;
  const code = (error as { code?: unknown }).code;
  return {
    error: constructor && constructor !== 'Object' && constructor !== 'Error' ? constructor : name,
    ...(typeof code === 'string' ? { errorCode: code } : {}),
    errorMessage: message,
  };
}

function unreachableMessage(dependency: UnreachableDependency, error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  const specific =
    dependency === 'read-models' && typeof code === 'string' ? READ_MODEL_FAILURE_MESSAGES[code] : undefined;
  return specific ?? UNREACHABLE_MESSAGES[dependency];
}

/**
 * The store a 503 found unreachable — refused or dropped connections, the read-model database past its bound —
 * or undefined. Not an event-store call that timed out, nor a command that gave up waiting for one: those are
 * logged once per request (their outcome matters to the request); nor a failed idempotency record, logged where
 * it is written.
 */
export function unreachableDependency(error: unknown): UnreachableDependency | undefined {
  if (error instanceof EventStoreTimeoutError || error instanceof LockWaitError) return undefined;
  if (error instanceof EventStoreWriteFailedError) return 'event-store-writes';
  if (error instanceof EventStoreUnavailableError) return 'event-store';
  if (readModelsUnavailable(error)) return 'read-models';
  if (readModelsDamaged(error)) return 'read-models-damaged';
  return undefined;
}

/** At most one "not reachable" warn line a minute per store, as the projector's failure lines. */
export const UNREACHABLE_LOG_INTERVAL_MS = 60_000;

/**
 * The 503s answered because a store is unreachable: each one is in its request line (`code`
 * SERVICE_UNAVAILABLE), and the outage is logged at `warn` (a damaged read-model database at `error`) — at its
 * first 503, then at most once a minute with
 * the number answered since the last line (`suppressed`) — not once per request: under load an outage would
 * otherwise write a warn line per request.
 */
export class UnreachableLog {
  private readonly last = new Map<UnreachableDependency, { at: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
    private readonly intervalMs = UNREACHABLE_LOG_INTERVAL_MS,
  ) {}

  answered(dependency: UnreachableDependency, fields: Record<string, unknown>, message?: string): void {
    const now = this.now();
    const last = this.last.get(dependency);
    if (last !== undefined && now - last.at < this.intervalMs) {
      last.suppressed += 1;
      return;
    }
    // A damaged database does not heal by itself: an operator's to act on, at `error`.
    const level = dependency === 'read-models-damaged' ? 'error' : 'warn';
    this.logger[level](
      { dependency, ...fields, suppressed: last?.suppressed ?? 0 },
      message ?? UNREACHABLE_MESSAGES[dependency],
    );
    this.last.set(dependency, { at: now, suppressed: 0 });
  }
}

@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly unreachable: UnreachableLog;

  constructor(private readonly logger: Logger) {
    this.unreachable = new UnreachableLog(logger);
  }

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const response = http.getResponse<ServerResponse>();
    const request = http.getRequest<(IncomingMessage & { id?: string }) | undefined>();
    const mapped = mapError(exception, request);
    // The request id ties the stack to the request's own line (route, status, key), logged when it ends.
    if (mapped.unexpected)
      this.logger.error(
        { requestId: request?.id, method: request?.method, err: exception },
        'unexpected error while handling a request',
      );
    const dependency = mapped.status === 503 ? unreachableDependency(exception) : undefined;
    if (dependency !== undefined) {
      // Without a stack: an operational event. The error's class says what failed (a read, a write); for the read
      // models its SQLSTATE and message say why.
      this.unreachable.answered(
        dependency,
        { requestId: request?.id, method: request?.method, ...unreachableErrorFields(dependency, exception) },
        unreachableMessage(dependency, exception),
      );
    }
    // A client that left before this (its request already logged with status 499, aborted) is answered
    // nothing: the warn line must not say 503.
    const clientGone = clientHasGone(response);
    if (exception instanceof EventStoreTimeoutError) {
      // Once per request (the first call that times out ends it), without a stack: an operational event.
      this.logger.warn(
        {
          requestId: request?.id,
          method: request?.method,
          operation: exception.operation,
          stream: streamCategory(exception.streamName),
          timeoutMs: exception.timeoutMs,
          idempotencyKey: request?.headers['idempotency-key'] !== undefined,
          outcome: storeOutcome(exception, request),
          ...(clientGone ? { aborted: true } : {}),
        },
        clientGone
          ? 'event store call timed out after the client had gone (499)'
          : 'event store call timed out: answered 503',
      );
    }
    if (exception instanceof LockWaitError) {
      this.logger.warn(
        {
          requestId: request?.id,
          method: request?.method,
          reason: exception.reason,
          stream: streamCategory(exception.key),
          waitedMs: exception.waitedMs,
          idempotencyKey: request?.headers['idempotency-key'] !== undefined,
          outcome: storeOutcome(exception, request),
          ...(clientGone ? { aborted: true } : {}),
        },
        clientGone
          ? 'gave up waiting for an earlier command on the same session after the client had gone (499)'
          : 'gave up waiting for an earlier command on the same session: answered 503',
      );
    }
    if (response.headersSent) {
      response.destroy();
      return;
    }
    sendError(request, response, mapped);
  }
}

/**
 * Whether the client closed the connection before `response` was complete: nothing can be answered on it any
 * more, and request-context.ts has logged the request with status 499 and `aborted: true`.
 */
export function clientHasGone(response: ServerResponse): boolean {
  return !response.writableFinished && (response.destroyed || response.socket?.destroyed === true);
}

/**
 * The stable code (`errors[0].title`) of the error each response answered, for the request's log line
 * (request-context.ts): an operator tells a 503 of a store that is down from NOT_READY, a 409
 * ILLEGAL_STATE_TRANSITION from CONCURRENT_UPDATE. Keyed by the response object, so it works for every response
 * (Express's or the server's own), and is gone with it.
 */
const errorCodes = new WeakMap<object, string>();

export function noteErrorCode(response: object, code: string): void {
  errorCodes.set(response, code);
}

/** The code of the error `response` answered, if it answered one. */
export function errorCodeOf(response: object): string | undefined {
  return errorCodes.get(response);
}

/** `session`, `profile`, `idempotency`, … — a stream's kind without the ids in its name. */
const streamCategory = (streamName: string): string => streamName.split('-', 1)[0]!;

/**
 * Answers `mapped` (see `mapError`) on `response`: its own headers, then the §5 body. A refusal before the body
 * was read (401, 404, 405, or one of the server hooks' refusals) does not wait for a large body still on the wire.
 */
export function sendError(
  request: IncomingMessage | undefined,
  response: ServerResponse,
  mapped: MappedError,
): void {
  const code = mapped.entries[0]?.title;
  if (code !== undefined) noteErrorCode(response, code);
  for (const [name, value] of Object.entries(mapped.headers ?? {})) response.setHeader(name, value);
  closeIfLargeBodyUnread(request, response);
  sendJson(response, mapped.status, toErrorBody(mapped));
}

export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.statusCode = status;
  response.setHeader('Content-Type', 'application/json; charset=utf-8');
  response.setHeader('Content-Length', Buffer.byteLength(text));
  response.end(text);
}
