/**
 * The CLI's streams in a real process. When the reader of stdout goes away (`export | head -1`), Node reports
 * EPIPE as an 'error' event on process.stdout, which — unhandled — crashes the process with a stack trace.
 * Here the error is taken, and the next write throws `StdoutClosedError`: the command unwinds through its
 * `finally` blocks (progress bars, connections) and `runCli` exits quietly with code 0. A closed stderr is
 * ignored (its messages are dropped), so the command still finishes its work and its result on stdout.
 *
 * Any other write error on stdout (`> /dev/full`, a full disk: ENOSPC, EIO…) means the output is incomplete:
 * the next write throws `StdoutWriteError`, and `settled()` — which `runCli` awaits once the command is done,
 * and export before its summary — throws it for an error that came after the last write (Node reports it on the
 * next tick, after `write` returned). So the command ends with one line naming the failure and exit 2, never a
 * stack trace, and never exit 0 or 1 (1 says the audit found something). A write error on stderr drops the
 * messages, as a closed stderr does.
 */
import { StdoutClosedError, StdoutWriteError } from './cli-error';
import type { Interruption } from './interrupt';
import type { CliIo } from './io';

interface ProcessStream {
  write(text: string, callback?: (error?: Error | null) => void): unknown;
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
  /** The first write error on stdout that is not its reader going away: sticky (later writes fail otherwise). */
  let stdoutFailed: Error | undefined;
  let stderrClosed = false;
  const stdoutError = (error: NodeJS.ErrnoException | null | undefined) => {
    if (!error || stdoutFailed || stdoutClosed) return;
    if (closedByReader(error)) stdoutClosed = true;
    else stdoutFailed = error;
  };
  const check = () => {
    if (stdoutFailed) throw new StdoutWriteError(stdoutFailed);
    if (stdoutClosed) throw new StdoutClosedError();
  };
  streams.stdout.on('error', stdoutError);
  // Whatever the error, the messages are dropped: a stderr that cannot be written to cannot be told about it.
  streams.stderr.on('error', () => (stderrClosed = true));
  const stderr = streams.stderr;
  return {
    stdout: {
      write(text: string) {
        check();
        return streams.stdout.write(text, stdoutError);
      },
    },
    settled: () =>
      new Promise<void>((resolve, reject) => {
        const done = () => {
          // A failure after the last write, reported on the next tick; a reader that went away stays quiet.
          if (stdoutFailed) reject(new StdoutWriteError(stdoutFailed));
          else resolve();
        };
        if (stdoutFailed || stdoutClosed) return done();
        streams.stdout.write('', (error) => {
          stdoutError(error);
          setImmediate(done);
        });
      }),
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
