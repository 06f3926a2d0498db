/**
 * `Authorization: ApiKey-v1 <key>` for the Integration API. The key decides the application; everything the
 * request touches is scoped to it. Management keys and any other scheme are 401 here.
 */
import { createParamDecorator, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { ApiKeys } from '../config/api-keys.provider';
import { ApiError, ErrorCode } from '../errors/api-error';

export interface IntegrationPrincipal {
  applicationId: number;
  keyId: string;
}

type AuthenticatedRequest = IncomingMessage & { principal?: IntegrationPrincipal };

const SCHEME = /^ApiKey-v1\s+(\S+)\s*$/;

@Injectable()
export class IntegrationAuthGuard implements CanActivate {
  constructor(private readonly keys: ApiKeys) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const header = request.headers.authorization;
    if (!header)
      throw ApiError.of(401, ErrorCode.Unauthorized, 'Missing Authorization header (ApiKey-v1 <key>)');
    const match = SCHEME.exec(header);
    const key = match ? this.keys.integration.get(match[1]!) : undefined;
    if (!key) throw ApiError.of(401, ErrorCode.Unauthorized, 'Invalid or unknown integration API key');
    request.principal = { applicationId: key.applicationId, keyId: key.keyId };
    return true;
  }
}

export const Principal = createParamDecorator(
  (_: unknown, context: ExecutionContext): IntegrationPrincipal =>
    context.switchToHttp().getRequest<AuthenticatedRequest>().principal!,
);
