import { checkString, DomainError, SESSION_LIMITS } from '@session-engine/session-domain';
import { ApiError, ErrorCode } from '../../errors/api-error';

const POSITIVE_INTEGER = /^[1-9]\d{0,15}$/;

/** What `applicationId` and a session `id` of the path accept, as an OpenAPI schema: 1..2⁵³−1. */
export const POSITIVE_ID_SCHEMA = {
  type: 'integer',
  format: 'int64',
  minimum: 1,
  maximum: Number.MAX_SAFE_INTEGER,
} as const;

function positiveInteger(value: string, name: string): number {
  const parsed = Number(value);
  if (!POSITIVE_INTEGER.test(value) || !Number.isSafeInteger(parsed)) {
    throw ApiError.of(400, ErrorCode.InvalidField, `${name} must be an integer ≥ 1`, `/${name}`);
  }
  return parsed;
}

export const parseApplicationIdParam = (value: string): number => positiveInteger(value, 'applicationId');
export const parseSessionIdParam = (value: string): number => positiveInteger(value, 'id');

/** A profile id of the path, by the rule the API stores profile ids with (1..1000 characters, no NUL). */
export function parseProfileIdParam(value: string): string {
  try {
    return checkString(value, '/profileId', 1, SESSION_LIMITS.profileIdLength);
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    throw ApiError.of(400, ErrorCode.InvalidField, `profileId ${error.message}`, '/profileId');
  }
}
