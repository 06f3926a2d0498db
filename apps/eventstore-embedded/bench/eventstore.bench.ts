/**
 * Throughput of the embedded EventStoreDB-compatible server, measured through the real @eventstore/db-client.
 * The server runs in a child process (as `npm run start:eventstore` does) so client and server each get a core.
 *
 *   npm run bench:eventstore [-- --seconds 5 --synchronous FULL]
 * BENCH_WINDOW_MS sets the server's --group-commit-window-ms; BENCH_NODE_ARGS adds node flags to the server.
 */
import { spawnEventStoreProcess } from '@session-engine/testing/event-store-process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EventStoreDBClient, jsonEvent, START } from '@eventstore/db-client';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const SECONDS = Number(arg('seconds', '5'));
const SYNCHRONOUS = arg('synchronous', 'FULL');

const payload = (i: number) => ({
  sessionId: `s-${i}`,
  sku: `SKU-${i % 977}`,
  quantity: (i % 5) + 1,
  price: '19.99',
  at: '2026-01-01T00:00:00.000Z',
  note: 'x'.repeat(80),
});

function startServer(dataDir: string) {
  // BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") goes to the server process, for profiling.
  return spawnEventStoreProcess({
    dataDir,
    nodeArgs: (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
    args: [
      '--synchronous',
      SYNCHRONOUS,
      ...(process.env.BENCH_WINDOW_MS ? ['--group-commit-window-ms', process.env.BENCH_WINDOW_MS] : []),
    ],
  });
}

/** Runs `worker` on `concurrency` loops until the time is up; returns events/s. */
async function timed(
  concurrency: number,
  worker: (w: number, i: number) => Promise<number>,
): Promise<number> {
  const deadline = Date.now() + SECONDS * 1000;
  const started = process.hrtime.bigint();
  let events = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = 0; Date.now() < deadline; i++) {
        const appended = await worker(w, i);
        events += appended;
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return events / seconds;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  const cpus = os.cpus();
  console.log('Machine');
  console.log(`  CPU:    ${cpus[0]?.model ?? 'unknown'} × ${cpus.length} cores`);
  console.log(`  Memory: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`);
  console.log(`  Node:   ${process.version} on ${os.platform()} ${os.release()}`);
  console.log(
    `  Load:   ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' / ')} (1/5/15 min; other work on the box skews results)`,
  );
  console.log(`  SQLite synchronous=${SYNCHRONOUS}, ${SECONDS}s per write phase, server in a child process`);

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'es-bench-'));
  const { child, port } = await startServer(dataDir);
  const client = EventStoreDBClient.connectionString(`esdb://127.0.0.1:${port}?tls=false`);
  const results: Array<[string, number, number]> = [];
  try {
    await client.appendToStream('warm-up', jsonEvent({ type: 'WarmUp', data: {} }));

    const single = await timed(50, async (w, i) => {
      await client.appendToStream(
        `single-${(w * 7919 + i) % 1000}`,
        jsonEvent({ type: 'ItemAdded', data: payload(i) }),
      );
      return 1;
    });
    results.push(['single-event appends/s (50 writers, 1,000 streams)', single, 10_000]);

    const batched = await timed(8, async (w, i) => {
      const events = Array.from({ length: 100 }, (_, k) =>
        jsonEvent({ type: 'ItemAdded', data: payload(i * 100 + k) }),
      );
      await client.appendToStream(`batch-${w}-${i % 50}`, events);
      return 100;
    });
    results.push(['events/s appended in batches of 100 (8 writers)', batched, 50_000]);

    let started = process.hrtime.bigint();
    let read = 0;
    for await (const _ of client.readAll({ fromPosition: START })) read++;
    const readRate = read / (Number(process.hrtime.bigint() - started) / 1e9);
    results.push([`$all read events/s (${fmt(read)} events)`, readRate, 25_000]);

    started = process.hrtime.bigint();
    let caught = 0;
    const sub = client.subscribeToAll({ fromPosition: START });
    await new Promise<void>((resolve, reject) => {
      sub.on('data', () => caught++);
      sub.on('caughtUp', () => resolve());
      sub.on('error', reject);
    });
    const catchUpRate = caught / (Number(process.hrtime.bigint() - started) / 1e9);
    await sub.unsubscribe();
    results.push([`subscription catch-up events/s (${fmt(caught)} events)`, catchUpRate, 25_000]);
  } finally {
    await client.dispose();
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    fs.rmSync(dataDir, { recursive: true, force: true });
  }

  console.log('\nResults');
  for (const [name, value, target] of results) {
    const verdict = value >= target ? 'meets' : 'BELOW';
    console.log(`  ${name.padEnd(58)} ${fmt(value).padStart(10)}   (target ≥ ${fmt(target)}: ${verdict})`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
