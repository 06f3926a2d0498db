/**
 * `Authorization: ManagementKey-v1 <key>` for the Management API. Integration keys and other schemes are
 * 401 here; a management key used on an application it does not hold is 403. The Management API is GET-only
 * and never reads a request body, so nothing is parsed before this guard has run. Every 401 carries the
 * challenge `WWW-Authenticate: ManagementKey-v1` (RFC 9110 §11.6.1: a 401 MUST have one).
 */
import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { ApiKeys } from '../config/api-keys.provider';
import { ApiError, ErrorCode } from '../errors/api-error';
import { headerCount } from '../http/headers';
import type { RequestWithContext } from '../http/request-context';
import { parseApplicationIdParam } from './dto/management-params';

const unauthorized = (details: string): ApiError => ApiError.unauthorized('ManagementKey-v1', details);

@Injectable()
export class ManagementAuthGuard implements CanActivate {
  constructor(private readonly keys: ApiKeys) {}

  canActivate(context: ExecutionContext): boolean {
    const request = context
      .switchToHttp()
      .getRequest<RequestWithContext & { params?: Record<string, string> }>();
    const header = request.headers.authorization;
    if (!header) throw unauthorized('Missing Authorization header (ManagementKey-v1 <key>)');
    if (headerCount(request, 'authorization') > 1)
      throw unauthorized('Authorization header given more than once');
    const key = this.keys.managementKeyOf(header);
    if (!key) throw unauthorized('Invalid or unknown management API key');
    // Named on the request line (request-context.ts) once the key is known: also when the application id is
    // refused, or the key does not hold the application.
    request.principal = { keyId: key.keyId };
    const applicationId = parseApplicationIdParam(request.params?.applicationId ?? '');
    request.principal.applicationId = applicationId;
    if (key.applications !== '*' && !key.applications.includes(applicationId)) {
      throw ApiError.of(
        403,
        ErrorCode.Forbidden,
        `This management key does not hold application ${applicationId}`,
      );
    }
    return true;
  }
}
