/**
 * How this process starts a `worker_threads` entry point that lives next to its caller: `<name>.js` when
 * compiled (the build must compile that file: it is loaded by path, not imported), `<name>.ts` from the
 * sources. A `.ts` entry needs the TypeScript loader; `node -r ./tools/register.js` already has it in every
 * thread, other hosts (jest) do not, so there the worker requires it before the entry.
 *
 * The worker always inherits the process's execArgv. Handing execArgv to `new Worker` explicitly would make
 * Node validate it for a thread, and a V8 or process-wide flag the operator started the process with
 * (`node --max-old-space-size=4096 …`, `--max-semi-space-size=64`) would fail the start with
 * "Initiated Worker with invalid execArgv flags". Used by the embedded store's worker (thread.ts) and the
 * projector's (apps/projector/src/projector-thread.ts).
 */
import path from 'node:path';
import { Worker } from 'node:worker_threads';

const REGISTER = path.resolve(__dirname, '../../../tools/register.js');

/** Whether this thread runs with tools/register.js (which a worker then inherits). */
function registered(): boolean {
  const args = process.execArgv;
  return args.some(
    (arg, i) => i > 0 && ['-r', '--require'].includes(args[i - 1]!) && path.resolve(arg) === REGISTER,
  );
}

/**
 * Starts the entry `name` (file name without extension) in `directory` (the caller's `__dirname`) in a
 * worker thread with `workerData`.
 */
export function startWorker(directory: string, name: string, workerData: unknown): Worker {
  const ext = path.extname(__filename);
  const file = path.join(directory, `${name}${ext}`);
  if (ext !== '.ts' || registered()) return new Worker(file, { workerData });
  const loader = `require(${JSON.stringify(REGISTER)});\nrequire(${JSON.stringify(file)});`;
  return new Worker(loader, { eval: true, workerData });
}
