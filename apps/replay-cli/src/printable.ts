/**
 * Text from the log on an auditor's terminal. Anyone holding an integration key writes session fields, stream
 * names and attribute keys, and a control character printed raw is an instruction to the terminal: ESC
 * sequences move the cursor, erase lines or recolour them, CR and BS overwrite what was printed, a newline
 * forges a row or a message line, and the Unicode bidi controls reorder what is shown. So every string the CLI
 * prints shows these characters as escapes, the same ones JSON uses — `\n`, `\r`, `\t`, `\b`, `\f`, otherwise
 * `\u001b`-style — which is how values nested in arrays and objects (printed as JSON) already show them. JSON
 * itself (`--json`, export's NDJSON) is JSON.stringify's text with the escapes it leaves out added (DEL, C1,
 * bidi controls, U+2028/9: `jsonEscaped`): still valid JSON, parsing to the identical value. A string shown
 * unquoted also has its backslashes doubled, so `\n` on screen always means an escaped newline, never the two
 * characters the data held. Ordinary Unicode (accents, emoji, CJK) is kept, and the escapes are ASCII, so
 * tables keep their column widths.
 */

/**
 * What a terminal would act on or that reorders text: C0 controls, DEL, C1 controls (U+009B is CSI on some
 * terminals), the bidi marks, embeddings, overrides and isolates (U+061C, U+200E/F, U+202A–U+202E,
 * U+2066–U+2069), the line and paragraph separators (U+2028/9), and unpaired surrogates (which UTF-8 cannot
 * carry: they would print as U+FFFD, hiding what the data holds). ZWJ (U+200D) is kept: emoji need it. The
 * newline is left out here and added where it is to be escaped.
 */
const CONTROLS =
  '\\u0000-\\u0009\\u000b-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u2028-\\u202e\\u2066-\\u2069';
const UNPAIRED = '[\\ud800-\\udbff](?![\\udc00-\\udfff])|(?<![\\ud800-\\udbff])[\\udc00-\\udfff]';
const matching = (chars: string) => new RegExp(`[${chars}]|${UNPAIRED}`, 'g');
const CONTROL = matching(`${CONTROLS}\\n`);
/** As `CONTROL`, and the backslash: for a string shown unquoted. */
const UNQUOTED = matching(`${CONTROLS}\\n\\\\`);
/** As `CONTROL`, but a newline stays a line break: for the CLI's own multi-line messages. */
const CONTROL_BUT_NEWLINE = matching(CONTROLS);

/** JSON's short escapes; every other character matched is `\uXXXX` in lower-case hex, as JSON.stringify writes. */
const SHORT: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  '\b': '\\b',
  '\t': '\\t',
  '\n': '\\n',
  '\f': '\\f',
  '\r': '\\r',
};

const escape = (char: string): string =>
  SHORT[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * A string from the data, to show unquoted (a table cell, a stream name in a heading): control characters
 * escaped as JSON escapes them, backslashes doubled. Inside a JSON string this is exactly what JSON.stringify
 * writes between the quotes (the quote aside), plus the escapes JSON leaves out (DEL, C1, bidi controls).
 */
export function printable(text: string): string {
  return text.replace(UNQUOTED, escape);
}

/**
 * A string from the data, quoted for a message (`session "a\nb"`): what JSON.stringify writes, with the control
 * characters it leaves raw escaped too.
 */
export function quoted(text: string): string {
  return `"${printable(text).replace(/"/g, '\\"')}"`;
}

/**
 * A value as JSON text for a table or a message (a value nested in a session, shown as JSON): what JSON.stringify
 * writes, with the control characters it leaves raw escaped too — still JSON, for the same value.
 */
export function jsonText(value: unknown): string {
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  return text === undefined ? String(value) : jsonEscaped(text);
}

/**
 * JSON text (as JSON.stringify writes it) with the characters JSON.stringify leaves raw — DEL, C1 controls, the
 * bidi controls, U+2028/9 — written as `\uXXXX` escapes. They can only be inside strings (JSON's own syntax is
 * ASCII), and an escape there stands for the very character, so the text parses to the identical value.
 */
export function jsonEscaped(text: string): string {
  return text.replace(CONTROL, escape);
}

/**
 * The last line of defence, where text leaves for the terminal (table cells, messages, progress notes): any
 * control character still raw is escaped. Backslashes are left alone — the text is the CLI's own, with data in
 * it already escaped (`printable`, `quoted`, `jsonText`) — and so are newlines when `newlines` is 'keep' (a
 * message of several lines); a table cell's lines are passed one by one.
 */
export function neutralized(text: string, newlines: 'keep' | 'escape' = 'escape'): string {
  return text.replace(newlines === 'keep' ? CONTROL_BUT_NEWLINE : CONTROL, escape);
}

/** An escape sequence as written above, or a JSON `\"`: captured, so `split` keeps it between the rest. */
const ESCAPE = /(\\u[0-9a-f]{4}|\\.)/u;

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** `text` in pieces that are never cut: escape sequences, and grapheme clusters between them. */
function* uncut(text: string): Generator<string> {
  const pieces = text.split(ESCAPE);
  for (let i = 0; i < pieces.length; i++) {
    if (i % 2 === 1) yield pieces[i]!;
    else for (const { segment } of graphemes.segment(pieces[i]!)) yield segment;
  }
}

/**
 * `text` cut to at most `max` UTF-16 units, ending in `…` when cut — never inside an escape sequence, which
 * would make the end of it say something the data does not, nor inside a grapheme cluster (a surrogate pair, a
 * letter and its accents, an emoji of several code points), which would show a different character.
 */
export function shortened(text: string, max: number): string {
  if (text.length <= max) return text;
  let kept = '';
  for (const piece of uncut(text)) {
    if (kept.length + piece.length > max - 1) break;
    kept += piece;
  }
  return `${kept}…`;
}
