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
  update(value: number, total?: number): void;
  stop(): void;
}

export function progressBar(io: CliIo, options: OutputOptions, label: string, total: number): Progress {
  if (options.progress === false || !io.stderr.isTTY)
    return { update: () => undefined, stop: () => undefined };
  const bar = new SingleBar({
    stream: io.stderr as NodeJS.WritableStream,
    format: `${label} [{bar}] {percentage}% | {value}/{total}`,
    hideCursor: true,
    clearOnComplete: true,
  });
  bar.start(Math.max(total, 1), 0);
  return {
    update: (value, newTotal) => {
      if (newTotal !== undefined) bar.setTotal(Math.max(newTotal, 1));
      bar.update(value);
    },
    stop: () => bar.stop(),
  };
}
