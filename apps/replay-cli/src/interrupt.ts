/**
 * SIGINT / SIGTERM while a command has something to clean up (rebuild: its copy of the read models and its
 * lock). The process's signal handlers (main.ts) call `interrupt`: when a guarded command runs, its signal is
 * aborted and the command stops at its next step, cleans up in its `finally` blocks and ends with
 * `InterruptedError` (exit 130 / 143); otherwise `interrupt` answers false and the process ends at once, as
 * it would without a handler. Commands run in a test's process get no signals: nothing is ever aborted.
 */
import { InterruptedError } from './cli-error';

export class Interruption {
  private readonly controller = new AbortController();
  private guards = 0;

  /** Aborted (its reason an `InterruptedError`) once a signal asked a guarded command to stop. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Runs work that cleans up when interrupted: while it runs, a signal asks it to stop instead of killing it. */
  async guard<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    this.guards++;
    try {
      return await work(this.signal);
    } finally {
      this.guards--;
    }
  }

  /** True when a guarded command will stop by itself; false: nothing to clean up, end the process now. */
  interrupt(signal: NodeJS.Signals): boolean {
    if (this.guards === 0) return false;
    if (!this.controller.signal.aborted) this.controller.abort(new InterruptedError(signal));
    return true;
  }
}

/** Throws the signal's `InterruptedError` once interrupted (call between steps of the work). */
export function checkInterrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason as InterruptedError;
}
