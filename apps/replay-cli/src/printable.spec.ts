import { Readable } from 'node:stream';
import stringWidth from 'string-width';
import { formatValue, printFields, printJson, printTable, type CliIo } from './io';
import { jsonEscaped, jsonText, neutralized, printable, quoted, shortened } from './printable';

/** Every character a terminal acts on or that reorders text (what the CLI must never print raw). */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/;

const captured = () => {
  let text = '';
  const io: CliIo = {
    stdout: { write: (t: string) => (text += t) },
    stderr: { write: () => true },
    stdin: Readable.from([]),
    env: {},
  };
  return { io, text: () => text };
};

describe('printable', () => {
  it('escapes C0 controls, DEL and C1 controls as JSON escapes them, and doubles backslashes', () => {
    expect(printable('\r\u001b[2K\u001b[1A\u001b[2KOK')).toBe('\\r\\u001b[2K\\u001b[1A\\u001b[2KOK');
    expect(printable('s\u0008\u0008X')).toBe('s\\b\\bX');
    expect(printable('a\nb\tc\fd\u0000e\u0007')).toBe('a\\nb\\tc\\fd\\u0000e\\u0007');
    expect(printable('del\u007f csi\u009b nel\u0085')).toBe('del\\u007f csi\\u009b nel\\u0085');
    expect(printable('C:\\new')).toBe('C:\\\\new'); // not to be read as an escaped newline
  });

  it('escapes the bidi controls and line separators', () => {
    for (const char of [
      '\u061c',
      '\u200e',
      '\u200f',
      '\u2028',
      '\u2029',
      '\u202a',
      '\u202b',
      '\u202c',
      '\u202d',
      '\u202e',
      '\u2066',
      '\u2067',
      '\u2068',
      '\u2069',
    ])
      expect(printable(`x${char}y`)).toBe(`x\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}y`);
  });

  it('escapes an unpaired surrogate, keeps a pair', () => {
    expect(printable('a\ud83db')).toBe('a\\ud83db');
    expect(printable('a\ude00b')).toBe('a\\ude00b');
    expect(printable('a😀b')).toBe('a😀b');
  });

  it('keeps ordinary Unicode as it is: accents, emoji (with ZWJ), CJK, quotes', () => {
    const text = 'Crème brûlée — 東京 👩‍👩‍👧 "quoted" ß';
    expect(printable(text)).toBe(text);
  });

  it('inside JSON, writes what JSON.stringify writes, with the escapes it leaves out', () => {
    const text = 'a"b\\c\n\u001b\u0008';
    expect(`"${printable(text).replace(/"/g, '\\"')}"`).toBe(JSON.stringify(text));
    expect(quoted(text)).toBe(JSON.stringify(text));
    expect(quoted('x\u202ey\u009b')).toBe('"x\\u202ey\\u009b"');
    expect(JSON.parse(quoted('x\u202ey\u009b\u007f'))).toBe('x\u202ey\u009b\u007f');
  });
});

describe('jsonText', () => {
  it('is JSON.stringify with DEL, C1 and bidi controls escaped too (still JSON for the same value)', () => {
    const value = { 'k\u202e': ['\u001b[31m', 'del\u007f', 'é'], n: 1 };
    expect(jsonText(value)).toBe('{"k\\u202e":["\\u001b[31m","del\\u007f","é"],"n":1}');
    expect(JSON.parse(jsonText(value))).toEqual(value);
    expect(jsonText(12n)).toBe('"12"');
  });
});

describe('printJson (--json) and jsonEscaped (export)', () => {
  /** Every character JSON.stringify leaves raw that a terminal acts on or that reorders text. */
  const LEFT_RAW_BY_JSON = [
    '\u007f',
    ...Array.from({ length: 0x20 }, (_, i) => String.fromCharCode(0x80 + i)),
    '\u061c',
    '\u200e',
    '\u200f',
    '\u2028',
    '\u2029',
    '\u202a',
    '\u202b',
    '\u202c',
    '\u202d',
    '\u202e',
    '\u2066',
    '\u2067',
    '\u2068',
    '\u2069',
  ];

  it('prints no raw DEL, C1, bidi control or line separator, as \\uXXXX escapes, still JSON of the same value', () => {
    const value = {
      customerSession: {
        integrationId: `x${LEFT_RAW_BY_JSON.join('')}y`,
        cartItems: [{ sku: 'tee\u009b2J', name: 'T\u202eeht', quantity: 1 }],
        attributes: { 'note\u2066': 'café 東京 😀 \\u2028', line: 'a\u2028b' },
      },
    };
    const { io, text } = captured();
    printJson(io, value);
    expect(text()).not.toMatch(RAW_CONTROL);
    expect(text().endsWith('\n')).toBe(true);
    expect(text().split('\n')).toHaveLength(2); // one line
    expect(JSON.parse(text())).toEqual(value);
    // Same fields in the same order: the text differs from JSON.stringify's by the escapes alone.
    expect(JSON.stringify(JSON.parse(text()))).toBe(JSON.stringify(value));
    expect(text()).toContain('"name":"T\\u202eeht"');
    expect(text()).toContain('"sku":"tee\\u009b2J"');
    expect(text()).toContain('"line":"a\\u2028b"');
    // A backslash the data holds stays an escaped backslash: "\\u2028" in the data is no line separator.
    expect(text()).toContain('"note\\u2066":"café 東京 😀 \\\\u2028"');
    for (const char of LEFT_RAW_BY_JSON)
      expect(text()).toContain(`\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
  });

  it('is byte for byte JSON.stringify when the data holds none of them, bigints as strings', () => {
    const value = { a: 'plain "quoted" é 😀\n\t\u001b', b: [1, 2.5, null, true], c: 7n };
    const { io, text } = captured();
    printJson(io, value);
    expect(text()).toBe(`${JSON.stringify({ ...value, c: '7' })}\n`);
    expect(jsonEscaped(JSON.stringify(value.a))).toBe(JSON.stringify(value.a));
  });

  it('jsonEscaped: JSON text with the escapes JSON.stringify leaves out, parsing to the same value', () => {
    const line = { stream: 'session-1-\u202eevil', events: [{ data: { name: 'del\u007f\u0085\u2029' } }] };
    const text = jsonEscaped(JSON.stringify(line));
    expect(text).toBe(
      '{"stream":"session-1-\\u202eevil","events":[{"data":{"name":"del\\u007f\\u0085\\u2029"}}]}',
    );
    expect(JSON.parse(text)).toEqual(line);
  });
});

describe('neutralized', () => {
  it('escapes control characters left raw, leaves backslashes, and keeps newlines only when asked', () => {
    expect(neutralized('a\\n\u001b[2Kb\nc')).toBe('a\\n\\u001b[2Kb\\nc');
    expect(neutralized('line 1\r\nline 2\u009b', 'keep')).toBe('line 1\\r\nline 2\\u009b');
  });
});

describe('shortened', () => {
  it('never cuts an escape sequence or a surrogate pair', () => {
    expect(shortened('abcdef', 10)).toBe('abcdef');
    expect(shortened('ab\\u001bcdef', 6)).toBe('ab…');
    expect(shortened('ab\\u001bcdef', 9)).toBe('ab\\u001b…');
    expect(shortened('ab\\\\u001b', 5)).toBe('ab\\\\…'); // an escaped backslash, then "u001b"
    expect(shortened('a😀b', 3)).toBe('a…');
  });

  it('never cuts a grapheme cluster: an emoji of several code points, a flag, a skin tone, a keycap, an accent', () => {
    expect(shortened('ab👨‍👩‍👧cd', 6)).toBe('ab…');
    expect(shortened('ab👨‍👩‍👧cd', 11)).toBe('ab👨‍👩‍👧…');
    expect(shortened('x🇩🇪🇫🇷', 5)).toBe('x…');
    expect(shortened('👍🏽👍🏽', 4)).toBe('…');
    expect(shortened('a1️⃣b', 4)).toBe('a…');
    expect(shortened('cafe\u0301x', 5)).toBe('caf…');
    expect(shortened('\\u001b👩‍💻\\u001b', 8)).toBe('\\u001b…');
  });
});

describe('tables and values', () => {
  it('formatValue quotes a string that would not show what it holds: empty, or white space at an end', () => {
    expect(formatValue('')).toBe('""');
    expect(formatValue(' ')).toBe('" "');
    expect(formatValue('RC1 ')).toBe('"RC1 "');
    expect(formatValue('\tx')).toBe('\\tx');
    expect(formatValue(' "a" ')).toBe('" \\"a\\" "');
    expect(formatValue('\u00a0')).toBe('"\u00a0"');
    expect(formatValue('a b')).toBe('a b');
    expect(formatValue('RC1')).toBe('RC1');
    expect(formatValue(undefined)).toBe('∅');
    expect(formatValue('∅')).toBe('"∅"');
    expect(formatValue('""')).toBe('"\\"\\""');
    expect(formatValue('" "')).toBe('"\\" \\""');
    expect(formatValue('say "hi"')).toBe('"say \\"hi\\""');
    expect(formatValue('a "b" c')).toBe('a "b" c');
  });

  it('formatValue escapes a top-level string as a nested one is escaped', () => {
    expect(formatValue('\u001b[31mRED\u001b[0m')).toBe('\\u001b[31mRED\\u001b[0m');
    expect(formatValue(['\u001b[31mRED\u001b[0m'])).toBe('["\\u001b[31mRED\\u001b[0m"]');
    expect(formatValue({ a: 'x\u202ey' })).toBe('{"a":"x\\u202ey"}');
    expect(formatValue(`${'x'.repeat(58)}\u001b[2K`)).toBe(`${'x'.repeat(58)}…`);
  });

  it('prints no control character and keeps every line of a table the same width', () => {
    const { io, text } = captured();
    printTable(
      io,
      ['name', 'value'],
      [
        ['plain', 'café 東京 😀'],
        ['escape', '\u001b[2K\rforged'],
        ['lines', ['one', 'two\u0008']],
        ['bidi', 'abc\u202edef'],
      ],
    );
    printFields(io, [
      ['referralCode', '\r\u001b[2K\u001b[1A\u001b[2KOK'],
      ['storeIntegrationId', 's\u0008\u0008X'],
      ['attributes', { note: '\u001b[31m' }],
    ]);
    const out = text();
    expect(out).not.toMatch(RAW_CONTROL);
    expect(out).toContain('\\u001b[2K\\rforged');
    expect(out).toContain('\\r\\u001b[2K\\u001b[1A\\u001b[2KOK');
    expect(out).toContain('s\\b\\bX');
    expect(out).toContain('café 東京 😀');
    for (const table of out.trimEnd().split(/\n(?=┌)/)) {
      const widths = new Set(table.split('\n').map((line) => stringWidth(line)));
      expect(widths.size).toBe(1);
    }
    // A cell's own lines stay lines; a newline in the text of a cell does not make one.
    expect(out).toMatch(/│ one +│\n.*│ two\\b +│/);
  });
});
