/**
 * Where a command writes: stdout carries the result only (a table, or JSON with --json), stderr carries
 * messages and progress bars. Progress bars are drawn only when stderr is a terminal, so logs and CI
 * output stay clean; --no-progress turns them off on a terminal too.
 */
import { SingleBar } from 'cli-progress';
import Table from 'cli-table3';

export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
  stdin: AsyncIterable<Buffer | string>;
  env: Record<string, string | undefined>;
}

export interface OutputOptions {
  json?: boolean;
  progress?: boolean;
}

export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(
    `${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`,
  );
}

export function printTable(io: CliIo, head: string[], rows: (string | number)[][]): void {
  const table = new Table({ head, style: { head: [], border: [] }, wordWrap: true });
  table.push(...rows.map((row) => row.map((cell) => String(cell))));
  io.stdout.write(`${table.toString()}\n`);
}

export function printFields(io: CliIo, rows: [string, unknown][]): void {
  const table = new Table({ style: { head: [], border: [] }, wordWrap: true });
  for (const [name, value] of rows) table.push({ [name]: formatValue(value, 100) });
  io.stdout.write(`${table.toString()}\n`);
}

/** A value in one short line: JSON, strings unquoted, long values cut. */
export function formatValue(value: unknown, max = 60): string {
  if (value === undefined) return '∅';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export interface Progress {
  /** `value` done so far; a `total` (or a value beyond the total) makes the bar longer. */
  update(value: number, total?: number): void;
  /** A message while the bar is drawn: the bar's line is cleared first, and redrawn below it. */
  note(text: string): void;
  /** Ends the bar and clears its line (idempotent). */
  stop(): void;
}

/**
 * A bar on stderr counting `unit` (the unit the command's summary counts: events, streams), drawn only when
 * stderr is a terminal and `--no-progress` is not given. `total` may be an estimate: the bar grows when the
 * work turns out larger. Stop it in a `finally`: a bar left running keeps the cursor hidden.
 */
export function progressBar(
  io: CliIo,
  options: OutputOptions,
  label: string,
  total: number,
  unit: string,
): Progress {
  if (options.progress === false || !io.stderr.isTTY)
    return { update: () => undefined, note: (text) => void io.stderr.write(text), stop: () => undefined };
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
      io.stderr.write(text);
      if (running) bar.update(current);
    },
    stop: () => {
      if (!running) return;
      running = false;
      bar.stop();
    },
  };
}
