/**
 * The read path alone: server CPU per event read, measured through the real @eventstore/db-client and through a
 * raw gRPC client that does not decode (the server's own ceiling). The server runs in a child process; its CPU
 * comes from /proc/<pid>/stat around each phase, the client's from process.cpuUsage().
 *
 *   node -r ./tools/register.js apps/eventstore-embedded/bench/read.bench.ts [--events 100000 --rounds 1 --phases all,sub,raw,streams]
 * --data <dir> keeps the filled log in <dir> and reuses it when it is there (no prefill).
 * BENCH_NODE_ARGS adds node flags to the server (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
 * BENCH_SERVER=<path of main.ts> benchmarks another server build (A/B runs back to back).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnEventStoreProcess } from '@session-engine/testing/event-store-process';
import { credentials, Client as GrpcClient } from '@grpc/grpc-js';
import { EventStoreDBClient, jsonEvent, START, streamNameFilter } from '@eventstore/db-client';
import { Empty } from '@eventstore/db-client/generated/shared_pb';
import { ReadReq } from '@eventstore/db-client/generated/streams_pb';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const EVENTS = Number(arg('events', '100000'));
const ROUNDS = Number(arg('rounds', '1'));
const PHASES = new Set(arg('phases', 'all,sub,raw,streams').split(','));
const SERVER = process.env.BENCH_SERVER ?? 'apps/eventstore-embedded/src/main.ts';
const EVENTS_PER_SESSION = 5;

function startServer(dataDir: string) {
  return spawnEventStoreProcess({
    dataDir,
    entry: SERVER,
    nodeArgs: (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
  });
}

/** utime + stime of a process in µs (clock ticks of 10 ms). */
function processCpuMicros(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** A session-like event: JSON data of ~300 bytes and metadata, as the write side appends them. */
function sessionEvent(i: number, k: number) {
  return jsonEvent({
    type: ['SessionCreated', 'CartItemsAdded', 'SessionClosed', 'ItemsReturned', 'SessionCancelled'][k],
    data: {
      applicationId: 1 + (i % 3),
      integrationId: `w-${i}`,
      sessionId: 1_000_000 + i,
      at: `2025-05-${String(1 + (i % 28)).padStart(2, '0')}T0${k}:00:00.000Z`,
      profileId: `profile-${i % 97}`,
      items: [{ position: 0, sku: 'SHIRT', quantity: 3, price: `${(i % 50) + 1}.99`, value: '59.97' }],
      total: '59.97',
      commandId: `cmd-${i}-${k}`,
    },
    metadata: { commandId: `cmd-${i}-${k}`, correlationId: 'bench', actor: 'bench', schemaVersion: 2 },
  });
}

async function prefill(client: EventStoreDBClient): Promise<number> {
  const sessions = Math.ceil(EVENTS / EVENTS_PER_SESSION);
  let next = 0;
  let written = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < sessions) {
        const i = next++;
        // One stream in 20 is not a session stream: the filtered subscription has something to skip.
        const stream = i % 20 === 19 ? `other-${i}` : `session-${1 + (i % 3)}-w-${i}`;
        const events = Array.from({ length: EVENTS_PER_SESSION }, (_, k) => sessionEvent(i, k));
        await client.appendToStream(stream, events);
        written += events.length;
      }
    }),
  );
  return written;
}

interface Measured {
  events: number;
  seconds: number;
  serverMicros: number;
  clientMicros: number;
}

async function measure(pid: number, run: () => Promise<number>): Promise<Measured> {
  const server0 = processCpuMicros(pid);
  const client0 = process.cpuUsage();
  const started = process.hrtime.bigint();
  const events = await run();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const client = process.cpuUsage(client0);
  return {
    events,
    seconds,
    serverMicros: processCpuMicros(pid) - server0,
    clientMicros: client.user + client.system,
  };
}

function report(name: string, m: Measured): void {
  const perEvent = (us: number) => (us / m.events).toFixed(1).padStart(6);
  console.log(
    `  ${name.padEnd(44)} ${String(m.events).padStart(7)} ev ${Math.round(m.events / m.seconds)
      .toLocaleString('en-US')
      .padStart(
        8,
      )} ev/s  server ${perEvent(m.serverMicros)} µs/ev  client ${perEvent(m.clientMicros)} µs/ev  load ${load()}`,
  );
}

/** `$all` through the real client, events counted as they are decoded (no per-event await). */
function readAll(client: EventStoreDBClient): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const read = client.readAll({ fromPosition: START }, { highWaterMark: 1000 });
    read.on('data', () => n++);
    read.on('end', () => resolve(n));
    read.on('error', reject);
  });
}

/** The projector's subscription: `$all` filtered to the `session-` prefix, from the start until caught up. */
function subscribe(client: EventStoreDBClient): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const sub = client.subscribeToAll({
      fromPosition: START,
      filter: streamNameFilter({ prefixes: ['session-'] }),
    });
    sub.on('data', () => n++);
    sub.on('caughtUp', () => {
      void sub.unsubscribe().then(() => resolve(n), reject);
    });
    sub.on('error', reject);
  });
}

/** The server's ceiling: `$all` read through grpc-js without decoding the responses (messages counted). */
function rawReadAll(port: number): Promise<number> {
  const grpc = new GrpcClient(`127.0.0.1:${port}`, credentials.createInsecure());
  const options = new ReadReq.Options();
  const all = new ReadReq.Options.AllOptions();
  all.setStart(new Empty());
  options.setAll(all);
  options.setReadDirection(ReadReq.Options.ReadDirection.FORWARDS);
  options.setCount(String(Number.MAX_SAFE_INTEGER));
  options.setNoFilter(new Empty());
  const uuid = new ReadReq.Options.UUIDOption();
  uuid.setString(new Empty());
  options.setUuidOption(uuid);
  options.setControlOption(new ReadReq.Options.ControlOption().setCompatibility(1));
  const req = new ReadReq();
  req.setOptions(options);
  return new Promise((resolve, reject) => {
    let n = 0;
    const call = grpc.makeServerStreamRequest(
      '/event_store.client.streams.Streams/Read',
      (r: ReadReq) => Buffer.from(r.serializeBinary()),
      (b: Buffer) => b,
      req,
    );
    call.on('data', () => n++);
    call.on('end', () => {
      grpc.close();
      resolve(n);
    });
    call.on('error', reject);
  });
}

/** Whole-stream reads of many session streams, 8 at a time (what the write side does to rebuild state). */
async function readStreams(client: EventStoreDBClient, streams: number): Promise<number> {
  let next = 0;
  let n = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < streams) {
        const i = next++ * 7;
        const stream = i % 20 === 19 ? `other-${i}` : `session-${1 + (i % 3)}-w-${i}`;
        for await (const _ of client.readStream(stream)) n++;
      }
    }),
  );
  return n;
}

async function main(): Promise<void> {
  const cpus = os.cpus();
  console.log(
    `${cpus[0]?.model ?? 'unknown CPU'} × ${cpus.length} cores, Node ${process.version}, server ${SERVER}, load ${load()}`,
  );
  // --data <dir>: keep the filled log there and reuse it on the next run (no prefill in A/B runs or profiles).
  const keep = arg('data', '');
  const reuse = keep !== '' && fs.existsSync(path.join(keep, 'eventstore.sqlite'));
  const dataDir = keep || fs.mkdtempSync(path.join(os.tmpdir(), 'es-read-bench-'));
  const { child, port } = await startServer(dataDir);
  const client = EventStoreDBClient.connectionString(`esdb://127.0.0.1:${port}?tls=false`);
  try {
    if (!reuse)
      report('prefill: appends of 5 events, 16 writers', await measure(child.pid!, () => prefill(client)));
    for (let round = 0; round < ROUNDS; round++) {
      if (PHASES.has('all'))
        report('$all read (client, decoded)', await measure(child.pid!, () => readAll(client)));
      if (PHASES.has('sub'))
        report(
          'subscription session- from start (client)',
          await measure(child.pid!, () => subscribe(client)),
        );
      if (PHASES.has('raw'))
        report('$all read (raw gRPC, not decoded)', await measure(child.pid!, () => rawReadAll(port)));
      if (PHASES.has('streams'))
        report(
          '2,000 stream reads (client, 8 at a time)',
          await measure(child.pid!, () => readStreams(client, 2000)),
        );
    }
  } finally {
    await client.dispose();
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    if (!keep) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
