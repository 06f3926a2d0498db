/**
 * What each kind of event-store call costs the process that makes it: calls per second and the client's CPU per
 * call, through the adapter the API uses (`EsdbClientAdapter`, with the API's call deadline), against the embedded
 * server in a child process. A command makes one append (and a read when its session is not cached); a command
 * with an `Idempotency-Key` adds a read of its record's stream (missing the first time), a `$maxAge` and the
 * record's append.
 *
 *   npm run bench:store-calls [-- --calls 2000 --concurrency 16]
 */
import { spawnEventStoreProcess } from '@session-engine/testing/event-store-process';
import { EsdbClientAdapter, type EventToAppend } from '@session-engine/event-store';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return Number(i >= 0 ? process.argv[i + 1] : fallback);
};
const CALLS = arg('calls', '2000');
const CONCURRENCY = arg('concurrency', '16');
const WARM_UP = 200;

const event = (i: number): EventToAppend[] => [
  { type: 'ItemAdded', data: { i, note: 'x'.repeat(200) }, metadata: { commandId: `c-${i}` } },
];

async function main(): Promise<void> {
  const cpus = os.cpus();
  console.log(
    `machine: ${cpus[0]?.model ?? 'unknown'} × ${cpus.length} cores, node ${process.version}, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' / ')}`,
  );
  console.log(`${CALLS} calls per kind, ${CONCURRENCY} at a time, after ${WARM_UP} to warm up`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'store-calls-'));
  const { child, connectionString } = await spawnEventStoreProcess({ dataDir });
  const store = EsdbClientAdapter.connect(connectionString).withCallTimeout(10_000);
  const measure = async (name: string, call: (i: number) => Promise<unknown>) => {
    for (let i = 0; i < WARM_UP; i++) await call(CALLS + i);
    const cpuBefore = process.cpuUsage();
    const started = process.hrtime.bigint();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < CALLS; i = next++) await call(i);
      }),
    );
    const cpu = process.cpuUsage(cpuBefore);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpuMicros = (cpu.user + cpu.system) / CALLS;
    console.log(
      `${name.padEnd(48)} ${Math.round(CALLS / seconds)
        .toLocaleString('en-US')
        .padStart(7)}/s   client CPU ${Math.round(cpuMicros).toLocaleString('en-US').padStart(6)} µs/call`,
    );
  };
  try {
    await measure('append, a new stream (no_stream)', (i) =>
      store.appendToStream(`new-${i}`, event(i), 'no_stream'),
    );
    await measure('append, an existing stream', (i) => store.appendToStream(`new-${i}`, event(i), 'any'));
    await measure('read the last event of an existing stream', (i) =>
      store.readStream(`new-${i}`, { direction: 'backwards', maxCount: 1 }),
    );
    await measure('read a stream that does not exist', (i) =>
      store.readStream(`missing-${i}`, { direction: 'backwards', maxCount: 1 }),
    );
    await measure('set $maxAge of a new stream', (i) => store.setStreamMaxAge(`aged-${i}`, 86_400));
  } finally {
    await store.close();
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
