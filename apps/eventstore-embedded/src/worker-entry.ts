/**
 * How this process starts a `worker_threads` entry point that lives next to its caller: `<name>.js` when
 * compiled (the build must compile that file: it is loaded by path, not imported), `<name>.ts` from the
 * sources. A `.ts` entry needs the TypeScript loader; `node -r ./tools/register.js` passes it on through
 * execArgv, other hosts (jest) do not, so it is added when missing. Used by the embedded store's worker
 * (thread.ts) and the projector's (apps/projector/src/projector-thread.ts).
 */
import path from 'node:path';

const REGISTER = path.resolve(__dirname, '../../../tools/register.js');

/** `directory`: the caller's `__dirname`; `name`: the entry's file name without extension. */
export function workerEntry(directory: string, name: string): { file: string; execArgv: string[] } {
  const ext = path.extname(__filename);
  const file = path.join(directory, `${name}${ext}`);
  const execArgv = [...process.execArgv];
  if (ext === '.ts') {
    const registered = execArgv.some(
      (arg, i) => i > 0 && ['-r', '--require'].includes(execArgv[i - 1]!) && path.resolve(arg) === REGISTER,
    );
    if (!registered) execArgv.push('-r', REGISTER);
  }
  return { file, execArgv };
}
