/**
 * The OpenAPI description of what the API answers besides its bodies: the error body of SPEC §5 (the shape
 * `ApiExceptionFilter` writes, `ErrorBody`), the response headers, and `ApiErrorResponses`, the one decorator
 * that documents the error statuses an operation can give.
 */
import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiResponse } from '@nestjs/swagger';
import { DomainErrorCode } from '@session-engine/session-domain';
import { ErrorCode, ManagementErrorCode } from './api-error';

/** A stable machine code of `errors[].title`. */
export type ErrorTitle =
  | (typeof ErrorCode)[keyof typeof ErrorCode]
  | DomainErrorCode
  | (typeof ManagementErrorCode)[keyof typeof ManagementErrorCode];

/** Every `errors[].title` the API can answer with: the enum of the documented schema. */
export const ERROR_TITLES: readonly ErrorTitle[] = [
  ...new Set([
    ...Object.values(ErrorCode),
    ...Object.values(DomainErrorCode),
    ...Object.values(ManagementErrorCode),
  ]),
].sort();

/** Talon.One's `ErrorSource`, of which the API sends `pointer` or `parameter` (never both). */
export class ErrorSource {
  @ApiPropertyOptional({
    description:
      'JSON pointer (RFC 6901) to the offending value in the request body, or /<name> for a path parameter ' +
      '(/customerSessionId, /applicationId). Absent when the error is about a query parameter (see parameter)',
    example: '/customerSession/cartItems/3/quantity',
  })
  pointer?: string;

  @ApiPropertyOptional({
    description:
      'Query parameter that caused this error, named as the request sent it (dry, Dry or dry[] for an unknown ' +
      'one, pageSize): an unknown query parameter, or a bad or repeated value. Absent otherwise (see pointer)',
    example: 'dry',
  })
  parameter?: string;
}

export class ErrorEntry {
  @ApiProperty({
    description: 'Stable machine code; branch on this, never on the text',
    enum: ERROR_TITLES,
    enumName: 'ErrorCode',
    example: ErrorCode.InvalidField,
  })
  title: string;

  @ApiProperty({
    description: 'What is wrong, for people (wording may change)',
    example: 'quantity must be an integer number',
  })
  details: string;

  @ApiProperty({
    type: () => ErrorSource,
    description:
      'Where in the request: pointer (a body field or a path parameter) or parameter (a query parameter), one of ' +
      "the two when the error is at one place; {} when it is not (always there, as in Talon.One's APIError)",
  })
  source: ErrorSource;
}

/** SPEC §5. Never a stack trace; a refused request changed nothing. */
export class ErrorResponse {
  @ApiProperty({
    description: "Summary of the refusal (the first entry's details)",
    example: 'Invalid request: quantity must be an integer number',
  })
  message: string;

  @ApiProperty({ type: () => [ErrorEntry], minItems: 1, description: 'One entry per problem found' })
  errors: ErrorEntry[];

  @ApiProperty({ type: 'integer', description: 'The HTTP status again', example: 400 })
  StatusCode: number;
}

/** Response headers, as OpenAPI header objects. */
export const RESPONSE_HEADERS = {
  requestId: {
    'X-Request-Id': {
      description:
        "The request id: the caller's X-Request-Id when it is 1..128 of [A-Za-z0-9._:-], else a new " +
        'UUID; the correlation id of the events the request appends',
      schema: { type: 'string' },
    },
  },
  etag: {
    ETag: {
      description: '"<stream revision>" of the session, for If-Match',
      schema: { type: 'string', example: '"3"' },
    },
  },
  commandEtag: {
    ETag: {
      description:
        '"<stream revision>" of the session after the command, for If-Match (absent only on a dry run ' +
        'of a session that does not exist)',
      schema: { type: 'string', example: '"3"' },
    },
  },
  retryAfter: {
    'Retry-After': {
      description:
        'Seconds to wait before retrying (RFC 9110 §10.2.3): 1 on NOT_READY (the read models are behind), 5 on ' +
        'SERVICE_UNAVAILABLE (the event store or the read-model database is down or not answering). Absent on the ' +
        'one 503 where a blind retry is not the remedy: a command without Idempotency-Key whose write may still be ' +
        'applied (its details say to read the session first)',
      schema: { type: 'integer', minimum: 1, example: 5 },
    },
  },
  eventPosition: {
    'X-Event-Position': {
      description:
        'Commit position of the last event appended, a decimal integer: pass it as minPosition to the ' +
        'Management API to read this write; absent when nothing was appended (dry run, no change)',
      schema: { type: 'string', pattern: '^\\d+$', example: '18446744' },
    },
  },
} as const;

/** The headers of a command's 200 (and of its replay under the same Idempotency-Key). */
export const COMMAND_RESPONSE_HEADERS = {
  ...RESPONSE_HEADERS.commandEtag,
  ...RESPONSE_HEADERS.eventPosition,
  ...RESPONSE_HEADERS.requestId,
};

export type ErrorStatus = 400 | 401 | 403 | 404 | 409 | 412 | 413 | 415 | 422 | 500 | 503;

/** What an example error entry says, and where: `pointer` (body, path) or `parameter` (query), not both. */
export interface ErrorExample {
  details: string;
  pointer?: string;
  parameter?: string;
}

/** One documented error status: what it means on this operation and the codes it carries. */
export interface ErrorResponseDoc {
  status: ErrorStatus;
  description: string;
  codes: readonly ErrorTitle[];
  /** Examples for this operation where the typical one (`EXAMPLE`) would not fit it. */
  examples?: Readonly<Partial<Record<ErrorTitle, ErrorExample>>>;
}

/** Typical details per code, for the examples. */
const EXAMPLE: Partial<Record<ErrorTitle, ErrorExample>> = {
  [ErrorCode.InvalidField]: {
    details: 'quantity must be an integer number',
    pointer: '/customerSession/cartItems/3/quantity',
  },
  [ErrorCode.UnknownField]: { details: 'Unknown field /colour', pointer: '/colour' },
  [ErrorCode.LimitExceeded]: {
    details: 'cartItems must contain no more than 1000 elements',
    pointer: '/customerSession/cartItems',
  },
  [ErrorCode.InvalidJson]: {
    details: 'The request body is not valid JSON: Unexpected end of JSON input',
  },
  [ErrorCode.InvalidHeader]: { details: 'Idempotency-Key must be 1..255 characters' },
  [DomainErrorCode.CartItemNotFound]: {
    details: 'The cart has no item at position 7',
    pointer: '/return/returnedCartItems/0/position',
  },
  [ErrorCode.Unauthorized]: { details: 'Invalid or unknown integration API key' },
  [ErrorCode.Forbidden]: { details: 'This management key does not hold application 2' },
  [ErrorCode.SessionNotFound]: { details: 'No customer session "checkout-42"' },
  [ErrorCode.SessionDeleted]: {
    details:
      'Customer session "checkout-42" was deleted for good (an operator deleted its stream in the event ' +
      'store): its id cannot be used again; create the session under a new customerSessionId',
  },
  [ManagementErrorCode.ProfileNotFound]: { details: 'No customer profile "alice"' },
  [ErrorCode.UnreadableEvent]: {
    details:
      'The event log of this session holds an event this version of the engine cannot read (Unknown session ' +
      'event type "SessionTeleported"): it was written by a newer version, or changed by hand. The session was ' +
      'not changed; it cannot be read or changed until the engine is upgraded or the event repaired.',
  },
  [ErrorCode.InternalError]: { details: 'Internal error' },
  [DomainErrorCode.IllegalStateTransition]: { details: 'Cannot close a session that is cancelled' },
  [DomainErrorCode.SessionNotModifiable]: {
    details:
      'The session is closed: its fields can no longer change; to change them, reopen it first ' +
      '(PUT /v2/customer_sessions/{customerSessionId}/reopen), then send the change again',
    pointer: '/customerSession/cartItems',
  },
  [DomainErrorCode.ReturnQuantityExceeded]: {
    details: 'Position 0 has 1 unit(s) left to return, 2 requested',
    pointer: '/return/returnedCartItems/0/quantity',
  },
  [ErrorCode.ConcurrentUpdate]: {
    details: 'The session kept changing concurrently; gave up after 10 attempts',
  },
  [ErrorCode.PreconditionFailed]: {
    details: 'If-Match expected revision 3, the session is at revision 4',
  },
  [ErrorCode.PayloadTooLarge]: { details: 'The request body exceeds 5242880 bytes' },
  [ErrorCode.UnsupportedMediaType]: {
    details: 'Content-Type "text/plain" is not supported: send the body as application/json in UTF-8',
  },
  [ErrorCode.IdempotencyKeyReused]: {
    details:
      'This Idempotency-Key was already used for a different request (another body, or another dry value)',
  },
  [ErrorCode.ServiceUnavailable]: { details: 'The event store is not reachable; retry later' },
  [ManagementErrorCode.NotReady]: {
    details: 'The read models have processed position 1200, not yet 1500; retry later',
  },
};

/** The path parameters an error's pointer may name (`/customerSessionId`), as opposed to a body field's. */
const PATH_PARAMETER_POINTERS: ReadonlySet<string> = new Set([
  '/customerSessionId',
  '/applicationId',
  '/id',
  '/profileId',
]);

/** The 400 codes of a refused field of the body or query, whose `message` says "Invalid request: " first. */
const FIELD_REFUSALS: ReadonlySet<ErrorTitle> = new Set([
  ErrorCode.InvalidField,
  ErrorCode.UnknownField,
  ErrorCode.LimitExceeded,
  DomainErrorCode.CartItemNotFound,
]);

/**
 * The `message` the API sends with an error whose first entry says `details`: a refused body field or query
 * parameter (the validation pipe, a domain 400) is "Invalid request: " and its details; any other error — a
 * path segment, the JSON, a header, every other status — its details alone.
 */
function messageOf(status: ErrorStatus, code: ErrorTitle, example: ErrorExample): string {
  const atField =
    example.parameter !== undefined ||
    (example.pointer !== undefined && !PATH_PARAMETER_POINTERS.has(example.pointer));
  return status === 400 && atField && FIELD_REFUSALS.has(code)
    ? `Invalid request: ${example.details}`
    : example.details;
}

function example(doc: ErrorResponseDoc, code: ErrorTitle): ErrorResponse {
  const given = doc.examples?.[code] ?? EXAMPLE[code] ?? { details: code };
  const { details, pointer, parameter } = given;
  const source = parameter !== undefined ? { parameter } : pointer !== undefined ? { pointer } : {};
  return {
    message: messageOf(doc.status, code, given),
    errors: [{ title: code, details, source }],
    StatusCode: doc.status,
  };
}

/** What a bare status means (the Integration API's meaning where the two APIs differ). */
export const DEFAULT_ERROR_RESPONSES: Record<ErrorStatus, ErrorResponseDoc> = {
  400: {
    status: 400,
    description:
      'Invalid input: a field of the wrong type or out of its rules, an unknown field or query parameter, ' +
      'a limit exceeded, or a malformed header',
    codes: [ErrorCode.InvalidField, ErrorCode.UnknownField, ErrorCode.LimitExceeded, ErrorCode.InvalidHeader],
  },
  401: {
    status: 401,
    description:
      'Missing Authorization header, another scheme (a management key), or an unknown integration key',
    codes: [ErrorCode.Unauthorized],
  },
  403: {
    status: 403,
    description: 'The management key does not hold this application',
    codes: [ErrorCode.Forbidden],
  },
  404: {
    status: 404,
    description:
      "No session with this id in the key's application, or it was deleted for good (the details say so)",
    codes: [ErrorCode.SessionNotFound],
  },
  409: {
    status: 409,
    description:
      'The state machine refuses the command, or concurrent commands kept colliding until retries ran out',
    codes: [DomainErrorCode.IllegalStateTransition, ErrorCode.ConcurrentUpdate],
  },
  412: {
    status: 412,
    description:
      'If-Match names no current revision of the session (or is no list of entity tags, or, on a PUT, is * ' +
      'and there is no session), or If-None-Match is * and the session exists; nothing was appended. A ' +
      'command other than PUT answers a missing session 404 whatever If-Match says',
    codes: [ErrorCode.PreconditionFailed],
  },
  413: {
    status: 413,
    description:
      'The request body is over 5 MiB (or its events or its Idempotency-Key record are too large for the event ' +
      'store); a Content-Length over 5 MiB is refused at once, before the body is read, and the connection is closed',
    codes: [ErrorCode.PayloadTooLarge, ErrorCode.LimitExceeded],
  },
  415: {
    status: 415,
    description:
      'The body is not JSON by its headers: a Content-Type other than application/json (or ' +
      'application/*+json) in UTF-8, or a Content-Encoding other than identity',
    codes: [ErrorCode.UnsupportedMediaType],
  },
  422: {
    status: 422,
    description:
      'This Idempotency-Key was already used on this endpoint and session for a different request (another body, or another dry value)',
    codes: [ErrorCode.IdempotencyKeyReused],
  },
  500: {
    status: 500,
    description:
      "The session's event log holds an event this version of the engine cannot read (a type or schema " +
      'version written by a newer version, or data changed by hand); the details quote it. The session was ' +
      'not changed; it cannot be read or changed until the engine is upgraded (docs/operations.md). Any ' +
      'other 500 is INTERNAL_ERROR, a bug, logged with its stack',
    codes: [ErrorCode.UnreadableEvent, ErrorCode.InternalError],
  },
  503: {
    status: 503,
    description:
      'The event store is not reachable, or did not answer within its deadline (EVENTSTORE_CALL_TIMEOUT_MS); ' +
      'retry later. A command whose write timed out, or whose connection failed during its write, may still ' +
      'be applied (the details say so): retry it with the same Idempotency-Key. One that timed out reading, ' +
      "failed recording the profile's first-session claim (before its events were sent), or gave up waiting " +
      'for an earlier command on the same session, was not applied (the details say so too)',
    codes: [ErrorCode.ServiceUnavailable],
  },
};

/**
 * The 400 of an endpoint that reads a JSON body: the JSON body reader's refusals come first (text that is not
 * JSON, nesting over 100 levels), then validation.
 */
export const BODY_BAD_REQUEST: ErrorResponseDoc = {
  status: 400,
  description:
    'Invalid input: the body is not JSON (or nests over 100 levels), a field of the wrong type or out of ' +
    'its rules, an unknown field or query parameter, a limit exceeded, a customerSessionId that is not valid ' +
    'percent-encoding, or a malformed or repeated Idempotency-Key or Content-Type',
  codes: [
    ErrorCode.InvalidField,
    ErrorCode.UnknownField,
    ErrorCode.LimitExceeded,
    ErrorCode.InvalidJson,
    ErrorCode.InvalidHeader,
  ],
};

/** The 400 of a command that takes no body (close, cancel, reopen): any body but `{}` is refused. */
export const NO_BODY_BAD_REQUEST: ErrorResponseDoc = {
  status: 400,
  description:
    'Invalid input: a body other than none or {} (or one that is not JSON), a query parameter, ' +
    'a customerSessionId over 1000 characters or not valid percent-encoding, or a malformed or repeated ' +
    'Idempotency-Key or Content-Type',
  codes: [
    ErrorCode.UnknownField,
    ErrorCode.InvalidField,
    ErrorCode.InvalidJson,
    ErrorCode.LimitExceeded,
    ErrorCode.InvalidHeader,
  ],
  examples: {
    [ErrorCode.UnknownField]: { details: 'This endpoint takes no request body' },
    [ErrorCode.InvalidField]: {
      details: "customerSessionId must be 1..1000 characters long (it is the session's integrationId)",
      pointer: '/customerSessionId',
    },
    [ErrorCode.LimitExceeded]: { details: 'The request body is nested more than 100 levels deep' },
  },
};

/**
 * Documents the error responses of an operation: each with the `ErrorResponse` schema, one example per code,
 * and the X-Request-Id header (a 503 also Retry-After). A bare status takes its meaning from
 * `DEFAULT_ERROR_RESPONSES`.
 */
export function ApiErrorResponses(
  ...responses: (ErrorStatus | ErrorResponseDoc)[]
): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ...responses.map((response) => {
      const doc = typeof response === 'number' ? DEFAULT_ERROR_RESPONSES[response] : response;
      return ApiResponse({
        status: doc.status,
        description: `${doc.description} (${doc.codes.join(', ')})`,
        type: ErrorResponse,
        headers:
          doc.status === 503
            ? { ...RESPONSE_HEADERS.requestId, ...RESPONSE_HEADERS.retryAfter }
            : RESPONSE_HEADERS.requestId,
        examples: Object.fromEntries(
          doc.codes.map((code) => [code, { summary: code, value: example(doc, code) }]),
        ),
      });
    }),
  );
}

/**
 * What every command may also answer, after its own 400 / 401 / 404 / 409: a stale If-Match, a body over
 * 5 MiB, a body that is not JSON by its headers, a reused Idempotency-Key, an event it cannot read, the event
 * store down.
 */
export const COMMAND_CONDITION_ERRORS = [412, 413, 415, 422, 500, 503] as const;

/**
 * The errors of a state transition without a body (close, cancel, reopen); `conflict` says when the state
 * machine refuses it (409, with CONCURRENT_UPDATE for a collision storm).
 */
export function TransitionErrorResponses(conflict: string): MethodDecorator & ClassDecorator {
  return ApiErrorResponses(
    NO_BODY_BAD_REQUEST,
    401,
    404,
    {
      status: 409,
      description: `${conflict}, or concurrent commands kept colliding`,
      codes: [DomainErrorCode.IllegalStateTransition, ErrorCode.ConcurrentUpdate],
    },
    ...COMMAND_CONDITION_ERRORS,
  );
}
