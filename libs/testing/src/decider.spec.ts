import { stripVTControlCharacters } from 'node:util';
import { DeciderSpecification } from './decider';

const spec = DeciderSpecification.for<string, string, number>({
  decide: (command) => {
    if (command === 'refuse')
      throw Object.assign(new Error('refused'), { code: 'REFUSED', category: 'conflict' });
    if (command === 'crash') return (null as unknown as string[]).slice();
    return [command];
  },
  evolve: (state) => state + 1,
  initialState: () => 0,
});

/** The error an assertion throws (its message without colours), with the first frame of its stack (the line jest prints the code of). */
function failure(assert: () => void): { message: string; firstFrame: string } {
  try {
    assert();
  } catch (error) {
    const { message, stack = '' } = error as Error;
    // Without colours: in a terminal jest colours the diff, which puts escape codes before each line's end.
    return {
      message: stripVTControlCharacters(message),
      firstFrame: stack.split('\n').find((line) => /^\s+at /.test(line)) ?? '',
    };
  }
  throw new Error('the assertion passed');
}

describe('DeciderSpecification', () => {
  it('passes on the events emitted and on the code of a refusal', () => {
    spec.given(['a']).when('b').then(['b']);
    spec.given([]).when('refuse').thenThrows('REFUSED', { category: 'conflict' });
    spec
      .given(['a', 'b'])
      .when('c')
      .thenEvents((events, before, after) => {
        expect([events, before, after]).toEqual([['c'], 2, 3]);
      });
  });

  it('fails at the line of the spec that called then, not in the helper', () => {
    const { message, firstFrame } = failure(() => spec.given([]).when('b').then(['c']));
    expect(message).toContain('toEqual');
    expect(firstFrame).toContain('decider.spec.ts');
  });

  it('shows the events emitted when a refusal was expected and the command was accepted', () => {
    const { message, firstFrame } = failure(() => spec.given([]).when('accepted').thenThrows('REFUSED'));
    expect(message).toMatch(/- +"thrown": Object \{[\s\S]*\+ +"emitted": Array \[\n.*"accepted",/);
    expect(firstFrame).toContain('decider.spec.ts');
  });

  it('throws an error without a code as it is: a bug in decide, its stack at the failing line', () => {
    expect(() => spec.given([]).when('crash').thenThrows('REFUSED')).toThrow(TypeError);
  });

  it('refuses to be awaited with a message saying how to use it, instead of comparing events with a function', async () => {
    await expect(
      (async () => {
        await (spec.given([]).when('b') as unknown as Promise<void>);
      })(),
    ).rejects.toThrow(
      'A decider outcome is no promise: call .then([...events]) on it, without await or return',
    );
  });
});
