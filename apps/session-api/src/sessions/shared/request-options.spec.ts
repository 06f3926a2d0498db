import { ApiError } from '../../errors/api-error';
import { assertNoBody, parseDry, parseIdempotencyKey, parseIfMatch } from './request-options';

const statusOf = (fn: () => unknown): number | undefined => {
  try {
    fn();
    return undefined;
  } catch (error) {
    return (error as ApiError).status;
  }
};

describe('request options', () => {
  it('reads If-Match as a stream revision and refuses anything else with 412', () => {
    expect(parseIfMatch('"7"')).toBe(7n);
    expect(parseIfMatch('W/"0"')).toBe(0n);
    expect(parseIfMatch(undefined)).toBeUndefined();
    expect(statusOf(() => parseIfMatch('7'))).toBe(412);
    expect(statusOf(() => parseIfMatch('"abc"'))).toBe(412);
  });

  it('accepts idempotency keys up to 255 characters', () => {
    expect(parseIdempotencyKey('k'.repeat(255))).toHaveLength(255);
    expect(statusOf(() => parseIdempotencyKey('k'.repeat(256)))).toBe(400);
    expect(statusOf(() => parseIdempotencyKey(''))).toBe(400);
  });

  it('knows only true and false for dry', () => {
    expect(parseDry('true')).toBe(true);
    expect(parseDry(undefined)).toBe(false);
    expect(statusOf(() => parseDry('yes'))).toBe(400);
  });

  it('refuses a body on the verbs that take none', () => {
    expect(() => assertNoBody(undefined)).not.toThrow();
    expect(() => assertNoBody({})).not.toThrow();
    expect(statusOf(() => assertNoBody({ state: 'closed' }))).toBe(400);
  });
});
