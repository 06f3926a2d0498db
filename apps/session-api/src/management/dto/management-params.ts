import { ApiError, ErrorCode } from '../../errors/api-error';

const POSITIVE_INTEGER = /^[1-9]\d{0,15}$/;

function positiveInteger(value: string, name: string): number {
  const parsed = Number(value);
  if (!POSITIVE_INTEGER.test(value) || !Number.isSafeInteger(parsed)) {
    throw ApiError.of(400, ErrorCode.InvalidField, `${name} must be an integer ≥ 1`, `/${name}`);
  }
  return parsed;
}

export const parseApplicationIdParam = (value: string): number => positiveInteger(value, 'applicationId');
export const parseSessionIdParam = (value: string): number => positiveInteger(value, 'id');
