import { runCli } from './cli';
import { Interruption } from './interrupt';
import { processIo } from './stdio';

/** How long a guarded command (rebuild) gets to clean up after SIGINT / SIGTERM before the process ends anyway. */
const CLEANUP_DEADLINE_MS = 20_000;
const SIGNAL_EXIT: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };

/** `npm run -s replay -- <command>` / `session-replay <command>`. */
const interruption = new Interruption();
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interruption.interrupt(signal)) {
      if (interrupted) {
        // A second signal: the operator does not want to wait for the cleanup.
        interruption.lastWords(signal);
        process.stderr.write(
          `session-replay: ${signal} again: stopping without finishing the cleanup (a rebuild's copy is dropped ` +
            "by the next rebuild; its lock is freed as a dead holder's is)\n",
        );
        process.exit(SIGNAL_EXIT[signal]);
      }
      interrupted = true;
      process.stderr.write(
        `session-replay: ${signal}: stopping and cleaning up (${signal} again to stop at once)\n`,
      );
      setTimeout(() => {
        interruption.lastWords(signal);
        process.stderr.write(
          `session-replay: the cleanup did not finish within ${CLEANUP_DEADLINE_MS / 1000} s; stopping anyway (a ` +
            "rebuild's copy is dropped by the next rebuild; its lock is freed as a dead holder's is)\n",
        );
        process.exit(SIGNAL_EXIT[signal]);
      }, CLEANUP_DEADLINE_MS).unref();
      return;
    }
    // Nothing to clean up: end as the signal would have ended the process without this handler — once the
    // terminal has its cursor and line wrap back (a progress bar hides them) and the command has said what it
    // had done (import, export).
    interruption.lastWords(signal);
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  });
}

runCli(
  process.argv.slice(2),
  processIo({
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: process.env,
    interruption,
  }),
).then(
  (code) => {
    process.exitCode = code;
    // Let stdout drain (exports are piped), then leave even if a client keeps a handle open.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (error: unknown) => {
    console.error(error);
    process.exit(2);
  },
);
