/**
 * The embedded event store in a child process of its own (`apps/eventstore-embedded/src/main.ts` through
 * tools/register.js), as the benchmarks run it so that server and client each get a core. Resolves once the
 * server prints the port it listens on; rejects if it exits first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';

const ROOT = path.resolve(__dirname, '../../..');

export interface EventStoreProcess {
  child: ChildProcess;
  port: number;
  connectionString: string;
}

export async function spawnEventStoreProcess(options: {
  dataDir: string;
  /** More server flags (e.g. `--synchronous NORMAL`). */
  args?: string[];
  /** Flags for node itself (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
  /** Another server entry file (to A/B a build), relative to the repository root. */
  entry?: string;
}): Promise<EventStoreProcess> {
  const child = spawn(
    process.execPath,
    [
      ...(options.nodeArgs ?? []),
      '-r',
      './tools/register.js',
      options.entry ?? 'apps/eventstore-embedded/src/main.ts',
      '--port',
      '0',
      '--data',
      options.dataDir,
      ...(options.args ?? []),
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = readline.createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the event store process exited (${code})`)));
    lines.on('line', (line) => {
      const parsed = JSON.parse(line) as { port?: number };
      if (parsed.port) resolve(parsed.port);
    });
  });
  return { child, port, connectionString: `esdb://127.0.0.1:${port}?tls=false` };
}
