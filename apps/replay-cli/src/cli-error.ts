/** A refusal the CLI reports in one line, with its exit code (2: usage, unknown session, unreachable store). */
export class CliError extends Error {
  override readonly name: string = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
  }
}

/** Exit codes: 0 fine, 1 the audit found a problem (mismatch, conflicting import), 2 could not run. */
export const EXIT = { ok: 0, findings: 1, usage: 2 } as const;

/**
 * The reader of stdout went away (`session-replay export | head -1`): the command stops where it is and the
 * CLI exits quietly with code 0 — the reader got what it asked for, and a reader that failed reports its own
 * exit status (`set -o pipefail`).
 */
export class StdoutClosedError extends Error {
  override readonly name = 'StdoutClosedError';
  constructor() {
    super('stdout was closed by its reader');
  }
}

/**
 * Writing to stdout failed for another reason than its reader going away (`> /dev/full`, a full disk, a file
 * system error): what the command printed is incomplete, so it is not done — one line, exit 2 (not 1, which says
 * the audit found something). `export` says what the file on stdout is instead.
 */
export class StdoutWriteError extends CliError {
  override readonly name = 'StdoutWriteError';
  constructor(readonly failure: Error) {
    super(`writing to stdout failed (${failure.message}): the output is incomplete`);
  }
}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = { SIGINT: 2, SIGTERM: 15 };

/**
 * A command stopped by SIGINT / SIGTERM after cleaning up what it had started (rebuild: its copy dropped, its
 * lock released): exit 128 + the signal's number (130, 143), as a shell reports a process the signal ended.
 */
export class InterruptedError extends CliError {
  override readonly name = 'InterruptedError';
  constructor(
    readonly signal: NodeJS.Signals,
    what = 'stopped',
  ) {
    super(`interrupted by ${signal}: ${what}`, 128 + (SIGNAL_NUMBERS[signal] ?? 2));
  }
}
