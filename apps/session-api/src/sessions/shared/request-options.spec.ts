import { ApiError } from '../../errors/api-error';
import {
  assertNoBody,
  expectedRevision,
  ifMatchListFailed,
  parseDry,
  parseIdempotencyKey,
  parseIfMatch,
} from './request-options';

const statusOf = (fn: () => unknown): number | undefined => {
  try {
    fn();
    return undefined;
  } catch (error) {
    return (error as ApiError).status;
  }
};

describe('request options', () => {
  it('reads If-Match as * or a list of strong entity tags naming revisions, anything else is 412', () => {
    expect(parseIfMatch(undefined)).toBeUndefined();
    const list = (revisions: bigint[], neverMatching: string[] = []) => ({
      kind: 'revisions',
      revisions,
      neverMatching,
    });
    expect(parseIfMatch('"7"')).toEqual(list([7n]));
    expect(parseIfMatch('*')).toEqual({ kind: 'any' });
    expect(parseIfMatch(' * ')).toEqual({ kind: 'any' });
    expect(parseIfMatch('"1", "0"')).toEqual(list([1n, 0n]));
    expect(parseIfMatch('"1",,\t"x" ,W/"2","3"')).toEqual(list([1n, 3n], ['"x"', 'W/"2"']));
    expect(parseIfMatch(['"4"', '"5"'])).toEqual(list([4n, 5n]));
    // Strong comparison: a weak tag never matches, so a list of weak tags names no revision.
    for (const value of ['W/"0"', 'W/"0", W/"1"', '7', '"abc"', '"1" "2"', '*, "1"', '"1', '', ',']) {
      expect([value, statusOf(() => parseIfMatch(value))]).toEqual([value, 412]);
    }
  });

  it('turns If-Match into the revision the command expects, reading the current one only when needed', async () => {
    const reads: string[] = [];
    const at = (revision: bigint | null) => async () => {
      reads.push('read');
      return revision;
    };
    // A PUT (create-or-update): a missing session is what the precondition is about.
    const expected = (value: string, revision: bigint | null) =>
      expectedRevision(parseIfMatch(value), at(revision), true);

    expect(await expectedRevision(undefined, at(3n), true)).toBeUndefined();
    expect(await expected('"3"', 5n)).toBe(3n);
    expect(reads).toEqual([]);
    // `*`: any existing session, unconditionally; none is 412.
    expect(await expected('*', 5n)).toBeUndefined();
    await expect(expected('*', null)).rejects.toMatchObject({ status: 412 });
    // A list: the entry naming the current revision, else the first (the runner answers 412 for it).
    expect(await expected('"1", "5"', 5n)).toBe(5n);
    expect(await expected('"1", "5"', 2n)).toBe(1n);
    expect(await expected('"1", "5"', null)).toBe(1n);
    expect(reads).toHaveLength(5);
  });

  it('evaluates no precondition against a missing session for a command that needs one (RFC 9110 §13.2.1)', async () => {
    const reads: string[] = [];
    const at = (revision: bigint | null) => async () => {
      reads.push('read');
      return revision;
    };
    // Every command but PUT: a missing session is its 404, whatever If-Match says.
    const expected = (value: string, revision: bigint | null) =>
      expectedRevision(parseIfMatch(value), at(revision), false);

    // `*` asks for nothing such a command does not need anyway: unconditional, nothing read.
    expect(await expected('*', null)).toBeUndefined();
    expect(await expected('*', 5n)).toBeUndefined();
    expect(reads).toEqual([]);
    // One revision goes to the command handler as it is (the handler answers a missing session's 404 first).
    expect(await expected('"3"', null)).toBe(3n);
    // A list: unconditional on a missing session, as before on an existing one.
    expect(await expected('"1", "5"', null)).toBeUndefined();
    expect(await expected('"1", "5"', 5n)).toBe(5n);
    expect(await expected('"1", "5"', 2n)).toBe(1n);
    expect(reads).toHaveLength(3);
  });

  it('says where a weak tag of a revision comes from: a proxy that compresses responses weakens the ETag', () => {
    const messageOf = (value: string) => {
      try {
        parseIfMatch(value);
      } catch (error) {
        return (error as ApiError).message;
      }
      throw new Error(`no 412 for ${value}`);
    };
    expect(messageOf('W/"3"')).toBe(
      'If-Match "W/\\"3\\"" names no revision of this session: W/"3" is a weak tag, and If-Match compares ' +
        'strongly. The API sends strong ETags ("3"); one that arrives weak was weakened on its way, usually by ' +
        'a proxy that compresses responses (nginx gzip): turn compression off for the API, or send the tag without W/',
    );
    // Tags that are no revision of ours, weak or not, are not ours to explain.
    expect(messageOf('W/"abc"')).toBe('If-Match "W/\\"abc\\"" names no revision of this session');
    expect(messageOf('"abc"')).toBe('If-Match "\\"abc\\"" names no revision of this session');
  });

  it('names every tag of an If-Match list in its 412, not only the revision the command expected', () => {
    const failed = (value: string, actual: bigint | null) => {
      const ifMatch = parseIfMatch(value);
      if (ifMatch?.kind !== 'revisions') throw new Error(`not a list: ${value}`);
      const error = ifMatchListFailed(ifMatch, actual);
      return [error.status, error.entries[0]!.title, error.message];
    };
    expect(failed('"5", "0"', 2n)).toEqual([
      412,
      'PRECONDITION_FAILED',
      'If-Match expected revision 5 or 0, the session is at revision 2',
    ]);
    expect(failed('"5", "0", "5", "9"', null)).toEqual([
      412,
      'PRECONDITION_FAILED',
      'If-Match expected revision 5, 0 or 9, the session is at no revision (it does not exist)',
    ]);
    // One revision reads as the store's own 412 does; tags that can never match are named too.
    expect(failed('"5"', 2n)[2]).toBe('If-Match expected revision 5, the session is at revision 2');
    expect(failed('"0", W/"2", "004"', 2n)[2]).toBe(
      'If-Match expected revision 0 (W/"2", "004" match nothing: the comparison is strong, and only ' +
        '"<revision>" as the ETag writes it names a revision), the session is at revision 2',
    );
  });

  it('accepts idempotency keys up to 255 characters', () => {
    expect(parseIdempotencyKey('k'.repeat(255))).toHaveLength(255);
    expect(statusOf(() => parseIdempotencyKey('k'.repeat(256)))).toBe(400);
    expect(statusOf(() => parseIdempotencyKey(''))).toBe(400);
    // Header values arrive one character per byte: 255 two-byte characters are 510 of them, and still fit.
    const utf8Key = Buffer.from('é'.repeat(255), 'utf8').toString('latin1');
    expect(parseIdempotencyKey(utf8Key)).toBe(utf8Key);
    const tooLong = Buffer.from('é'.repeat(256), 'utf8').toString('latin1');
    expect(statusOf(() => parseIdempotencyKey(tooLong))).toBe(400);
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
