import type { QueryBus } from '@nestjs/cqrs';
import { SessionDeletedError } from '@session-engine/event-store';
import type { IntegrationPrincipal } from '../../auth/integration-auth.guard';
import { ApiError, ErrorCode } from '../../errors/api-error';
import { headerCount } from '../../http/headers';
import type { RequestWithContext } from '../../http/request-context';
import { GetSessionQuery } from '../queries/get-session/get-session.query';
import { assertDeclaredFields } from './declared-fields';
import {
  expectedRevision,
  type IfMatch,
  parseIdempotencyKey,
  parseIfMatch,
  parseIfNoneMatch,
  parseIntegrationId,
} from './request-options';
import type { CommandRequest } from './session-command.runner';
import type { DtoType } from './validators';

export const SESSION_ROUTE = 'v2/customer_sessions/:customerSessionId';

/** OpenAPI description of the headers every command takes. */
export const IF_MATCH_HEADER = {
  name: 'If-Match',
  required: false,
  description:
    '"<revision>" from a previous ETag, a list of them (any one may match), or * (the session exists); ' +
    'strong comparison: W/ tags never match. A missing session is 404 on every command but PUT, whatever ' +
    'If-Match says',
};
/** The create-only precondition: every command takes it, a PUT that creates has a use for it. */
export const IF_NONE_MATCH_HEADER = {
  name: 'If-None-Match',
  required: false,
  description:
    '* only: run only if the session does not exist yet (412 when it does) — a PUT that creates and never ' +
    'overwrites; entity tags, or If-Match as well, are 400 INVALID_HEADER',
};
export const IDEMPOTENCY_KEY_HEADER = {
  name: 'Idempotency-Key',
  required: false,
  description: '≤ 255 characters',
};

/**
 * Collects what a command endpoint received into the runner's `CommandRequest`. `If-Match: *` on a PUT and
 * lists of revisions read the session's current revision (through `queryBus`) to become one expected
 * revision. `createsSession` (PUT: create-or-update) keeps the preconditions for a missing session; every
 * other command needs an existing session and answers a missing one 404 `SESSION_NOT_FOUND` whatever
 * `If-Match` says (RFC 9110 §13.2.1) — also an `If-Match` that can never match, checked against the session
 * only then (a read on that error path alone).
 */
export async function commandRequest(
  req: RequestWithContext,
  principal: IntegrationPrincipal,
  customerSessionId: string,
  endpoint: string,
  queryBus: QueryBus,
  options: {
    dry?: boolean;
    decidedAt?: number;
    body?: unknown;
    pointerBase?: string;
    createsSession?: boolean;
  } = {},
): Promise<CommandRequest> {
  const dry = options.dry ?? false;
  const createsSession = options.createsSession ?? false;
  const integrationId = parseIntegrationId(customerSessionId);
  if (headerCount(req, 'idempotency-key') > 1)
    throw ApiError.of(400, ErrorCode.InvalidHeader, 'Idempotency-Key given more than once');
  const idempotencyKey = parseIdempotencyKey(req.headers['idempotency-key']);
  const mustNotExist = parseIfNoneMatch(req.headers['if-none-match']);
  if (mustNotExist && req.headers['if-match'] !== undefined)
    throw ApiError.of(400, ErrorCode.InvalidHeader, 'Send If-Match or If-None-Match, not both');
  const currentRevision = async () =>
    (await queryBus.execute(new GetSessionQuery(principal.applicationId, integrationId))).revision;
  let conditions: IfMatch | undefined;
  let ifMatch: bigint | null | undefined = null;
  if (!mustNotExist) {
    try {
      conditions = await ifMatchOf(req.headers['if-match'], createsSession, currentRevision);
      ifMatch = await expectedRevision(conditions, currentRevision, createsSession);
    } catch (error) {
      // Deleted for good: the command answers that itself (409 SESSION_DELETED to a PUT, else 404), as it does
      // without a condition — and a keyed retry still gets its recorded answer first.
      if (!(error instanceof SessionDeletedError)) throw error;
      ifMatch = undefined;
    }
  }
  return {
    principal,
    integrationId,
    endpoint,
    requestId: req.id ?? 'unknown',
    idempotencyKey,
    ifMatch,
    ifMatchList: conditions?.kind === 'revisions' ? conditions : undefined,
    dry,
    ...(options.decidedAt !== undefined ? { decidedAt: options.decidedAt } : {}),
    // A dry run's `now` is not part of it: a dry run's answer is never remembered.
    canonicalRequest: { dry, body: options.body ?? null },
    pointerBase: options.pointerBase ?? '',
  };
}

/**
 * `If-Match` as `parseIfMatch` reads it. One that can never match (412) is ignored, for a command that needs an
 * existing session, when the session does not exist: without the precondition the answer is 404.
 */
async function ifMatchOf(
  header: string | string[] | undefined,
  createsSession: boolean,
  currentRevision: () => Promise<bigint | null>,
): Promise<IfMatch | undefined> {
  try {
    return parseIfMatch(header);
  } catch (error) {
    if (createsSession || (await currentRevision()) !== null) throw error;
    return undefined;
  }
}

/**
 * The body as the client sent it, once the DTO has validated it. The domain takes plain JSON (it checks
 * prototypes and re-validates, and takes only the fields it knows: the read-only cart item fields a client
 * may echo back go no further), so the raw body is passed on rather than class instances. With
 * `forbidNonWhitelisted` the validated body and the raw one carry the same fields, except keys named like
 * members of Object.prototype, which the pipe never sees: when the body holds one (JsonBodyMiddleware then
 * parsed it a second time, so `clientBody` is not `req.body`), the raw body's keys are checked against the
 * DTO here (declared-fields.ts), and an undeclared one is 400 UNKNOWN_FIELD like any other.
 */
export function validatedBody<T>(req: RequestWithContext, validated: T): T {
  const body = clientBody(req);
  if (body !== req.body && typeof validated === 'object' && validated !== null) {
    assertDeclaredFields(validated.constructor as DtoType, body);
  }
  return body as T;
}

/** The JSON body as the client sent it, untouched by the validation pipe. */
export function clientBody(req: RequestWithContext): unknown {
  return 'clientBody' in req ? req.clientBody : req.body;
}
