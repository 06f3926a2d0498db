/**
 * SIGINT / SIGTERM while a command runs. The process's signal handlers (main.ts) call `interrupt`: when a guarded
 * command runs (rebuild: its copy of the read models and its lock to clean up), its signal is aborted and the
 * command stops at its next step, cleans up in its `finally` blocks and ends with `InterruptedError` (exit 130 /
 * 143); otherwise `interrupt` answers false and the process ends at once, as it would without a handler — after
 * `lastWords`: what the running command registered with `atExit` (the progress bar gives the terminal its cursor
 * and line wrap back, import and export say what they had done). main.ts runs `lastWords` too before it leaves a
 * guarded command that did not finish its cleanup. Commands run in a test's process get no signals: nothing is
 * ever aborted.
 */
import { InterruptedError } from './cli-error';

/** Said or done, synchronously, when a signal ends the process before the command does. */
export type LastWord = (signal: NodeJS.Signals) => void;

export class Interruption {
  private readonly controller = new AbortController();
  private guards = 0;
  private readonly words: LastWord[] = [];

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

  /**
   * Registers what to do if a signal ends the process while it is registered: synchronous writes only (the
   * process ends right after). Returns the function that unregisters it (call it in a `finally`).
   */
  atExit(word: LastWord): () => void {
    this.words.push(word);
    return () => {
      const at = this.words.indexOf(word);
      if (at !== -1) this.words.splice(at, 1);
    };
  }

  /** Runs, once each, what is registered — the latest first (a bar drawn last is cleared before a message). */
  lastWords(signal: NodeJS.Signals): void {
    while (this.words.length > 0) {
      const word = this.words.pop()!;
      try {
        word(signal);
      } catch {
        // a closed stderr: the process ends anyway
      }
    }
  }
}

/** Throws the signal's `InterruptedError` once interrupted (call between steps of the work). */
export function checkInterrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason as InterruptedError;
}
