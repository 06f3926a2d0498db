/** Runs the replay CLI in this process (the same `runCli` that `npm run replay` runs), capturing its output. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { runCli } from '../cli';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (for --json runs). */
  json(): any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** `tty`: stderr claims to be a terminal (80 columns), so progress bars are drawn into the captured text. */
export function replayCli(env: Record<string, string | undefined>, options: { tty?: boolean } = {}) {
  return async (args: string[], stdin = ''): Promise<CliRun> => {
    let stdout = '';
    let stderr = '';
    const code = await runCli(args, {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text), isTTY: options.tty === true, columns: 80 },
      stdin: Readable.from([stdin]),
      env,
    });
    return { code, stdout, stderr, json: () => JSON.parse(stdout) };
  };
}

const ROOT = join(__dirname, '../../../..');

/**
 * Runs `npm run replay`'s entry point in its own process, as operators do. Needed where the CLI must not
 * share an event loop with the system under test (better-sqlite3 waits for a lock synchronously). A run
 * that has not ended after `timeoutMs` is killed (a process left running keeps jest from exiting) and
 * reported as exit 2, saying so on stderr.
 */
export function replayProcess(env: Record<string, string | undefined>, timeoutMs = 60_000) {
  return (args: string[]): Promise<CliRun> =>
    new Promise((resolve) => {
      execFile(
        process.execPath,
        ['-r', './tools/register.js', 'apps/replay-cli/src/main.ts', ...args],
        {
          cwd: ROOT,
          env: { ...process.env, ...env },
          maxBuffer: 64 * 1024 * 1024,
          timeout: timeoutMs,
          killSignal: 'SIGKILL',
        },
        (error, stdout, stderr) => {
          const code = error ? (typeof error.code === 'number' ? error.code : 2) : 0;
          if (error?.killed) stderr += `\n(killed: still running after ${timeoutMs} ms)`;
          resolve({ code, stdout, stderr, json: () => JSON.parse(stdout) });
        },
      );
    });
}

export interface ReplayChild {
  child: ChildProcess;
  /** Resolves when the process has exited: its exit code (or the signal that ended it) and output. */
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  /** Kills it (SIGKILL) if it still runs, and waits for it: call in a `finally`. */
  kill(): Promise<void>;
  /** What it has printed so far. */
  output(): { stdout: string; stderr: string };
}

/**
 * Starts `npm run replay`'s entry point in its own process and returns at once (to signal it meanwhile).
 * `stdin: true`: its stdin is a pipe the test writes to (`child.stdin`), otherwise it reads nothing.
 */
export function spawnReplay(
  env: Record<string, string | undefined>,
  args: string[],
  options: { stdin?: boolean } = {},
): ReplayChild {
  const child = spawn(
    process.execPath,
    ['-r', './tools/register.js', 'apps/replay-cli/src/main.ts', ...args],
    {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const done = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
  }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return {
    child,
    done,
    output: () => ({ stdout, stderr }),
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await done;
      }
    },
  };
}
