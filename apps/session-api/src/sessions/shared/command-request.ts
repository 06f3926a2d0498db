import type { IntegrationPrincipal } from '../../auth/integration-auth.guard';
import type { RequestWithContext } from '../../http/request-context';
import { parseIdempotencyKey, parseIfMatch, parseIntegrationId } from './request-options';
import type { CommandRequest } from './session-command.runner';

export const SESSION_ROUTE = 'v2/customer_sessions/:customerSessionId';

/** Collects what a command endpoint received into the runner's `CommandRequest`. */
export function commandRequest(
  req: RequestWithContext,
  principal: IntegrationPrincipal,
  customerSessionId: string,
  endpoint: string,
  options: { dry?: boolean; body?: unknown; pointerBase?: string } = {},
): CommandRequest {
  const dry = options.dry ?? false;
  return {
    principal,
    integrationId: parseIntegrationId(customerSessionId),
    endpoint,
    requestId: req.id ?? 'unknown',
    idempotencyKey: parseIdempotencyKey(req.headers['idempotency-key']),
    ifMatch: parseIfMatch(req.headers['if-match']),
    dry,
    canonicalRequest: { dry, body: options.body ?? null },
    pointerBase: options.pointerBase ?? '',
  };
}

/**
 * The body as the client sent it, once the DTO has validated it. The domain takes plain JSON (it checks
 * prototypes and re-validates), and with `forbidNonWhitelisted` the validated body and the raw one carry
 * the same fields, so the raw one is passed on rather than class instances.
 */
export function validatedBody<T>(req: RequestWithContext, _validated: T): T {
  return clientBody(req) as T;
}

/** The JSON body as the client sent it, untouched by the validation pipe. */
export function clientBody(req: RequestWithContext): unknown {
  return 'clientBody' in req ? req.clientBody : req.body;
}
