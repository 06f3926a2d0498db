import { tableLines } from './table';

const drawn = (head: string[] | undefined, rows: string[][]) => [...tableLines(head, rows)].join('\n');

describe('tableLines', () => {
  it('draws a head, a rule under it and between rows, and pads each column to its widest line', () => {
    expect(
      drawn(
        ['rev', 'type'],
        [
          ['0', 'SessionCreated'],
          ['12', 'SessionClosed'],
        ],
      ),
    ).toBe(
      [
        '┌─────┬────────────────┐',
        '│ rev │ type           │',
        '├─────┼────────────────┤',
        '│ 0   │ SessionCreated │',
        '├─────┼────────────────┤',
        '│ 12  │ SessionClosed  │',
        '└─────┴────────────────┘',
      ].join('\n'),
    );
  });

  it('makes a row as tall as its tallest cell, the other cells blank below their text', () => {
    expect(drawn(undefined, [['total', 'items 3\ncosts 1']])).toBe(
      ['┌───────┬─────────┐', '│ total │ items 3 │', '│       │ costs 1 │', '└───────┴─────────┘'].join('\n'),
    );
  });

  it('counts terminal columns: wide characters and emoji take two, a combining accent none', () => {
    const lines = drawn(['k'], [['東京'], ['😀'], ['e\u0301'], ['ab']]).split('\n');
    expect(lines).toEqual([
      '┌──────┐',
      '│ k    │',
      '├──────┤',
      '│ 東京 │',
      '├──────┤',
      '│ 😀   │',
      '├──────┤',
      '│ e\u0301    │',
      '├──────┤',
      '│ ab   │',
      '└──────┘',
    ]);
  });

  it('draws a head alone when there are no rows, and nothing for no columns at all', () => {
    expect(drawn(['a', 'b'], [])).toBe(['┌───┬───┐', '│ a │ b │', '└───┴───┘'].join('\n'));
    expect(drawn(undefined, [])).toBe('');
  });

  it('yields the lines one at a time, in order', () => {
    const rows = Array.from({ length: 5_000 }, (_, i) => [String(i), `line ${i}\nmore`]);
    const lines = tableLines(['n', 'text'], rows);
    expect(lines.next().value).toMatch(/^┌/);
    const rest = [...lines];
    expect(rest).toHaveLength(2 + 5_000 * 3 - 1 + 1);
    expect(rest.slice(-3)).toEqual(['│ 4999 │ line 4999 │', '│      │ more      │', '└──────┴───────────┘']);
  });
});
