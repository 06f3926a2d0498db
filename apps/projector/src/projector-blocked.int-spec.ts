/**
 * A batch commit that neither fails nor finishes — it waits on a lock another writer holds on the read-model
 * database (a long `rebuild` swap, an operator's open transaction) — must not leave the standalone projector
 * looking healthy: once events have waited the stall window with nothing committed, `projector_caught_up` is
 * 0 and /health/ready answers 503 "stalled" (the same definitions), the commit age keeps growing, and the wait
 * is logged at warn once, with a line when commits are quick again. Nothing counts as a failure, and once the
 * lock is released every event is projected.
 *
 * On PostgreSQL the wait is asynchronous: the projector's event loop runs and answers while its commit waits.
 * On SQLite better-sqlite3 waits synchronously (up to the 5 s busy timeout), so the lock is held by another
 * process — this thread, which runs the projector, is blocked meanwhile — and the warn line comes when the
 * wait ends. What the API's /metrics shows while a worker thread is blocked so: test/projector-thread-blocked.
 */
import { EsdbClientAdapter } from '@session-engine/event-store';
import { type TestDatabase, testDatabases } from '@session-engine/read-models/testing/test-databases';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import pino from 'pino';
import { Registry } from 'prom-client';
import { type RunningProjector, startProjector } from './projector';
import { projectorHttpServer } from './projector-http';
import { appendHistories, startEmbeddedEventStore } from './testing/store-fixtures';
import { scrape, sleep, until } from './testing/probes';
import { workload } from './testing/workload';

jest.setTimeout(90_000);
const ROOT = resolve(__dirname, '../../..');
const STALL_AFTER_MS = 1_000;
const SLOW_COMMIT_MS = 500;
/** SQLite: below its busy timeout (5 s), so the commit waits and then succeeds. */
const SQLITE_HOLD_MS = 2_500;
const SLOW =
  'projector batch commit is slow: the read-model database is locked by another writer, or overloaded';
const QUICK = 'projector batch commits are quick again';
const failures = (values: Record<string, number>) =>
  Object.entries(values)
    .filter(([name]) => name.startsWith('projector_batch_failures_total'))
    .reduce((sum, [, n]) => sum + n, 0);

interface HeldLock {
  /** Resolves once the lock is free again. */
  released: Promise<void>;
  /** Frees it now (PostgreSQL; the SQLite holder frees it after SQLITE_HOLD_MS by itself). */
  release(): Promise<void>;
}

/**
 * Another writer's lock on the read models: on SQLite a child process holding `BEGIN IMMEDIATE` for
 * SQLITE_HOLD_MS (in this thread it would block the projector's busy wait from ever ending); on PostgreSQL an
 * open transaction holding `projection_checkpoints` in EXCLUSIVE mode (readers go on, a batch's checkpoint
 * update waits).
 */
async function holdLock(database: TestDatabase): Promise<HeldLock> {
  const { databaseUrl, schema, dataDir } = database.options();
  if (database.name === 'sqlite') {
    const script = `
      const Database = require('better-sqlite3');
      const db = new Database(process.argv[1]);
      db.pragma('busy_timeout = 5000');
      db.exec('begin immediate');
      process.stdout.write('locked\\n');
      setTimeout(() => { db.exec('rollback'); db.close(); }, Number(process.argv[2]));`;
    const child = spawn(
      process.execPath,
      ['-e', script, join(dataDir, 'read-models.sqlite'), String(SQLITE_HOLD_MS)],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    await new Promise<void>((locked, failed) => {
      child.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('locked')) locked();
      });
      child.once('exit', (code) => failed(new Error(`the lock holder exited with ${code}`)));
    });
    return { released: exited, release: () => exited };
  }
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query('begin');
  await client.query(`lock table ${schema}.projection_checkpoints in exclusive mode`);
  let free: () => void;
  const released = new Promise<void>((done) => (free = done));
  return {
    released,
    async release() {
      await client.query('rollback');
      await client.end();
      free();
    },
  };
}

describe.each(testDatabases())(
  'a batch commit waiting on another writer’s lock: the standalone projector on $name',
  (database: TestDatabase) => {
    let dir: string;
    let store: { connectionString: string; close(): Promise<void> };
    let client: EsdbClientAdapter;
    let projector: RunningProjector;
    let server: Server;
    let baseUrl: string;
    const registry = new Registry();
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino(
      { level: 'info' },
      { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    const logged = (msg: string) => lines.filter((line) => line.msg === msg);
    const ready = async () => {
      const response = await fetch(`${baseUrl}/health/ready`);
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      return { status: response.status, body: (await response.json()) as Record<string, any> };
    };

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'projector-blocked-es-'));
      store = await startEmbeddedEventStore({ port: 0, dataDir: dir, silent: true });
      client = EsdbClientAdapter.connect(store.connectionString);
      projector = await startProjector({
        connectionString: store.connectionString,
        ...database.options(),
        logger,
        registry,
        batchDelayMs: 10,
        stallAfterMs: STALL_AFTER_MS,
        slowCommitMs: SLOW_COMMIT_MS,
        // No heartbeat in the way: on SQLite it would wait on the lock too, before the batch does.
        lockHeartbeatMs: 60_000,
      });
      server = projectorHttpServer(projector, registry).listen(0, '127.0.0.1');
      await new Promise((done) => server.once('listening', done));
      baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      server?.close();
      await projector?.stop();
      await client?.close();
      await store?.close();
      rmSync(dir, { recursive: true, force: true });
      await database.drop();
    });

    it('is stalled, not caught up and logged once while it waits; nothing fails; quick again after', async () => {
      const first = await appendHistories(client, workload(5));
      expect(await projector.waitForPosition(first, 20_000)).toBe(true);
      await until('caught up', async () => (await scrape(registry)).projector_caught_up === 1);

      const lock = await holdLock(database);
      let waiting: bigint;
      try {
        waiting = await appendHistories(client, workload(3, 5));
        if (database.name === 'postgres') {
          // The commit waits asynchronously: the projector answers, and says it is stalled.
          const stalled = await until('stalled while the commit waits', async () => {
            const values = await scrape(registry);
            const stuck =
              values.projector_caught_up === 0 &&
              values.projector_last_commit_age_seconds! >= STALL_AFTER_MS / 1000;
            return stuck && values;
          });
          expect(stalled).toMatchObject({ projector_leader: 1 });
          expect(stalled.projector_lag_events).toBeGreaterThan(0);
          expect(failures(stalled)).toBe(0);
          const notReady = await ready();
          expect(notReady).toMatchObject({ status: 503, body: { status: 'stalled', caughtUp: false } });
          expect(notReady.body.failure).toBeUndefined();
          await sleep(500);
          const later = await scrape(registry);
          expect(later.projector_last_commit_age_seconds).toBeGreaterThan(
            stalled.projector_last_commit_age_seconds!,
          );
          expect(later.projector_caught_up).toBe(0);
          // Logged while it waits, once.
          expect(logged(SLOW)).toEqual([expect.objectContaining({ level: 40, outcome: 'waiting' })]);
        }
      } finally {
        await lock.release();
      }
      await lock.released;

      expect(await projector.waitForPosition(waiting, 20_000)).toBe(true);
      const recovered = await until('caught up again', async () => {
        const values = await scrape(registry);
        return values.projector_caught_up === 1 && values;
      });
      expect(recovered.projector_lag_events).toBe(0);
      expect(recovered.projector_last_commit_age_seconds).toBeLessThan(2);
      // Waited, not failed. (On SQLite this needs the batch transaction to take the write lock with its first
      // statement: a deferred transaction that has read gets SQLITE_BUSY at once when it then writes, without
      // the busy wait.)
      expect(failures(recovered)).toBe(0);
      expect((await ready()).status).toBe(200);
      const slow = logged(SLOW);
      expect(slow).toEqual([
        expect.objectContaining({
          level: 40,
          outcome: database.name === 'postgres' ? 'waiting' : 'committed',
          slowCommitMs: SLOW_COMMIT_MS,
        }),
      ]);
      expect(slow[0]!.waitedMs).toBeGreaterThanOrEqual(SLOW_COMMIT_MS);

      // The next batch commits quickly: said once, with how long the slow spell lasted.
      const next = await appendHistories(client, workload(2, 8));
      expect(await projector.waitForPosition(next, 20_000)).toBe(true);
      const quick = await until('the quick-again line', async () => {
        const found = logged(QUICK);
        return found.length > 0 && found;
      });
      expect(quick).toEqual([expect.objectContaining({ level: 30, slowBatches: 1 })]);
      expect(quick[0]!.longestMs).toBeGreaterThanOrEqual(SLOW_COMMIT_MS);
      expect(logged(SLOW)).toHaveLength(1);
      expect(lines.filter((line) => (line.level as number) >= 50)).toEqual([]);
    });
  },
);
