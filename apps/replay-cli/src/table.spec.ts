import { displayWidth, tableLines } from './table';

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

  it('counts an emoji of several code points as the two columns a terminal draws: ZWJ, flag, skin tone, keycap', () => {
    const lines = drawn(['k'], [['👨‍👩‍👧'], ['🧑‍🧑‍🧒'], ['🇩🇪'], ['👍🏽'], ['🫶🏽'], ['1️⃣'], ['東京']]).split('\n');
    expect(lines).toEqual([
      '┌──────┐',
      '│ k    │',
      '├──────┤',
      '│ 👨‍👩‍👧   │',
      '├──────┤',
      '│ 🧑‍🧑‍🧒   │',
      '├──────┤',
      '│ 🇩🇪   │',
      '├──────┤',
      '│ 👍🏽   │',
      '├──────┤',
      '│ 🫶🏽   │',
      '├──────┤',
      '│ 1️⃣   │',
      '├──────┤',
      '│ 東京 │',
      '└──────┘',
    ]);
  });

  it('lines up a table of ZWJ families, flags, skin tones, keycaps and CJK text: every line as wide as the border', () => {
    // Each emoji and CJK character below is drawn two columns wide; the rest of a line is one column a character.
    const wide = ['🧑‍🧑‍🧒', '👨‍👩‍👧', '👩‍💻', '❤️‍🔥', '🇩🇪', '🇯🇵', '👍🏽', '🫶🏽', '1️⃣', '東', '京', '駅', '名', '前', '🫠'];
    const columnsOf = (line: string): number => {
      let rest = line;
      let columns = 0;
      for (const text of wide) {
        const parts = rest.split(text);
        columns += 2 * (parts.length - 1);
        rest = parts.join('');
      }
      expect(rest).toMatch(/^[\x20-\x7e│─┌┐└┘├┤┬┴┼]*$/);
      return columns + rest.length;
    };
    const lines = drawn(
      ['名前', 'who', 'where'],
      [
        ['family', '👨‍👩‍👧 and 🧑‍🧑‍🧒', '東京駅'],
        ['coder', 'a👩‍💻b', '🇩🇪 🇯🇵'],
        ['thumbs', '👍🏽👍🏽', 'x'],
        ['misc', '🫶🏽 1️⃣ ❤️‍🔥 🫠', '京\n🇩🇪'],
      ],
    ).split('\n');
    const border = columnsOf(lines[0]!);
    expect(border).toBe(1 + (6 + 2) + 1 + (11 + 2) + 1 + (6 + 2) + 1);
    expect(lines.map(columnsOf)).toEqual(lines.map(() => border));
  });

  it('displayWidth sums the columns of the grapheme clusters, and measures plain ASCII by its length', () => {
    expect(displayWidth('')).toBe(0);
    expect(displayWidth('SessionCreated 12')).toBe(17);
    expect(displayWidth('👩‍💻')).toBe(2);
    expect(displayWidth('👨‍👩‍👧')).toBe(2);
    expect(displayWidth('🧑‍🧑‍🧒')).toBe(2);
    expect(displayWidth('🏳️‍🌈')).toBe(2);
    expect(displayWidth('🇩🇪🇫🇷')).toBe(4);
    expect(displayWidth('👍🏽')).toBe(2);
    expect(displayWidth('✌🏽')).toBe(2);
    expect(displayWidth('1️⃣#️⃣')).toBe(4);
    expect(displayWidth('🫠')).toBe(2);
    expect(displayWidth('café 東京')).toBe(9);
    expect(displayWidth('e\u0301')).toBe(1);
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
