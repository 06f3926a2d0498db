/** The request-level options every command shares: `dry`, `If-Match`, `Idempotency-Key`, the session id. */
import { ApiError, ErrorCode } from '../../errors/api-error';

export const MAX_INTEGRATION_ID_LENGTH = 1000;
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

export function parseIntegrationId(value: string): string {
  if (value.length < 1 || value.length > MAX_INTEGRATION_ID_LENGTH) {
    throw ApiError.of(
      400,
      ErrorCode.InvalidField,
      'customerSessionId must be 1..1000 characters',
      '/customerSessionId',
    );
  }
  return value;
}

export function parseDry(value: unknown): boolean {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  throw ApiError.of(400, ErrorCode.InvalidField, 'dry must be true or false', '/dry');
}

/** `If-Match: "<revision>"` (a weak `W/` prefix is tolerated); anything else cannot match → 412. */
export function parseIfMatch(value: string | string[] | undefined): bigint | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value.join(',') : value;
  const match = /^\s*(?:W\/)?"(\d{1,19})"\s*$/.exec(text);
  if (!match) {
    throw ApiError.of(
      412,
      ErrorCode.PreconditionFailed,
      `If-Match ${JSON.stringify(text)} names no revision of this session`,
    );
  }
  return BigInt(match[1]!);
}

export function parseIdempotencyKey(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value) || value.length < 1 || value.length > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw ApiError.of(400, ErrorCode.InvalidHeader, 'Idempotency-Key must be 1..255 characters');
  }
  return value;
}

export function assertNoBody(body: unknown): void {
  if (body === undefined || body === null) return;
  if (typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0) return;
  throw ApiError.of(400, ErrorCode.UnknownField, 'This endpoint takes no request body');
}
