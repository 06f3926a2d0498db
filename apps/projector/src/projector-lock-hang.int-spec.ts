/**
 * The PostgreSQL projector lock while the database hangs — its process stopped, or the network dropping the
 * holder's packets: nothing answers and nothing fails. A relay between the holder and the server plays the hang
 * (`startHangingRelay`). The holder's probe goes unanswered, so it gives the lock up and goes back to standby;
 * another projector takes over once the server has ended the holder's lock connection; and the batch the holder
 * had in flight when the database hung does not commit when the database answers again.
 */
import { EsdbClientAdapter } from '@session-engine/event-store';
import { advisoryLockKey } from '@session-engine/read-models';
import { postgresTestDatabase } from '@session-engine/read-models/testing/test-databases';
import { capturedLogger, startHangingRelay, type HangingRelay } from '@session-engine/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import pino from 'pino';
import { Registry } from 'prom-client';
import { type ProjectorOptions, type RunningProjector, startProjector } from './projector';
import { readiness } from './projector-http';
import { appendHistories, startEmbeddedEventStore } from './testing/store-fixtures';
import { workload } from './testing/workload';

jest.setTimeout(120_000);

/** Far beyond every bound here: a condition still false then will not come true. */
const GENEROUS_MS = 30_000;

const until = async (condition: () => boolean | Promise<boolean>) => {
  const deadline = Date.now() + GENEROUS_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

const metric = async (registry: Registry, name: string): Promise<number> => {
  const text = await registry.getSingleMetricAsString(name);
  return Number(/ (\d+(?:\.\d+)?)$/m.exec(text)?.[1]);
};

describe('the PostgreSQL projector lock while the database hangs', () => {
  const database = postgresTestDatabase();
  const options = database.options();
  const server = new URL(options.databaseUrl!);
  let storeDir: string;
  let store: { connectionString: string; close(): Promise<void> };
  let client: EsdbClientAdapter;
  let relay: HangingRelay;
  const started: RunningProjector[] = [];

  beforeAll(async () => {
    storeDir = mkdtempSync(join(tmpdir(), 'lock-hang-es-'));
    store = await startEmbeddedEventStore({
      port: 0,
      dataDir: storeDir,
      silent: true,
      synchronous: 'NORMAL',
    });
    client = EsdbClientAdapter.connect(store.connectionString);
    relay = await startHangingRelay(Number(server.port || 5432), server.hostname);
  });

  afterAll(async () => {
    relay.resume();
    for (const projector of started) await projector.stop().catch(() => undefined);
    await relay.close();
    await client.close();
    await store.close();
    rmSync(storeDir, { recursive: true, force: true });
    await database.drop();
  });

  it('gives the lock up after an unanswered probe, and commits nothing more once another projector took over', async () => {
    const lines: { msg: string; level: number; err?: unknown; error?: { message?: string } }[] = [];
    const logger = pino(
      { level: 'info' },
      { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) },
    );
    const viaRelay = new URL(options.databaseUrl!);
    viaRelay.hostname = '127.0.0.1';
    viaRelay.port = String(relay.port);
    const registry = new Registry();
    const holder = await startProjector({
      connectionString: store.connectionString,
      databaseUrl: viaRelay.toString(),
      schema: options.schema,
      dataDir: options.dataDir,
      logger,
      registry,
      batchDelayMs: 10,
      standbyPollMs: 200,
      lockHeartbeatMs: 100,
      lockProbeTimeoutMs: 1_000,
    });
    started.push(holder);
    const first = await appendHistories(client, workload(40));
    expect(await holder.waitForPosition(first, GENEROUS_MS)).toBe(true);
    expect(await metric(registry, 'projector_leader')).toBe(1);

    relay.hang();
    // Events keep coming: the holder's next batch waits on the hung database.
    const last = await appendHistories(client, workload(20, 40));

    await until(() => !holder.isLeader());
    expect(await metric(registry, 'projector_leader')).toBe(0);
    const committedWhileLeader = await metric(registry, 'projector_batches_total');
    const lost = lines.find((line) => line.msg.startsWith('projector lost the read-model lock'));
    // At warn, the probe's message without a stack: the projector goes on to take the lock again.
    expect(lost).toMatchObject({ level: 40, error: { type: 'ProjectorLockLostError' } });
    expect(lost?.error?.message).toMatch(/did not answer a probe/);
    expect(lost?.err).toBeUndefined();

    // The server still holds the lock for the hung connection until it notices that connection is gone (its TCP
    // keep-alive, when the network drops packets); here an administrator ends it.
    const key = advisoryLockKey(options.schema!);
    const admin = new Client({ connectionString: options.databaseUrl });
    await admin.connect();
    try {
      await admin.query(
        `select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' and granted
           and classid = $1::bigint::oid and objid = $2::bigint::oid and objsubid = 1`,
        [Number((key >> 32n) & 0xffffffffn), Number(key & 0xffffffffn)],
      );
    } finally {
      await admin.end();
    }
    const successor = await startProjector({
      connectionString: store.connectionString,
      ...options,
      logger: pino({ level: 'silent' }),
      registry: new Registry(),
      batchDelayMs: 10,
      standbyPollMs: 200,
    });
    started.push(successor);
    expect(await successor.waitForPosition(last, GENEROUS_MS)).toBe(true);
    expect(successor.isLeader()).toBe(true);

    // The database answers the old holder again: its batch in flight rolls back, and it waits on standby.
    relay.resume();
    await until(() => lines.some((line) => line.msg.startsWith('projector on standby')));
    expect(holder.isLeader()).toBe(false);
    expect(await metric(registry, 'projector_batches_total')).toBe(committedWhileLeader);
  });

  /**
   * A projector on read models of its own (the first test's projectors hold the other schema's lock), reaching
   * PostgreSQL through a relay of its own, logging into `lines` (and `raw`, as written), with `extra` options.
   */
  const projectorViaRelay = async (extra: Partial<ProjectorOptions> = {}) => {
    const { logger, lines, raw } = capturedLogger();
    const relay = await startHangingRelay(Number(server.port || 5432), server.hostname);
    const viaRelay = new URL(options.databaseUrl!);
    viaRelay.hostname = '127.0.0.1';
    viaRelay.port = String(relay.port);
    const own = postgresTestDatabase();
    const registry = new Registry();
    const projector = await startProjector({
      connectionString: store.connectionString,
      databaseUrl: viaRelay.toString(),
      schema: own.options().schema,
      dataDir: own.options().dataDir,
      logger,
      registry,
      batchDelayMs: 10,
      standbyPollMs: 200,
      lockHeartbeatMs: 100,
      lockProbeTimeoutMs: 1_000,
      ...extra,
    });
    started.push(projector);
    const dispose = async () => {
      await projector.stop().catch(() => undefined);
      await relay.close();
      await own.drop();
    };
    return { lines, raw, relay, projector, registry, dispose };
  };

  it('while the database refuses connections: one warn line for the lock it cannot reach, no "standby" line', async () => {
    const { lines, relay: down, projector, dispose } = await projectorViaRelay();
    try {
      await until(() => projector.isLeader());
      await down.close(); // the database is gone: connections refused
      await until(() => !projector.isLeader());
      // Polling the lock every 200 ms meanwhile: one line says it cannot reach it, not one per poll; and none
      // says another projector holds it — nobody answered that.
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      expect(lines.filter((line) => line.msg.includes('reach the read-model lock'))).toEqual([
        expect.objectContaining({
          level: 40,
          msg: 'projector could not reach the read-model lock; retrying',
        }),
      ]);
      expect(lines.filter((line) => line.msg.startsWith('projector on standby'))).toEqual([]);
      // Nor does its /health/ready answer as a standby would: 503, the database it cannot reach, since when.
      const ready = readiness(projector);
      expect(ready).toMatchObject({
        status: 503,
        body: {
          status: 'unavailable',
          leader: false,
          failure: { kind: 'unavailable', streamId: '$all', eventType: 'none', events: 0 },
        },
      });
      expect((ready.body as { failure: { attempts: number } }).failure.attempts).toBeGreaterThan(3);
      // The database back: a leader again, ready.
      const relayed = await startHangingRelay(Number(server.port || 5432), server.hostname, down.port);
      try {
        await until(() => projector.isLeader());
        expect(readiness(projector)).toMatchObject({ status: 200, body: { status: 'ok', leader: true } });
        expect((readiness(projector).body as { failure?: unknown }).failure).toBeUndefined();
      } finally {
        await relayed.close();
      }
    } finally {
      await dispose();
    }
  });

  it('with a batch in flight when the database hangs: drops that batch, says it cannot reach the lock, and leads again', async () => {
    const { lines, relay: hanging, projector, registry, dispose } = await projectorViaRelay();
    try {
      await until(() => projector.isLeader());
      hanging.hang();
      // Events arrive: the next batch's statements wait on the hung database, and its lock probe goes unanswered.
      const last = await appendHistories(client, workload(5, 950));
      await until(() => !projector.isLeader());
      // Not left waiting on the batch's connection (on a link that died without a word, minutes): that
      // connection is closed, and the projector goes on to retake the lock, which it cannot reach — and says so,
      // where it used to answer /health/ready as a standby in good health.
      await until(() =>
        lines.some((line) => line.msg === 'projector could not reach the read-model lock; retrying'),
      );
      expect(readiness(projector)).toMatchObject({
        status: 503,
        body: { status: 'unavailable', leader: false },
      });
      hanging.resume();
      expect(await projector.waitForPosition(last, GENEROUS_MS)).toBe(true);
      expect(projector.isLeader()).toBe(true);
      // Its subscription started again after the lock was lost: counted as a reconnect.
      expect(await metric(registry, 'projector_reconnects_total')).toBeGreaterThanOrEqual(1);
    } finally {
      await dispose();
    }
  });

  it('keeps the time of its last commit when it takes its own lock back after the database cut the connection', async () => {
    const { lines, relay: cutting, projector, dispose } = await projectorViaRelay();
    try {
      const position = await appendHistories(client, workload(1, 900));
      await until(() => projector.isLeader());
      await until(async () => (await projector.waitForPosition(position, 100)) || false);
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      const before = projector.status().lastCommitAgeMs!;
      expect(before).toBeGreaterThanOrEqual(2_000);
      cutting.drop(); // the database ends every connection: the lock is lost, and taken again on a new one
      await until(
        () => lines.filter((line) => line.msg === 'projector holds the read-model lock').length === 2,
      );
      expect(projector.isLeader()).toBe(true);
      expect(projector.status().lastCommitAgeMs!).toBeGreaterThanOrEqual(before);
    } finally {
      await dispose();
    }
  });

  it('after blips of the database (every connection ended): one warn line for the loss, no stack, no error line', async () => {
    const { lines, raw, relay: cutting, projector, registry, dispose } = await projectorViaRelay();
    const holds = () => lines.filter((line) => line.msg === 'projector holds the read-model lock').length;
    try {
      await until(() => projector.isLeader());
      for (let blip = 1; blip <= 2; blip += 1) {
        cutting.drop(); // the database restarts, or the link drops: the lock is lost and taken again
        await until(() => holds() === blip + 1);
      }
      expect(projector.isLeader()).toBe(true);
      expect(await metric(registry, 'projector_reconnects_total')).toBeGreaterThanOrEqual(2);
      // The second loss, within a minute of the first, is at debug: one warn line for both.
      const lost = lines.filter((line) => line.msg.startsWith('projector lost the read-model lock'));
      expect(lost).toEqual([
        expect.objectContaining({
          level: 40,
          msg: 'projector lost the read-model lock; dropping the batch in hand and taking the lock again',
          error: expect.objectContaining({ message: expect.any(String) }),
          suppressed: 0,
        }),
      ]);
      expect(lines.filter((line) => line.level >= 50)).toEqual([]);
      expect(raw.join('')).not.toContain('"stack"');
      // Nobody else holds the lock: no standby line, and no "leads again" (no error line to close).
      expect(lines.filter((line) => line.msg.startsWith('projector on standby'))).toEqual([]);
      expect(lines.filter((line) => line.msg.startsWith('projector leads again'))).toEqual([]);
    } finally {
      await dispose();
    }
  });

  it('without the lock for the stall window: one error line saying for how long, one info line when it leads again', async () => {
    const stallAfterMs = 2_000;
    const { lines, raw, relay: hanging, projector, dispose } = await projectorViaRelay({ stallAfterMs });
    try {
      await until(() => projector.isLeader());
      hanging.hang(); // the lock's probe goes unanswered (1 s), and so do its attempts to take it again
      await until(() => !projector.isLeader());
      await until(() => lines.some((line) => line.level === 50));
      // Well past the window: still the one error line, not one per poll or per window.
      await new Promise((resolve) => setTimeout(resolve, 2 * stallAfterMs));
      const errors = lines.filter((line) => line.level >= 50);
      expect(errors).toEqual([
        expect.objectContaining({
          msg: 'projector has not taken the read-model lock back within the stall window; retrying',
          stallAfterMs,
          error: expect.objectContaining({ type: 'ProjectorLockLostError' }),
        }),
      ]);
      expect(errors[0]!.withoutLockForMs).toBeGreaterThanOrEqual(stallAfterMs);
      expect(errors[0]!.withoutLockForMs).toBeLessThan(stallAfterMs + 1_000);
      // Its polls say why, once, without a stack either.
      expect(lines.filter((line) => line.msg.includes('reach the read-model lock'))).toEqual([
        expect.objectContaining({
          level: 40,
          msg: 'projector could not reach the read-model lock; retrying',
        }),
      ]);

      hanging.resume();
      await until(() => projector.isLeader());
      await until(() => lines.some((line) => line.msg.startsWith('projector leads again')));
      const again = lines.filter((line) => line.msg.startsWith('projector leads again'));
      expect(again).toEqual([
        expect.objectContaining({
          level: 30,
          msg: 'projector leads again: it took the read-model lock back',
        }),
      ]);
      expect(again[0]!.withoutLockForMs).toBeGreaterThanOrEqual(3 * stallAfterMs);
      expect(lines.filter((line) => line.level >= 50)).toHaveLength(1);
      expect(raw.join('')).not.toContain('"stack"');
    } finally {
      await dispose();
    }
  });
});
