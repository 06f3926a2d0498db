import { ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';
import { EventStoreDBClient, jsonEvent } from '@eventstore/db-client';
import { APPEND_RPC, collect, startNode, tempDataDir } from './support';

jest.setTimeout(60_000);

const ROOT = path.resolve(__dirname, '../../..');
const WRITERS = 20;

/**
 * Server processes and clients started here: what a failed test left running is killed and closed (a live
 * child process or gRPC call keeps jest from exiting).
 */
const children = new Set<ChildProcess>();
const clients: EventStoreDBClient[] = [];
afterEach(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  }
  children.clear();
  for (const client of clients.splice(0)) await client.dispose().catch(() => undefined);
});

/** A host process that runs the server in a worker thread, as `npm start` does. */
const IN_WORKER_THREAD = `require('./apps/eventstore-embedded/src')
  .startEmbeddedEventStore({ port: 0, dataDir: process.argv[1], thread: true })
  .catch((err) => { console.error(err); process.exit(1); });`;

/**
 * Runs `npm run start:eventstore`'s entry point (or a host with the server in a worker thread) in a child
 * process and learns its port from the start-up line.
 */
async function spawnServer(
  dataDir: string,
  mode: 'process' | 'thread',
): Promise<{ child: ChildProcess; port: number }> {
  const args =
    mode === 'process'
      ? ['apps/eventstore-embedded/src/main.ts', '--port', '0', '--data', dataDir]
      : ['-e', IN_WORKER_THREAD, dataDir];
  const child = spawn(process.execPath, ['-r', './tools/register.js', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  const lines = readline.createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server exited early (${code})`)));
    lines.on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as { port?: number; host?: string };
        if (parsed.port) {
          if (parsed.host !== '127.0.0.1') throw new Error(`listening on ${parsed.host}, not 127.0.0.1`);
          resolve(parsed.port);
        }
      } catch (error) {
        reject(error as Error);
      }
    });
  });
  return { child, port };
}

interface Batch {
  writer: number;
  ids: string[];
}

describe.each([
  ['its own process', 'process' as const],
  ['a worker thread of the killed process', 'thread' as const],
])('embedded EventStoreDB in %s: crash safety', (_, mode) => {
  it('keeps every acknowledged event, in order, and never a partial batch after SIGKILL mid-flight', async () => {
    const dataDir = tempDataDir();
    const { child, port } = await spawnServer(dataDir, mode);
    const client = EventStoreDBClient.connectionString(`esdb://127.0.0.1:${port}?tls=false`);
    clients.push(client);
    const acked: Batch[] = [];
    const sent = new Map<string, Batch>();
    let stop = false;

    const writer = async (w: number) => {
      // Half the writers take the BatchAppend path, half the plain Append path.
      const rpc = w % 2 === 0 ? {} : APPEND_RPC;
      for (let seq = 0; !stop; seq++) {
        const size = seq % 3 === 0 ? 2 + ((seq * 7 + w) % 9) : 1;
        const events = Array.from({ length: size }, (_, k) =>
          jsonEvent({ type: 'crash-test', data: { w, seq, k, size } }),
        );
        const batch = { writer: w, ids: events.map((e) => e.id) };
        sent.set(`${w}/${seq}`, batch);
        try {
          await client.appendToStream(`crash-${w}`, events, rpc);
        } catch {
          return;
        }
        acked.push(batch);
      }
    };
    const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
    let writing = WRITERS;
    for (const w of writers) void w.then(() => writing--);
    const deadline = Date.now() + 30_000;
    while (acked.length < 600) {
      // A writer ends on its first failed append: if they all did, or it is this slow, say so instead of waiting.
      if (writing === 0 || Date.now() > deadline)
        throw new Error(`${acked.length} batches acknowledged, ${writing} writer(s) still writing`);
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    stop = true;
    await Promise.all(writers);
    await client.dispose().catch(() => undefined);

    const node = await startNode({}, dataDir);
    try {
      const stored = await collect(node.client.readAll());
      const present = new Set(stored.map((e) => e.event!.id));
      // Every acknowledged event survived.
      const missing = acked.flatMap((b) => b.ids).filter((id) => !present.has(id));
      expect(missing).toEqual([]);
      // No batch is partially visible.
      for (const batch of sent.values()) {
        const count = batch.ids.filter((id) => present.has(id)).length;
        expect([0, batch.ids.length]).toContain(count);
      }
      // Per stream: contiguous revisions, events in the order each writer sent them.
      for (let w = 0; w < WRITERS; w++) {
        const events = stored.filter((e) => e.event!.streamId === `crash-${w}`);
        expect(events.map((e) => Number(e.event!.revision))).toEqual(events.map((_, i) => i));
        const order = events.map((e) => {
          const d = e.event!.data as { seq: number; k: number };
          return d.seq * 100 + d.k;
        });
        expect(order).toEqual([...order].sort((a, b) => a - b));
        const ackedHere = acked.filter((b) => b.writer === w).flatMap((b) => b.ids);
        expect(events.slice(0, ackedHere.length).map((e) => e.event!.id)).toEqual(ackedHere);
      }
      expect(stored.length).toBeGreaterThanOrEqual(acked.flatMap((b) => b.ids).length);
      // The restarted store keeps writing after the recovered head.
      const next = await node.client.appendToStream('crash-0', jsonEvent({ type: 'after', data: {} }));
      expect(next.position!.commit).toBeGreaterThan(stored[stored.length - 1].event!.position.commit);
    } finally {
      await node.dispose();
    }
  });
});
