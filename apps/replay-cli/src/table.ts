/**
 * The CLI's text tables: box-drawing borders, one space of padding either side of a cell, a rule between rows,
 * columns as wide as their widest line, cells of several lines (`\n`) making their row taller. Widths are
 * terminal columns (`string-width`: a CJK character or an emoji takes two, a combining accent none).
 *
 * Drawn in one pass over the cells, so the time grows with the text and nothing else: `history` of a session of
 * 19,000 events (114,000 lines of table) is drawn in well under a second, where the table library used before
 * took minutes, laying out every row against every other. Lines are yielded one at a time, so a caller can
 * write a large table in pieces rather than build it whole.
 *
 * Cells must come escaped (io.ts): a control character would break the drawing. Rows are as wide as the head
 * (every caller's are): a short row is padded with empty cells, where cli-table3 spanned its last cell across.
 */
import stringWidth from 'string-width';

const BORDERS = {
  top: ['┌', '┬', '┐'],
  rule: ['├', '┼', '┤'],
  bottom: ['└', '┴', '┘'],
} as const;

/** The lines of one table, without line ends. `head` (drawn as a row with a rule below) may be left out. */
export function* tableLines(
  head: readonly string[] | undefined,
  rows: readonly (readonly string[])[],
): Generator<string> {
  const all = head === undefined ? rows : [head, ...rows];
  const columns = Math.max(0, ...all.map((row) => row.length));
  if (columns === 0) return;
  const split = all.map((row) => Array.from({ length: columns }, (_, i) => (row[i] ?? '').split('\n')));
  const widths = Array.from({ length: columns }, () => 0);
  const lineWidths = split.map((row) =>
    row.map((cell, i) =>
      cell.map((line) => {
        const width = stringWidth(line);
        widths[i] = Math.max(widths[i]!, width);
        return width;
      }),
    ),
  );
  const border = ([left, middle, right]: readonly [string, string, string]) =>
    left + widths.map((width) => '─'.repeat(width + 2)).join(middle) + right;
  yield border(BORDERS.top);
  for (let r = 0; r < split.length; r++) {
    if (r > 0) yield border(BORDERS.rule);
    const row = split[r]!;
    const height = Math.max(...row.map((cell) => cell.length));
    for (let l = 0; l < height; l++) {
      let line = '│';
      for (let i = 0; i < columns; i++) {
        const text = row[i]![l] ?? '';
        const width = lineWidths[r]![i]![l] ?? 0;
        line += ` ${text}${' '.repeat(widths[i]! - width)} │`;
      }
      yield line;
    }
  }
  yield border(BORDERS.bottom);
}
