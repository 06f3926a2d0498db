import { droppedMeanwhile } from './migrations';

const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('droppedMeanwhile', () => {
  it.each([
    ['another schema gone', pgError('3F000', 'schema "rm_other" does not exist'), true],
    [
      'a table of another schema gone',
      pgError('42P01', 'relation "rm_other.projector_lock" does not exist'),
      true,
    ],
    ['our own schema gone', pgError('3F000', 'schema "rm_ours" does not exist'), false],
    [
      'a table of our own schema missing',
      pgError('42P01', 'relation "rm_ours.sessions" does not exist'),
      false,
    ],
    ['an unqualified table missing', pgError('42P01', 'relation "sessions" does not exist'), false],
    ['any other error', pgError('42501', 'permission denied for schema rm_other'), false],
    ['no error', undefined, false],
  ])('given %s, then it says %s', (_name, error, expected) => {
    expect(droppedMeanwhile(error, 'rm_ours')).toBe(expected);
  });
});
