/**
 * Crash safety: with > 10 000 events in the store, the projector (a child process, as in production) is
 * killed with SIGKILL at random moments of its catch-up, at least 5 times; after the last restart every
 * read model must equal a from-scratch projection of the same log, row for row. Then SIGTERM must commit
 * and exit cleanly. Runs on SQLite and on PostgreSQL.
 */
import { EsdbClientAdapter } from '@session-engine/event-store';
import {
  dumpReadModels,
  openReadModelDatabase,
  ReadModelQueries,
  type ReadModelDatabase,
} from '@session-engine/read-models';
import {
  postgresTestDatabase,
  sqliteTestDatabase,
  type TestDatabase,
} from '@session-engine/read-models/testing/test-databases';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { startEmbeddedEventStore, type EmbeddedEventStore } from '../apps/eventstore-embedded/src';
import { startProjector } from '../apps/projector/src/projector';
import { appendHistories } from '../apps/projector/src/testing/store-fixtures';
import { workload } from '../apps/projector/src/testing/workload';

jest.setTimeout(120_000);
// × 4.5 = 27 000 events in batches of 25: each of the five runs is killed within its share of the catch-up.
const SESSIONS = 6000;
const KILLS = 5;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.each([sqliteTestDatabase(), postgresTestDatabase()])(
  'projector killed during catch-up on $name',
  (database: TestDatabase) => {
    let storeDir: string;
    let store: EmbeddedEventStore;
    let last: bigint;
    let events = 0;

    const spawnProjector = (): ChildProcess => {
      const options = database.options();
      return spawn(process.execPath, ['-r', './tools/register.js', 'apps/projector/src/main.ts'], {
        cwd: join(__dirname, '..'),
        stdio: ['ignore', 'ignore', 'inherit'],
        env: {
          ...process.env,
          EVENTSTORE_CONNECTION_STRING: store.connectionString,
          DATA_DIR: options.dataDir,
          DATABASE_URL: options.databaseUrl ?? '',
          READ_MODEL_SCHEMA: options.schema ?? '',
          PROJECTOR_METRICS_PORT: '0',
          // Small batches make the catch-up last long enough to be interrupted many times.
          PROJECTOR_BATCH_SIZE: '25',
          LOG_LEVEL: 'error',
        },
      });
    };
    /** Projector processes this suite started: any still running when a test ends is killed (jest would not exit). */
    const children = new Set<ChildProcess>();
    const exited = (child: ChildProcess) =>
      new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once('exit', (code, signal) => resolve({ code, signal })),
      );
    const start = () => {
      const child = spawnProjector();
      children.add(child);
      return { child, exit: exited(child) };
    };
    /** Polls the read models until `done`; fails if the projector exits first or after `timeoutMs`. */
    const until = async (
      what: string,
      done: (position: bigint) => boolean,
      exit: Promise<unknown>,
      pollMs: number,
      timeoutMs = 60_000,
    ) => {
      let ended = false;
      void exit.then(() => (ended = true));
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (done(await processed())) return;
        if (ended) throw new Error(`the projector exited before ${what}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(pollMs);
      }
    };
    // One connection for the polls (every 5 ms): opening the read models for each one ran the migrations' check,
    // and on PostgreSQL a new pool and its lock, beside the projector it waits for — minutes on a busy machine.
    let reader: ReadModelDatabase | undefined;
    const processed = async (): Promise<bigint> => {
      reader ??= await openReadModelDatabase(database.options()).catch(() => undefined);
      if (!reader) return 0n;
      try {
        return await new ReadModelQueries(reader.db).processedPosition();
      } catch {
        return 0n;
      }
    };

    beforeAll(async () => {
      storeDir = mkdtempSync(join(tmpdir(), 'crash-es-'));
      store = await startEmbeddedEventStore({
        port: 0,
        dataDir: storeDir,
        silent: true,
        synchronous: 'NORMAL',
      });
      const client = EsdbClientAdapter.connect(store.connectionString);
      const histories = workload(SESSIONS);
      events = histories.reduce((n, h) => n + h.events.length, 0);
      last = 0n;
      for (let i = 0; i < histories.length; i += 100) {
        const positions = await Promise.all(
          Array.from({ length: 4 }, (_, j) =>
            appendHistories(client, histories.slice(i + j * 25, i + (j + 1) * 25)),
          ),
        );
        for (const p of positions) if (p > last) last = p;
      }
      await client.close();
    });
    afterEach(async () => {
      for (const child of children) {
        if (child.exitCode !== null || child.signalCode !== null) continue;
        const exit = exited(child);
        child.kill('SIGKILL');
        await exit;
      }
      children.clear();
    });
    afterAll(async () => {
      await reader?.close();
      await store.close();
      rmSync(storeDir, { recursive: true, force: true });
      await database.drop();
    });

    it('ends with read models equal to a from-scratch projection after 5 SIGKILLs during catch-up', async () => {
      expect(events).toBeGreaterThanOrEqual(10_000);
      const seen: bigint[] = [];
      for (let kill = 0; kill < KILLS; kill++) {
        const { child, exit } = start();
        const before = await processed();
        // A run that caught up entirely would leave the next one nothing to commit: say so instead of waiting.
        if (before >= last) throw new Error(`catch-up ended before kill ${kill + 1}: the log is too short`);
        // Kill it at a random point of its share of what is left (a position, not a time: on any machine
        // speed each run commits something and leaves the next runs their share), once it has committed.
        const share = (last - before) / BigInt(KILLS - kill + 1);
        const target = before + 1n + BigInt(Math.floor(Math.random() * Number(share)));
        await until(`run ${kill + 1} to commit past ${target}`, (p) => p !== before && p >= target, exit, 5);
        child.kill('SIGKILL');
        expect((await exit).signal).toBe('SIGKILL');
        seen.push(await processed());
      }
      // Every kill happened during catch-up, and every run made progress.
      expect(seen[seen.length - 1]).toBeLessThan(last);
      for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1]);

      const { child, exit } = start();
      await until('the last run to catch up', (position) => position >= last, exit, 50);
      child.kill('SIGTERM');
      expect(await exit).toEqual({ code: 0, signal: null });

      const scratchDir = mkdtempSync(join(tmpdir(), 'crash-scratch-'));
      const scratch = await startProjector({
        connectionString: store.connectionString,
        dataDir: scratchDir,
        logger: pino({ level: 'silent' }),
        registry: new Registry(),
      });
      try {
        expect(await scratch.waitForPosition(last, 60_000)).toBe(true);
        const [live, fresh] = await Promise.all([
          openReadModelDatabase(database.options()),
          openReadModelDatabase({ dataDir: scratchDir }),
        ]);
        const [liveRows, freshRows] = await Promise.all([dumpReadModels(live.db), dumpReadModels(fresh.db)]);
        await Promise.all([live.close(), fresh.close()]);
        expect(liveRows.sessions.length).toBe(SESSIONS);
        for (const table of Object.keys(freshRows))
          expect({ table, rows: liveRows[table] }).toEqual({ table, rows: freshRows[table] });
      } finally {
        await scratch.stop();
        rmSync(scratchDir, { recursive: true, force: true });
      }
    });
  },
);
