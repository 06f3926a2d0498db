/**
 * The CLI's text tables: box-drawing borders, one space of padding either side of a cell, a rule between rows,
 * columns as wide as their widest line, cells of several lines (`\n`) making their row taller. Widths are
 * terminal columns, counted per grapheme cluster (`displayWidth`): a CJK character or an emoji takes two, a
 * combining accent none, and an emoji built of several code points (a ZWJ sequence, a flag, a skin tone, a
 * keycap) two in all, as a terminal draws it.
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

/** Printable ASCII only: one column a character, measured without segmenting. */
const PLAIN = /^[\x20-\x7e]*$/;

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * A grapheme cluster a terminal draws as one emoji, two columns wide: emoji joined by ZWJ (U+200D), a flag (a
 * pair of regional indicators), an emoji with the emoji presentation selector (U+FE0F, keycaps included), an
 * emoji with a skin-tone modifier, or one that is shown as an emoji by default. `string-width` measures such a
 * cluster by its code points when its emoji table does not know the sequence (an emoji newer than the table):
 * a family of three people as 8 columns, a skin-toned emoji as 3, a new emoji as 1.
 */
const EMOJI_CLUSTER =
  /\u200d\p{Extended_Pictographic}|^\p{Regional_Indicator}{2}|^\p{Emoji}\ufe0f|\p{Emoji_Modifier}|^\p{Emoji_Presentation}/u;

/**
 * What an emoji cluster (`EMOJI_CLUSTER`), or a sequence `string-width` measures as an emoji (a keycap without
 * U+FE0F), needs one of. Text with none of them holds no emoji cluster, and `string-width` gives it the sum of
 * its code points' widths, which is the sum over its clusters: it is measured whole, without segmenting.
 */
const EMOJI_PART =
  /[\p{Extended_Pictographic}\p{Emoji_Presentation}\p{Emoji_Modifier}\p{Regional_Indicator}\ufe0f\u20e3]/u;

/**
 * The terminal columns `text` (one line, control characters escaped) takes: the sum over its grapheme clusters,
 * an emoji cluster two, any other what `string-width` gives for it. The clusters between emoji are measured
 * together (see `EMOJI_PART`).
 */
export function displayWidth(text: string): number {
  if (PLAIN.test(text)) return text.length;
  if (!EMOJI_PART.test(text)) return stringWidth(text);
  let width = 0;
  let between = '';
  for (const { segment } of graphemes.segment(text)) {
    if (!EMOJI_PART.test(segment)) {
      between += segment;
      continue;
    }
    width += stringWidth(between) + (EMOJI_CLUSTER.test(segment) ? 2 : stringWidth(segment));
    between = '';
  }
  return width + stringWidth(between);
}

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
        const width = displayWidth(line);
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
