/**
 * `npm run bench:replay`: throughput of `replay verify` over 100 000 session events (BENCH_EVENTS to
 * change it). Builds a throw-away store — the embedded event store and SQLite read models under a
 * temporary DATA_DIR — writes 20 000 five-event sessions (create, add items, coupon, close, return),
 * projects them with the read models' own writer, then times `verify` end to end: reading the log
 * through the client, recomputing every read model in memory and comparing every stored row.
 * Target: ≥ 20 000 events/s. BENCH_DATA_DIR keeps the prepared store there and reuses it on the next run
 * (to time verify alone while working on it).
 */
import { EsdbClientAdapter, SessionEventStore } from '@session-engine/event-store';
import { openReadModelDatabase, ReadModelWriter, type ProjectedEvent } from '@session-engine/read-models';
import { spawnEventStoreProcess } from '@session-engine/testing/event-store-process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { startEmbeddedEventStore } from '../../eventstore-embedded/src';
import { toProjectedEvent } from '../src/commands/log';
import { verifyReadModels, type VerifyCpu } from '../src/commands/verify';
import { replayConfig } from '../src/config';
import { Connections } from '../src/connections';
import { EVENTS_PER_SESSION, writeGeneratedSessions } from '../src/testing/generated-sessions';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const PER_SESSION = EVENTS_PER_SESSION;
const TARGET = 20_000;

async function main(): Promise<void> {
  const cpus = os.cpus();
  console.log(
    `machine: ${cpus[0]?.model ?? 'unknown cpu'} × ${cpus.length}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ` +
      `${os.platform()} ${os.release()}, node ${process.version}`,
  );
  const keptDir = process.env.BENCH_DATA_DIR;
  const reuse = keptDir !== undefined && existsSync(join(keptDir, 'read-models.sqlite'));
  if (keptDir) mkdirSync(keptDir, { recursive: true });
  const dataDir = keptDir ?? mkdtempSync(join(os.tmpdir(), 'replay-bench-'));
  const store = await startEmbeddedEventStore({
    port: 0,
    dataDir: join(dataDir, 'eventstore'),
    silent: true,
    synchronous: 'NORMAL',
  });
  const client = EsdbClientAdapter.connect(store.connectionString);
  try {
    if (!reuse) await prepare(client, dataDir);
    await client.close();
    await store.close();
    await timeVerify(dataDir);
  } finally {
    await client.close().catch(() => undefined);
    await store.close();
    if (!keptDir) rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Writes the sessions through the client and projects them with the read models' own writer. */
async function prepare(client: EsdbClientAdapter, dataDir: string): Promise<void> {
  const sessions = Math.ceil(EVENTS / PER_SESSION);
  let t = Date.now();
  await writeGeneratedSessions(client, sessions);
  console.log(`wrote ${sessions * PER_SESSION} events in ${sessions} streams in ${Date.now() - t} ms`);

  t = Date.now();
  const database = await openReadModelDatabase({ dataDir });
  const readModels = await ReadModelWriter.open(database.db);
  let batch: ProjectedEvent[] = [];
  for await (const recorded of new SessionEventStore(client).readAll()) {
    if (recorded.kind === 'tombstone') continue;
    batch.push(toProjectedEvent(recorded));
    if (batch.length === 5000) {
      await readModels.apply(batch, batch[batch.length - 1].position);
      batch = [];
    }
  }
  if (batch.length > 0) await readModels.apply(batch, batch[batch.length - 1].position);
  await database.close();
  console.log(`projected them in ${Date.now() - t} ms`);
}

async function timeVerify(dataDir: string): Promise<void> {
  // verify runs as its own process in production: serve the same data from a separate server process.
  const { child: server, connectionString } = await spawnEventStoreProcess({
    dataDir: join(dataDir, 'eventstore'),
  });
  const connections = new Connections(
    replayConfig({ EVENTSTORE_CONNECTION_STRING: connectionString, DATA_DIR: dataDir }),
  );
  const io = {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    env: {},
  };
  if (process.env.BENCH_PHASES) {
    const client = EsdbClientAdapter.connect(connectionString);
    let p = performance.now();
    let n = 0;
    for await (const _ of client.readAll()) n++;
    console.log(`raw readAll ${n}: ${(performance.now() - p).toFixed(0)} ms`);
    p = performance.now();
    n = 0;
    for await (const _ of new SessionEventStore(client).readAll()) n++;
    console.log(`session readAll ${n}: ${(performance.now() - p).toFixed(0)} ms`);
    p = performance.now();
    n = 0;
    const sub = client.subscribeToAll({ prefixes: ['session-'] });
    let caught = false;
    sub.onCaughtUp(() => (caught = true));
    for await (const _ of sub) {
      n++;
      if (n >= EVENTS || caught) break;
    }
    await sub.close();
    console.log(`subscribe ${n}: ${(performance.now() - p).toFixed(0)} ms`);
    await client.close();
  }
  const t = performance.now();
  const cpu = process.cpuUsage();
  const serverCpu = processCpuSeconds(server.pid);
  const phases: VerifyCpu = { stored: 0, fold: 0, compare: 0 };
  const result = await verifyReadModels(io, connections, { progress: false, cpu: phases });
  const seconds = (performance.now() - t) / 1000;
  const used = process.cpuUsage(cpu);
  const usedMs = (used.user + used.system) / 1000;
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const serverUsed = processCpuSeconds(server.pid) - serverCpu;
  console.log(
    `verify CPU: ${((used.user + used.system) / 1e6).toFixed(2)} s in this process` +
      (Number.isNaN(serverUsed) ? '' : `, ${serverUsed.toFixed(2)} s in the event store's`) +
      ` (load average ${os.loadavg()[0].toFixed(2)})`,
  );
  console.log(
    `verify CPU by phase: stored rows ${s(phases.stored)}, folding ${s(phases.fold)}, ` +
      `expected rows + comparison ${s(phases.compare)}, ` +
      `reading and decoding the log (the rest) ${s(usedMs - phases.stored - phases.fold - phases.compare)}`,
  );
  await connections.close();
  const rate = Math.round(result.events / seconds);
  console.log(
    `verify: ${result.events} events, ${result.mismatches.length} mismatches, ${seconds.toFixed(2)} s → ` +
      `${rate} events/s (target ≥ ${TARGET}) ${rate >= TARGET ? 'OK' : 'BELOW TARGET'}`,
  );
  if (result.mismatches.length > 0) process.exitCode = 1;
  server.kill('SIGTERM');
}

/** User + system CPU seconds of a process (Linux `/proc`); NaN elsewhere. */
function processCpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
