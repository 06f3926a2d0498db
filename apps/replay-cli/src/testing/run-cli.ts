/** Runs the replay CLI in this process (the same `runCli` that `npm run replay` runs), capturing its output. */
import { Readable } from 'node:stream';
import { runCli } from '../cli';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON (for --json runs). */
  json(): any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export function replayCli(env: Record<string, string | undefined>) {
  return async (args: string[], stdin = ''): Promise<CliRun> => {
    let stdout = '';
    let stderr = '';
    const code = await runCli(args, {
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text), isTTY: false },
      stdin: Readable.from([stdin]),
      env,
    });
    return { code, stdout, stderr, json: () => JSON.parse(stdout) };
  };
}
