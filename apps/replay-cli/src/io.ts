/**
 * Where a command writes: stdout carries the result only (a table, or JSON with --json), stderr carries
 * messages and progress. Progress is a bar redrawn in place when stderr is a terminal, and otherwise (a log
 * file, `docker compose run -T`, CI) a plain line every few seconds (`REPLAY_PROGRESS_INTERVAL_MS`, default
 * 5000), without control characters, so a short run prints none; --no-progress turns both off. Text from the
 * log is shown with its control characters escaped (see printable.ts), in JSON too: `--json` (and export's
 * NDJSON) is JSON.stringify's text with the characters it leaves raw (DEL, C1 controls, bidi controls, U+2028/9)
 * written as `\uXXXX` escapes — still JSON, of the same value (`jsonText`).
 */
import { SingleBar } from 'cli-progress';
import { progressIntervalMs } from './config';
import type { Interruption } from './interrupt';
import { jsonText, neutralized, printable, shortened } from './printable';
import { tableLines } from './table';

export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  stdin: AsyncIterable<Buffer | string>;
  env: Record<string, string | undefined>;
  /** SIGINT / SIGTERM reach guarded commands through this (a real process only: see main.ts). */
  interruption?: Interruption;
  /**
   * Resolves once what was written to stdout has gone out; rejects with `StdoutWriteError` when a write failed
   * (a real process only: see stdio.ts). `runCli` awaits it before it returns the command's exit code.
   */
  settled?: () => Promise<void>;
}

export interface OutputOptions {
  json?: boolean;
  progress?: boolean;
}

/**
 * `value` as one line of JSON on stdout (bigints as strings). The text is JSON.stringify's but for the control
 * characters it leaves raw, written as escapes (`jsonText`): a session field holding DEL, a C1 control (U+009B
 * is CSI on some terminals) or a bidi override would otherwise act on the terminal of whoever `cat`s the
 * output. It parses to the very same value, so `state --json` is still the session exactly as GET returns it
 * (same fields, same order, same values) — and byte for byte whenever the data holds none of them.
 */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${jsonText(value)}\n`);
}

/**
 * A table cell: text or a number, or the lines of a cell of several lines. Text from the data must come
 * escaped (`printable`, `formatValue`): the table escapes whatever control character is still raw, a newline
 * included, so only the lines of an array break a cell.
 */
export type Cell = string | number | readonly string[];

const cellText = (cell: Cell): string =>
  (Array.isArray(cell) ? cell : [String(cell)]).map((line: string) => neutralized(line)).join('\n');

export function printTable(io: CliIo, head: string[], rows: Cell[][]): void {
  writeLines(
    io,
    tableLines(
      head.map(cellText),
      rows.map((row) => row.map(cellText)),
    ),
  );
}

export function printFields(io: CliIo, rows: [string, unknown][]): void {
  writeLines(
    io,
    tableLines(
      undefined,
      rows.map(([name, value]) => [cellText(printable(name)), cellText(formatValue(value, 100))]),
    ),
  );
}

/** Lines to stdout in pieces of about 64 KiB: a table of a long history is never one string of many MiB. */
function writeLines(io: CliIo, lines: Iterable<string>): void {
  let chunk = '';
  for (const line of lines) {
    chunk += `${line}\n`;
    if (chunk.length >= 65_536) {
      io.stdout.write(chunk);
      chunk = '';
    }
  }
  if (chunk !== '') io.stdout.write(chunk);
}

/**
 * A value in one short line: JSON, strings unquoted, long values cut (never inside an escape). Control
 * characters are escaped as JSON escapes them, in a string as in a value nested in JSON (see printable.ts). A
 * string that would not show what it holds unquoted — empty, `∅`, or shown with white space or a `"` at either
 * end (a control character is shown as its escape) — is quoted (as `quoted` quotes it), so `""`, `" "`, a value
 * that was never set (`∅`) and the strings `""` or `∅` all read differently in a table.
 */
export function formatValue(value: unknown, max = 60): string {
  if (value === undefined) return '∅';
  if (typeof value !== 'string') return shortened(jsonText(value), max);
  const shown = printable(value);
  const ambiguous = shown === '' || shown === '∅' || /^[\s"]|[\s"]$/u.test(shown);
  return shortened(ambiguous ? `"${shown.replace(/"/g, '\\"')}"` : shown, max);
}

export interface Progress {
  /** `value` done so far; a `total` (or a value beyond the total) makes the bar longer. */
  update(value: number, total?: number): void;
  /** A message while the bar is drawn: the bar's line is cleared first, and redrawn below it. */
  note(text: string): void;
  /** Ends the bar and clears its line (idempotent). */
  stop(): void;
}

/** A message written while progress may be drawn: the CLI's own text, multi-line at most (see printable.ts). */
const message = (text: string) => neutralized(text, 'keep');

const NO_PROGRESS = (io: CliIo): Progress => ({
  update: () => undefined,
  note: (text) => void io.stderr.write(message(text)),
  stop: () => undefined,
});

/**
 * Progress as plain lines (`label: value/total unit (p%)`, or `label: value unit` without a total): the first
 * once the run has lasted one interval, then one per interval at most, each on its own line.
 */
function plainProgress(io: CliIo, label: string, total: number | undefined, unit: string): Progress {
  // REPLAY_PROGRESS_INTERVAL_MS: a bad value was refused at start-up (`replayConfig`), before any command ran.
  const every = progressIntervalMs(io.env);
  let last = Date.now();
  let limit = total;
  return {
    update: (value, newTotal) => {
      if (limit !== undefined) limit = Math.max(newTotal ?? limit, value);
      const now = Date.now();
      if (now - last < every) return;
      last = now;
      const count =
        limit === undefined
          ? `${value} ${unit}`
          : `${value}/${limit} ${unit} (${Math.floor((100 * value) / Math.max(limit, 1))}%)`;
      io.stderr.write(`${label}: ${count}\n`);
    },
    note: (text) => void io.stderr.write(message(text)),
    stop: () => undefined,
  };
}

/**
 * Progress on stderr counting `unit` (the unit the command's summary counts: events, streams): a bar when
 * stderr is a terminal, plain lines every few seconds otherwise (see the file's comment); nothing with
 * `--no-progress`. `total` may be an estimate: the bar grows when the work turns out larger. Stop it in a
 * `finally`: a bar left running keeps the cursor hidden.
 */
export function progressBar(
  io: CliIo,
  options: OutputOptions,
  label: string,
  total: number,
  unit: string,
): Progress {
  if (options.progress === false) return NO_PROGRESS(io);
  if (!io.stderr.isTTY) return plainProgress(io, label, total, unit);
  const bar = new SingleBar({
    stream: io.stderr as NodeJS.WritableStream,
    format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit}`,
    hideCursor: true,
    clearOnComplete: true,
  });
  let current = 0;
  let limit = Math.max(total, 1);
  let running = true;
  bar.start(limit, 0);
  // A signal that ends the process (verify, import: nothing to clean up) must not leave the terminal with its
  // cursor hidden and its line wrap off (ESC[?25l, ESC[?7l): the bar is stopped first (interrupt.ts).
  const stop = () => {
    if (!running) return;
    running = false;
    forget?.();
    bar.stop();
  };
  const forget = io.interruption?.atExit(stop);
  return {
    update: (value, newTotal) => {
      if (!running) return;
      current = value;
      const wanted = Math.max(newTotal ?? limit, value, 1);
      if (wanted !== limit) bar.setTotal((limit = wanted));
      bar.update(value);
    },
    note: (text) => {
      if (running) io.stderr.write('\r\x1b[2K');
      io.stderr.write(message(text));
      if (running) bar.update(current);
    },
    stop,
  };
}

/**
 * Progress of work whose size is not known in advance (export's pass over the log): `label: N unit`, redrawn
 * in place on a terminal (at most every 100 ms, its line cleared at the end), plain lines otherwise.
 */
export function progressCounter(io: CliIo, options: OutputOptions, label: string, unit: string): Progress {
  if (options.progress === false) return NO_PROGRESS(io);
  if (!io.stderr.isTTY) return plainProgress(io, label, undefined, unit);
  let running = true;
  let drawn = 0;
  let current = 0;
  const draw = () => io.stderr.write(`\r\x1b[2K${label}: ${current} ${unit}`);
  draw();
  const stop = () => {
    if (!running) return;
    running = false;
    forget?.();
    io.stderr.write('\r\x1b[2K');
  };
  // Its line cleared when a signal ends the process too (interrupt.ts).
  const forget = io.interruption?.atExit(stop);
  return {
    update: (value) => {
      if (!running) return;
      current = value;
      const now = Date.now();
      if (now - drawn < 100) return;
      drawn = now;
      draw();
    },
    note: (text) => {
      if (running) io.stderr.write('\r\x1b[2K');
      io.stderr.write(message(text));
      if (running) draw();
    },
    stop,
  };
}
