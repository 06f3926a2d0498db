/**
 * The CLI's streams in a real process. When the reader of stdout goes away (`export | head -1`), Node reports
 * EPIPE as an 'error' event on process.stdout, which — unhandled — crashes the process with a stack trace.
 * Here the error is taken, and the next write throws `StdoutClosedError`: the command unwinds through its
 * `finally` blocks (progress bars, connections) and `runCli` exits quietly with code 0. A closed stderr is
 * ignored (its messages are dropped), so the command still finishes its work and its result on stdout.
 */
import { StdoutClosedError } from './cli-error';
import type { Interruption } from './interrupt';
import type { CliIo } from './io';

interface ProcessStream {
  write(text: string): unknown;
  on(event: 'error', listener: (error: NodeJS.ErrnoException) => void): unknown;
  isTTY?: boolean;
  columns?: number;
}

const closedByReader = (error: NodeJS.ErrnoException) =>
  error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED' || error.code === 'ECONNRESET';

export function processIo(streams: {
  stdout: ProcessStream;
  stderr: ProcessStream;
  stdin: AsyncIterable<Buffer | string>;
  env: Record<string, string | undefined>;
  interruption?: Interruption;
}): CliIo {
  let stdoutClosed = false;
  let stderrClosed = false;
  const rethrow = (error: NodeJS.ErrnoException) => {
    // Not a closed pipe (a full disk under `> file`, …): as loud as before.
    process.nextTick(() => {
      throw error;
    });
  };
  streams.stdout.on('error', (error) => {
    if (closedByReader(error)) stdoutClosed = true;
    else rethrow(error);
  });
  streams.stderr.on('error', (error) => {
    if (closedByReader(error)) stderrClosed = true;
    else rethrow(error);
  });
  const stderr = streams.stderr;
  return {
    stdout: {
      write(text: string) {
        if (stdoutClosed) throw new StdoutClosedError();
        return streams.stdout.write(text);
      },
    },
    stderr: {
      write: (text: string) => (stderrClosed ? true : stderr.write(text)),
      get isTTY() {
        return !stderrClosed && stderr.isTTY === true;
      },
      get columns() {
        return stderr.columns;
      },
    },
    stdin: streams.stdin,
    env: streams.env,
    interruption: streams.interruption,
  };
}
