/**
 * Projector throughput and lag, measured through the real @eventstore/db-client against the embedded
 * server running in a child process (so the server and the projector each get a core):
 *  1. catch-up of a store pre-filled with 100 000 session events into PostgreSQL and into SQLite;
 *  2. lag under a steady 1 000 commands/s (each command = one append of its events to a session stream),
 *     measured per command from its append's acknowledgement to the projector having committed it.
 *
 *   npm run bench:projector [-- --events 100000 --rate 1000 --seconds 10]
 */
import { EsdbClientAdapter, SessionEventStore } from '@session-engine/event-store';
import { openReadModelDatabase, type ProjectedEvent, ReadModelWriter } from '@session-engine/read-models';
import { postgresTestDatabase, sqliteTestDatabase } from '@session-engine/read-models/testing/test-databases';
import { SessionHistory } from '@session-engine/read-models/testing/session-history';
import { spawnEventStoreProcess } from '@session-engine/testing/event-store-process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { DEFAULT_BATCH_SIZE, startProjector } from '../src/projector';
import { appendHistories } from '../src/testing/store-fixtures';
import { workload } from '../src/testing/workload';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return Number(i >= 0 ? process.argv[i + 1] : fallback);
};
const EVENTS = arg('events', '100000');
const RATE = arg('rate', '1000');
const SECONDS = arg('seconds', '10');
const CATCH_UP_TIMEOUT_MS = 180_000;
const logger = pino({ level: 'silent' });

function startServer(dataDir: string) {
  return spawnEventStoreProcess({ dataDir });
}

async function prefill(client: EsdbClientAdapter): Promise<{ last: bigint; events: number }> {
  const histories = workload(Math.ceil(EVENTS / 4.5));
  const events = histories.reduce((n, h) => n + h.events.length, 0);
  let last = 0n;
  const started = Date.now();
  for (let i = 0; i < histories.length; i += 400) {
    const parts = await Promise.all(
      Array.from({ length: 8 }, (_, j) =>
        appendHistories(client, histories.slice(i + j * 50, i + (j + 1) * 50)),
      ),
    );
    for (const p of parts) if (p > last) last = p;
    // A progress line redrawn in place on a terminal; a log (CI, a pipe) gets the summary line only.
    if (process.stderr.isTTY)
      process.stderr.write(`\rprefill ${Math.min(i + 400, histories.length)}/${histories.length} sessions`);
  }
  const summary = `prefill: ${events} events in ${((Date.now() - started) / 1000).toFixed(1)} s`;
  process.stderr.write(process.stderr.isTTY ? `\r${summary}\n` : `${summary}\n`);
  return { last, events };
}

async function catchUp(name: string, connectionString: string, last: bigint, events: number) {
  const database = name === 'postgres' ? postgresTestDatabase() : sqliteTestDatabase();
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const projector = await startProjector({
    connectionString,
    ...database.options(),
    logger,
    registry: new Registry(),
  });
  const done = await projector.waitForPosition(last, CATCH_UP_TIMEOUT_MS);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  await projector.stop();
  await database.drop();
  if (!done) throw new Error(`${name}: catch-up did not finish within ${CATCH_UP_TIMEOUT_MS / 1000} s`);
  return { seconds, perSecond: events / seconds, cpuPerEvent: cpuPerEvent(used, events) };
}

/** The event store's side alone: the same catch-up subscription, events only counted. */
async function readAll(client: EsdbClientAdapter, last: bigint) {
  const events: ProjectedEvent[] = [];
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const subscription = new SessionEventStore(client).subscribeToSessionEvents({});
  for await (const e of subscription) {
    if (e.kind === 'tombstone') continue;
    events.push({
      streamId: e.streamName,
      revision: Number(e.revision),
      position: e.position!,
      event: e.event,
    });
    if (e.position! >= last) break;
  }
  await subscription.close();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { events, seconds, cpuPerEvent: cpuPerEvent(process.cpuUsage(cpu), events.length) };
}

/** The read-model side alone: the events already in memory, written in the projector's default batches. */
async function writeOnly(name: string, events: ProjectedEvent[]) {
  const database = name === 'postgres' ? postgresTestDatabase() : sqliteTestDatabase();
  const rm = await openReadModelDatabase(database.options());
  const writer = await ReadModelWriter.open(rm.db);
  const size = DEFAULT_BATCH_SIZE[rm.dialect];
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (let i = 0; i < events.length; i += size) {
    const batch = events.slice(i, i + size);
    await writer.apply(batch, batch[batch.length - 1].position);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  await rm.close();
  await database.drop();
  return { perSecond: events.length / seconds, cpuPerEvent: cpuPerEvent(used, events.length) };
}

async function steadyLag(name: string, connectionString: string, client: EsdbClientAdapter) {
  const database = name === 'postgres' ? postgresTestDatabase() : sqliteTestDatabase();
  const projector = await startProjector({
    connectionString,
    ...database.options(),
    logger,
    registry: new Registry(),
  });
  // Let it catch up with the pre-filled store first: the lag under load is measured from a live start.
  const { last } = await prefillMarker(client);
  await projector.waitForPosition(last, CATCH_UP_TIMEOUT_MS);

  const lags: number[] = [];
  let missed = 0;
  const cpu = process.cpuUsage();
  const sessions = Array.from(
    { length: 200 },
    (_, i) => new SessionHistory(9, `steady-${name}-${i}`, (name === 'postgres' ? 9_000_000 : 9_500_000) + i),
  );
  const pending: Promise<void>[] = [];
  const started = Date.now();
  const total = RATE * SECONDS;
  for (let n = 0; n < total; n++) {
    const due = started + (n * 1000) / RATE;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const session = sessions[n % sessions.length];
    const from = session.events.length;
    const at = new Date().toISOString();
    if (from === 0) session.created(at);
    else session.cartAdded(at, from - 1, [{ sku: `SKU-${n % 50}`, quantity: 1, price: '9.99' }]);
    pending.push(
      (async () => {
        const position = await appendHistories(client, [session], from);
        const acked = Date.now();
        if (await projector.waitForPosition(position, 30_000)) lags.push(Date.now() - acked);
        else missed++;
      })(),
    );
  }
  await Promise.all(pending);
  const elapsed = (Date.now() - started) / 1000;
  // This process also appends the commands; its CPU per command is an upper bound of the projector's.
  const cpuPerCommand = cpuPerEvent(process.cpuUsage(cpu), total);
  await projector.stop();
  await database.drop();
  lags.sort((a, b) => a - b);
  const pct = (p: number) => lags[Math.min(lags.length - 1, Math.floor((p / 100) * lags.length))];
  return {
    achieved: total / elapsed,
    p50: pct(50),
    p99: pct(99),
    max: lags[lags.length - 1],
    missed,
    cpuPerCommand,
  };
}

/** This process's CPU (every thread of it) per event, in µs. */
function cpuPerEvent(used: NodeJS.CpuUsage, events: number): string {
  return `${((used.user + used.system) / events).toFixed(1)} µs`;
}

const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** The log's current end, found by appending one marker session. */
async function prefillMarker(client: EsdbClientAdapter) {
  const marker = new SessionHistory(99, `marker-${Date.now()}`, 8_000_000 + (Date.now() % 1_000_000)).created(
    new Date().toISOString(),
  );
  return { last: await appendHistories(client, [marker]) };
}

async function main(): Promise<void> {
  const cpus = os.cpus();
  console.log(
    `machine: ${cpus[0]?.model ?? 'unknown CPU'} × ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ` +
      `${os.type()} ${os.release()}, Node ${process.version}, load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'projector-bench-'));
  const server = await startServer(dataDir);
  const client = EsdbClientAdapter.connect(server.connectionString);
  try {
    const { last, events } = await prefill(client);
    const read = await readAll(client, last);
    console.log(
      `event store → subscription alone: ${read.events.length} events in ${read.seconds.toFixed(2)} s = ${Math.round(read.events.length / read.seconds)} events/s, ` +
        `CPU ${read.cpuPerEvent}/event, load ${load()}`,
    );
    for (const name of ['postgres', 'sqlite']) {
      const written = await writeOnly(name, read.events);
      console.log(
        `read-model writes alone into ${name.padEnd(8)}: ${Math.round(written.perSecond)} events/s, ` +
          `CPU ${written.cpuPerEvent}/event, load ${load()}`,
      );
    }
    for (const name of ['postgres', 'sqlite']) {
      const result = await catchUp(name, server.connectionString, last, events);
      console.log(
        `catch-up into ${name.padEnd(8)}: ${events} events in ${result.seconds.toFixed(2)} s = ${Math.round(result.perSecond)} events/s ` +
          `(target ${name === 'postgres' ? '10 000' : '20 000'}/s), projector CPU ${result.cpuPerEvent}/event, load ${load()}`,
      );
    }
    for (const name of ['postgres', 'sqlite']) {
      const r = await steadyLag(name, server.connectionString, client);
      console.log(
        `steady ${RATE} commands/s for ${SECONDS} s into ${name.padEnd(8)}: achieved ${Math.round(r.achieved)}/s, ` +
          `lag ack→projected p50 ${r.p50} ms, p99 ${r.p99} ms, max ${r.max} ms, not projected within 30 s: ${r.missed} (target < 1 s), ` +
          `CPU ${r.cpuPerCommand}/command (projector + load generator), load ${load()}`,
      );
    }
  } finally {
    await client.close();
    server.child.kill('SIGTERM');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
