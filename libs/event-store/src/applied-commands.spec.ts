import { AppliedCommands } from './applied-commands';

const HOUR = 60 * 60 * 1000;

function stored(commandId: string, revision: number, writtenAt = 0, requestHash = 'h') {
  return { requestHash, commandId, revision: BigInt(revision), position: BigInt(revision * 100), writtenAt };
}

describe('AppliedCommands', () => {
  it('given consecutive events of one command, when looked up, then it spans from the first to the last', () => {
    const applied = new AppliedCommands(24 * HOUR);
    applied.add('t', stored('c1', 4), 0);
    applied.add('t', stored('c1', 5), 0);
    expect(applied.get('t', 0)).toEqual({
      requestHash: 'h',
      commandId: 'c1',
      firstRevision: 4n,
      revision: 5n,
      position: 500n,
      writtenAt: 0,
    });
  });

  it('given the token again in a later command, then the later command is what it finds', () => {
    const applied = new AppliedCommands(24 * HOUR);
    applied.add('t', stored('c1', 1), 0);
    applied.add('t', stored('c2', 2, 0, 'h2'), 0);
    expect(applied.get('t', 0)).toMatchObject({ commandId: 'c2', firstRevision: 2n, requestHash: 'h2' });
  });

  it('given a command older than the window, then it is neither recorded nor found', () => {
    const applied = new AppliedCommands(24 * HOUR);
    applied.add('old', stored('c1', 1, 0), 25 * HOUR);
    expect(applied.size).toBe(0);
    applied.add('young', stored('c2', 2, 0), 0);
    expect(applied.get('young', 23 * HOUR)).toBeDefined();
    expect(applied.get('young', 25 * HOUR)).toBeUndefined();
  });

  it('given more commands than its capacity, then the oldest are forgotten first', () => {
    const applied = new AppliedCommands(24 * HOUR, 2);
    applied.add('a', stored('c1', 1), 0);
    applied.add('b', stored('c2', 2), 0);
    applied.add('c', stored('c3', 3), 0);
    expect([applied.get('a', 0), applied.get('b', 0)?.commandId, applied.get('c', 0)?.commandId]).toEqual([
      undefined,
      'c2',
      'c3',
    ]);
  });

  it('given a command dropped for room, then it may have been dropped until its window ends', () => {
    const applied = new AppliedCommands(24 * HOUR, 2);
    applied.add('a', stored('c1', 1, 0), 0);
    applied.add('b', stored('c2', 2, HOUR), HOUR);
    expect(applied.mayHaveDropped(HOUR)).toBe(false);
    applied.add('c', stored('c3', 3, 2 * HOUR), 2 * HOUR);
    // 'a' (written at 0) is gone: a token missing here may be in the stream until 24 h after it.
    expect(applied.mayHaveDropped(2 * HOUR)).toBe(true);
    expect(applied.mayHaveDropped(24 * HOUR)).toBe(true);
    expect(applied.mayHaveDropped(24 * HOUR + 1)).toBe(false);
  });

  it('given only commands older than the window, then nothing was dropped that still counts', () => {
    const applied = new AppliedCommands(24 * HOUR, 1);
    applied.add('a', stored('c1', 1, 0), 25 * HOUR);
    applied.add('b', stored('c2', 2, 25 * HOUR), 25 * HOUR);
    expect(applied.mayHaveDropped(25 * HOUR)).toBe(false);
  });
});
