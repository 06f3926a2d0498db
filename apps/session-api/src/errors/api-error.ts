/**
 * Errors raised by the HTTP layer itself (auth, body, headers, validation, idempotency). Each carries its
 * status and stable code; `ApiExceptionFilter` is the one place that turns any error into a response.
 */
import type { DomainError } from '@session-engine/session-domain';

/**
 * One error of a response. Where it is, when it is at one place of the request (at most one of the two): `pointer`,
 * a JSON pointer (RFC 6901) into the body or at a path parameter (`/customerSessionId`); `parameter`, the name of
 * a query parameter as the request spelt it (`dry`, `Dry`, `dry[]`) — Talon.One's `ErrorSource.parameter`.
 */
export interface ApiErrorEntry {
  title: string;
  details: string;
  pointer?: string;
  parameter?: string;
}

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    readonly entries: ApiErrorEntry[],
    message?: string,
    /** Response headers that belong to the refusal (e.g. `Allow` on a 405); the filter sets them. */
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message ?? entries[0]?.details ?? 'Request refused');
  }

  static of(status: number, title: string, details: string, pointer?: string): ApiError {
    return new ApiError(status, [{ title, details, pointer }]);
  }

  /**
   * 401 UNAUTHORIZED with the challenge of `scheme` (`WWW-Authenticate: ApiKey-v1`): RFC 9110 §11.6.1, a 401
   * MUST have one.
   */
  static unauthorized(scheme: string, details: string): ApiError {
    return new ApiError(401, [{ title: ErrorCode.Unauthorized, details }], undefined, {
      'WWW-Authenticate': scheme,
    });
  }
}

/** A domain refusal together with where the command's input sits in the request body. */
export class CommandRefused extends Error {
  override readonly name = 'CommandRefused';
  constructor(
    readonly domainError: DomainError,
    /** JSON pointer of the command input inside the body, e.g. "/customerSession"; "" for the root. */
    readonly pointerBase: string,
  ) {
    super(domainError.message);
  }
}

/**
 * A keyed command that changed nothing, whose idempotency record the event store failed to write (`cause`: the
 * store's error). It has no events to carry the key's token, so its 200 would be forgotten: the filter answers
 * 503 "not applied, retry with the same key is safe" instead (docs/command-api.md, "Idempotency-Key").
 */
export class UnrecordedNoOpError extends Error {
  override readonly name = 'UnrecordedNoOpError';
  constructor(override readonly cause: Error) {
    super(`The idempotency record of a command that changed nothing was not written: ${cause.message}`);
  }
}

export const ErrorCode = {
  InvalidField: 'INVALID_FIELD',
  UnknownField: 'UNKNOWN_FIELD',
  LimitExceeded: 'LIMIT_EXCEEDED',
  InvalidJson: 'INVALID_JSON',
  InvalidHeader: 'INVALID_HEADER',
  PayloadTooLarge: 'PAYLOAD_TOO_LARGE',
  Unauthorized: 'UNAUTHORIZED',
  Forbidden: 'FORBIDDEN',
  SessionNotFound: 'SESSION_NOT_FOUND',
  /**
   * 409 on a PUT (create-or-update) of a session whose stream an operator deleted for good (tombstoned): its id
   * cannot be used again. A read of it or any other command is 404 `SESSION_NOT_FOUND`.
   */
  SessionDeleted: 'SESSION_DELETED',
  RouteNotFound: 'NOT_FOUND',
  MethodNotAllowed: 'METHOD_NOT_ALLOWED',
  MalformedRequest: 'MALFORMED_REQUEST',
  HeadersTooLarge: 'HEADERS_TOO_LARGE',
  RequestTimeout: 'REQUEST_TIMEOUT',
  /** 417: an `Expect` other than `100-continue` (RFC 9110 §10.1.1), answered before the application runs. */
  ExpectationFailed: 'EXPECTATION_FAILED',
  PreconditionFailed: 'PRECONDITION_FAILED',
  ConcurrentUpdate: 'CONCURRENT_UPDATE',
  IdempotencyKeyReused: 'IDEMPOTENCY_KEY_REUSED',
  UnsupportedMediaType: 'UNSUPPORTED_MEDIA_TYPE',
  ServiceUnavailable: 'SERVICE_UNAVAILABLE',
  InternalError: 'INTERNAL_ERROR',
  /**
   * 500: the session's (or its profile's) stream holds an event this version cannot read — a type or schema
   * version it does not know (written by a newer version), or data changed by hand. Not the request's fault.
   */
  UnreadableEvent: 'UNREADABLE_EVENT',
} as const;

/** Codes only the Management API answers with. */
export const ManagementErrorCode = {
  /** GET customer_profiles/{profileId}: the read model knows no such profile (404). */
  ProfileNotFound: 'PROFILE_NOT_FOUND',
  /** `minPosition` not processed by the read models within 5 s (503, read-model-position.ts). */
  NotReady: 'NOT_READY',
} as const;
