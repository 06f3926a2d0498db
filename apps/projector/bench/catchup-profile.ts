/**
 * Catch-up alone, for profiling: an embedded server in a child process over a store kept between runs
 * (`--store DIR`, filled with the bench's workload on first use), then one projector catching up into
 * PostgreSQL or SQLite.
 *   node --cpu-prof -r ./tools/register.js apps/projector/bench/catchup-profile.ts sqlite --store /tmp/store
 */
import { EsdbClientAdapter, SessionEventStore } from '@session-engine/event-store';
import { SessionHistory } from '@session-engine/read-models/testing/session-history';
import { postgresTestDatabase, sqliteTestDatabase } from '@session-engine/read-models/testing/test-databases';
import { spawnEventStoreProcess } from '@session-engine/testing/event-store-process';
import fs from 'node:fs';
import os from 'node:os';
import pino from 'pino';
import { Registry } from 'prom-client';
import { startProjector } from '../src/projector';
import { appendHistories } from '../src/testing/store-fixtures';
import { workload } from '../src/testing/workload';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};

/** Wall time, events/s and this process's CPU (all its threads) per event, with the load average. */
function report(name: string, done: boolean, events: number, started: bigint, cpu: NodeJS.CpuUsage) {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  console.log(
    `${name}: ${done ? 'caught up' : 'TIMEOUT'} ${events} events in ${seconds.toFixed(2)} s = ${Math.round(events / seconds)}/s, ` +
      `CPU ${((used.user + used.system) / events).toFixed(1)} µs/event (user ${(used.user / events).toFixed(1)}, ` +
      `system ${(used.system / events).toFixed(1)}), load ${load}`,
  );
}

async function main() {
  const name = process.argv[2] ?? 'sqlite';
  const storeDir = arg('store', '/tmp/projector-profile-store');
  const fresh = !fs.existsSync(storeDir);
  fs.mkdirSync(storeDir, { recursive: true });
  const { child, connectionString } = await spawnEventStoreProcess({ dataDir: storeDir });
  const client = EsdbClientAdapter.connect(connectionString);
  const histories = workload(Math.ceil(Number(arg('events', '100000')) / 4.5));
  const events = histories.reduce((n, h) => n + h.events.length, 0);
  if (fresh) {
    for (let i = 0; i < histories.length; i += 400) {
      await Promise.all(
        Array.from({ length: 8 }, (_, j) =>
          appendHistories(client, histories.slice(i + j * 50, i + (j + 1) * 50)),
        ),
      );
    }
  }
  // The log's end: a marker session appended now.
  const marker = new SessionHistory(99, `marker-${Date.now()}`, 8_000_000 + (Date.now() % 1_000_000)).created(
    new Date().toISOString(),
  );
  const last = await appendHistories(client, [marker]);
  if (name === 'read') {
    // The subscription alone: what decoding the events costs this process.
    const cpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    let n = 0;
    const subscription = new SessionEventStore(client).subscribeToSessionEvents({});
    for await (const e of subscription) {
      n++;
      if (e.position! >= last) break;
    }
    await subscription.close();
    report(name, true, n, started, cpu);
    await client.close();
    child.kill('SIGTERM');
    return;
  }
  const database = name === 'postgres' ? postgresTestDatabase() : sqliteTestDatabase();
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const projector = await startProjector({
    connectionString,
    ...database.options(),
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
    ...(arg('batch', '') ? { batchSize: Number(arg('batch', '')) } : {}),
  });
  const target = last;
  const done = await projector.waitForPosition(target, 180_000);
  report(name, done, events, started, cpu);
  await projector.stop();
  await database.drop();
  await client.close();
  child.kill('SIGTERM');
}
main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
