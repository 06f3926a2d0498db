/**
 * `Authorization: ApiKey-v1 <key>` for the Integration API. The key decides the application; everything the
 * request touches is scoped to it. Management keys and any other scheme are 401 here. Commands with a body are
 * authenticated before the body is read (JsonBodyMiddleware calls `authenticate`); the guard covers the rest.
 * Every 401 carries the challenge `WWW-Authenticate: ApiKey-v1` (RFC 9110 §11.6.1: a 401 MUST have one).
 */
import { createParamDecorator, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { ApiKeys } from '../config/api-keys.provider';
import { ApiError } from '../errors/api-error';
import { headerCount } from '../http/headers';

export interface IntegrationPrincipal {
  applicationId: number;
  keyId: string;
}

export type AuthenticatedRequest = IncomingMessage & { principal?: IntegrationPrincipal };

const unauthorized = (details: string): ApiError => ApiError.unauthorized('ApiKey-v1', details);

@Injectable()
export class IntegrationAuthGuard implements CanActivate {
  constructor(private readonly keys: ApiKeys) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    // A command with a body was authenticated already, by the JSON body reader before it read the body.
    if (request.principal === undefined) this.authenticate(request);
    return true;
  }

  /**
   * Resolves the request's key into its principal (and sets `request.principal`), or throws the 401. Also
   * called by JsonBodyMiddleware, so that a request without a valid key is refused before its body is read.
   */
  authenticate(request: AuthenticatedRequest): IntegrationPrincipal {
    const header = request.headers.authorization;
    if (!header) throw unauthorized('Missing Authorization header (ApiKey-v1 <key>)');
    if (headerCount(request, 'authorization') > 1)
      throw unauthorized('Authorization header given more than once');
    const key = this.keys.integrationKeyOf(header);
    if (!key) throw unauthorized('Invalid or unknown integration API key');
    return (request.principal = { applicationId: key.applicationId, keyId: key.keyId });
  }
}

export const Principal = createParamDecorator(
  (_: unknown, context: ExecutionContext): IntegrationPrincipal =>
    context.switchToHttp().getRequest<AuthenticatedRequest>().principal!,
);
