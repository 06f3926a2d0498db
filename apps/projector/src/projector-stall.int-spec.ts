/**
 * A read-model write the database keeps refusing — here a trigger in the test schema that rejects one SKU
 * the way PostgreSQL rejects an index row that is too large or a \u0000 in JSON — must not leave the projector
 * looking healthy: the metrics show it behind (caught_up 0, growing lag, failures counted, the time since
 * the last commit), /health/ready of the standalone projector answers 503, the retries back off instead of
 * spinning, and the log names the event (stream and type, never the payload) once, not on every attempt.
 * Once the fault is gone the projector commits, catches up, and every event is projected exactly once. The
 * same metrics are mirrored onto the API's registry when the projector runs in its worker thread.
 */
import { SessionHistory } from '@session-engine/read-models/testing/session-history';
import {
  postgresTestDatabase,
  testDatabases,
  type TestDatabase,
} from '@session-engine/read-models/testing/test-databases';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { capturedLogger } from '@session-engine/testing';
import pino from 'pino';
import { Registry } from 'prom-client';
import { type RunningProjector, startProjector } from './projector';
import { projectorHttpServer } from './projector-http';
import { projectorThreadService } from './projector-thread';
import { appendHistories, suiteStore } from './testing/store-fixtures';
import { scrape, sleep, until } from './testing/probes';
import { dumpAt, projectedFromScratch } from './testing/from-scratch';
import { workload } from './testing/workload';

jest.setTimeout(120_000);
const REFUSED_SKU = 'POISON';
const REJECTED = 'projector_batch_failures_total{kind="rejected"}';

/** A session closed with one line of the refused SKU: its SessionClosed writes the `sku_analytics` row. */
function refusedSession(integrationId: string, sessionId: number): SessionHistory {
  const at = '2025-05-03T10:00:00.000Z';
  return new SessionHistory(2, integrationId, sessionId)
    .created(at, { cartItems: [{ sku: REFUSED_SKU, quantity: 1, price: '4.00' }] })
    .closed(at, '', '4', [{ position: 0, sku: REFUSED_SKU, quantity: 1, value: '4' }]);
}

interface Fault {
  /** What the database's error carries as `code`. */
  code: string;
  remove(): Promise<void>;
}

/**
 * The fault: the database refuses any `sku_analytics` row of the refused SKU until it is removed — on
 * PostgreSQL with SQLSTATE 54000 (what "index row size exceeds maximum" carries), on SQLite with a trigger's
 * RAISE(ABORT).
 */
async function refuseSku(database: TestDatabase): Promise<Fault> {
  await (await database.open()).close(); // creates the schema and its tables
  const { schema, databaseUrl, dataDir } = database.options();
  if (database.name === 'sqlite') {
    const sqlite = new Database(join(dataDir, 'read-models.sqlite'));
    sqlite.pragma('busy_timeout = 0'); // never block this thread, where the projector runs too
    for (const event of ['insert', 'update'])
      sqlite.exec(`create trigger refuse_sku_${event} before ${event} on sku_analytics
        when new.sku = '${REFUSED_SKU}' begin select raise(abort, 'refused by a test trigger'); end`);
    return {
      code: 'SQLITE_CONSTRAINT_TRIGGER',
      async remove() {
        for (;;) {
          try {
            sqlite.exec('drop trigger refuse_sku_insert; drop trigger refuse_sku_update');
            break;
          } catch (error) {
            if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
            await sleep(5);
          }
        }
        sqlite.close();
      },
    };
  }
  // A connection per statement: none is left open (keeping jest from exiting) when a test fails before remove().
  const run = async (sql: string) => {
    const pg = new Client({ connectionString: databaseUrl });
    await pg.connect();
    try {
      await pg.query(sql);
    } finally {
      await pg.end();
    }
  };
  await run(`
    create function ${schema}.refuse_sku() returns trigger language plpgsql as $$
    begin
      raise exception 'index row size 3016 exceeds btree version 4 maximum 2704 (test trigger)'
        using errcode = 'program_limit_exceeded';
    end $$;
    create trigger refuse_sku before insert or update on ${schema}.sku_analytics
      for each row when (new.sku = '${REFUSED_SKU}') execute function ${schema}.refuse_sku();`);
  return {
    code: '54000',
    async remove() {
      await run(`drop trigger refuse_sku on ${schema}.sku_analytics`);
    },
  };
}

/** An embedded event store of the suite's own (exact counts), and what was appended to it. */
function ownStore() {
  const state = Object.assign(suiteStore('projector-stall-es-'), {
    appended: 0,
    last: 0n,
    databases: [] as TestDatabase[],
    async append(histories: SessionHistory[]): Promise<bigint> {
      state.last = await appendHistories(state.client, histories);
      state.appended += histories.reduce((n, h) => n + h.events.length, 0);
      return state.last;
    },
  });
  afterAll(async () => {
    for (const database of state.databases) await database.drop();
  });
  return state;
}

describe.each(testDatabases())(
  'a batch the read-model database keeps refusing: the standalone projector on $name',
  (database: TestDatabase) => {
    const log = ownStore();
    log.databases.push(database);
    const registry = new Registry();
    const { logger, lines, raw } = capturedLogger();
    let projector: RunningProjector;
    let server: Server;
    let baseUrl: string;
    let fault: Fault;
    const ready = async () => {
      const response = await fetch(`${baseUrl}/health/ready`);
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      return { status: response.status, body: (await response.json()) as Record<string, any> };
    };
    const failureLines = () =>
      lines.filter((l) => l.level === 50 && /^projector (batch|cannot)/.test(String(l.msg)));

    beforeAll(async () => {
      fault = await refuseSku(database);
      projector = await startProjector({
        connectionString: log.store.connectionString,
        ...database.options(),
        logger,
        registry,
        batchDelayMs: 10,
        stallAfterMs: 1_000,
      });
      server = projectorHttpServer(projector, registry).listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      server?.close();
      await projector?.stop();
    });

    it('is caught up and ready while the writes succeed', async () => {
      const position = await log.append(workload(20));
      expect(await projector.waitForPosition(position, 20_000)).toBe(true);
      const values = await until('caught up', async () => {
        const v = await scrape(registry);
        return v.projector_caught_up === 1 && v;
      });
      expect(values).toMatchObject({ projector_lag_events: 0, [REJECTED]: 0 });
      expect(await ready()).toMatchObject({
        status: 200,
        body: { status: 'ok', leader: true, caughtUp: true },
      });
    });

    it('shows a refused batch: not caught up, failures counted, lag and commit age growing, not ready; retries back off', async () => {
      const before = projector.position();
      const refused = refusedSession('refused-1', 9_001);
      const attemptsAt0 = (await scrape(registry))[REJECTED]!;
      await log.append([refused]);
      // When each failed attempt was counted (seen within a poll of 25 ms). Not attempts per fixed window:
      // how many fall into one depends on where the doubling waits happen to start, and on the machine.
      const seen: number[] = [];
      await until('seven failed attempts', async () => {
        const attempts = (await scrape(registry))[REJECTED]! - attemptsAt0;
        while (seen.length < attempts) seen.push(Date.now());
        return attempts >= 7 && attempts;
      });
      // The waits grow (100 ms doubling, half of it jitter; the batch of two is narrowed first, and that
      // commit starts the doubling again): the one before the seventh attempt is 800 ms at the very least.
      // The old loop retried at a steady ~7 a second.
      const gaps = seen.slice(1, 7).map((at, i) => at - seen[i]!);
      expect(gaps[5]).toBeGreaterThanOrEqual(400);
      expect(gaps[5]).toBeGreaterThan(gaps[1]!);

      // Narrowed down to the event the database refuses; the one before it (SessionCreated) is committed.
      const status = projector.status();
      expect(status.failure).toMatchObject({
        kind: 'rejected',
        streamId: refused.streamId,
        eventType: 'SessionClosed',
        events: 1,
      });
      expect(status.position).toBeGreaterThan(before);
      expect(status.position).toBeLessThan(status.failure!.position);

      const stalled = await scrape(registry);
      expect(stalled).toMatchObject({
        projector_caught_up: 0,
        projector_lag_events: 1,
        projector_head_position: Number(log.last),
        projector_position: Number(status.position),
        projector_leader: 1,
      });
      expect(stalled.projector_lag_seconds).toBeGreaterThan(0);
      expect(stalled.projector_last_commit_age_seconds).toBeGreaterThanOrEqual(1);
      expect(stalled.projector_events_total).toBe(log.appended - 1);

      // More traffic while it is stuck: the retries read it, and every event after the checkpoint counts
      // once however often it is read again. Nothing commits.
      await log.append(workload(4, 20));
      const grown = await until('the lag to grow', async () => {
        const v = await scrape(registry);
        return v.projector_lag_events === log.appended - stalled.projector_events_total! && v;
      });
      expect(grown).toMatchObject({
        projector_caught_up: 0,
        projector_head_position: Number(log.last),
        projector_position: Number(status.position),
        projector_events_total: stalled.projector_events_total,
      });
      expect(grown.projector_last_commit_age_seconds).toBeGreaterThan(
        stalled.projector_last_commit_age_seconds!,
      );

      const notReady = await ready();
      expect(notReady.status).toBe(503);
      expect(notReady.body).toMatchObject({
        status: 'stalled',
        leader: true,
        caughtUp: false,
        position: status.position.toString(),
        failure: {
          kind: 'rejected',
          streamId: refused.streamId,
          eventType: 'SessionClosed',
          position: status.failure!.position.toString(),
          events: 1,
        },
      });

      // Logged at error on the first failure and once narrowed down to the event, not on every attempt;
      // position, stream and type are there, the payload is not.
      const logged = failureLines();
      expect(logged.length).toBeGreaterThanOrEqual(1);
      expect(logged.length).toBeLessThanOrEqual(2);
      expect(logged[0]).toMatchObject({ attempt: 1, kind: 'rejected', streamId: refused.streamId });
      expect(logged[logged.length - 1]).toMatchObject({
        msg: 'projector cannot commit this event; retrying',
        kind: 'rejected',
        streamId: refused.streamId,
        eventType: 'SessionClosed',
        position: status.failure!.position.toString(),
        events: 1,
        error: expect.objectContaining({ code: fault.code, type: expect.stringMatching(/Error$/) }),
      });
      expect((await scrape(registry))[REJECTED]).toBeGreaterThan(logged.length + 2);
      expect(raw.join('\n')).not.toContain(REFUSED_SKU);
    });

    it('commits once the fault is gone: caught up, no lag, ready, every event projected exactly once', async () => {
      const failures = (await scrape(registry))[REJECTED]!;
      await fault.remove();
      expect(await projector.waitForPosition(log.last, 60_000)).toBe(true);
      const values = await until('caught up again', async () => {
        const v = await scrape(registry);
        return v.projector_caught_up === 1 && v;
      });
      expect(values).toMatchObject({
        projector_lag_events: 0,
        projector_lag_seconds: 0,
        projector_position: Number(log.last),
        projector_head_position: Number(log.last),
        projector_events_total: log.appended,
      });
      // An attempt already under way when the fault went away may still fail once; none after it.
      expect(values[REJECTED]).toBeGreaterThanOrEqual(failures);
      expect(values[REJECTED]).toBeLessThanOrEqual(failures + 1);
      expect((await scrape(registry))[REJECTED]).toBe(values[REJECTED]);
      expect(values.projector_last_commit_age_seconds).toBeLessThan(5);
      expect(projector.status().failure).toBeUndefined();
      const isReady = await ready();
      expect(isReady).toMatchObject({ status: 200, body: { status: 'ok', caughtUp: true } });
      expect(isReady.body.failure).toBeUndefined();
      expect(lines.map((l) => l.msg)).toContain(
        'projector committed past the batch that failed; projecting again',
      );
      const projected = await dumpAt(database.options());
      expect(projected).toEqual(await projectedFromScratch(database, log.store.connectionString, log.last));
      expect(JSON.stringify(projected)).toContain(REFUSED_SKU);
    });
  },
);

describe('a batch the read-model database keeps refusing: the projector thread of the API (postgres)', () => {
  const log = ownStore();

  it('mirrors the same signals onto the API registry', async () => {
    const database = postgresTestDatabase();
    log.databases.push(database);
    const fault = await refuseSku(database);
    const apiRegistry = new Registry();
    const dataDir = mkdtempSync(join(tmpdir(), 'projector-stall-thread-'));
    const service = projectorThreadService({
      config: { databaseUrl: database.options().databaseUrl, dataDir, logLevel: 'silent' },
      connectionString: log.store.connectionString,
      logger: pino({ level: 'silent' }),
      registry: apiRegistry,
      projector: { schema: database.options().schema, batchDelayMs: 10 },
    });
    await service.start();
    try {
      await log.append(workload(10));
      await log.append([refusedSession('refused-2', 9_002)]);
      // Failing batches are retried in halves: the refused event is alone after a few failures, however
      // the events happened to be batched, and from then on only it is behind.
      const stuck = await until('the refused event alone, failing, on the API registry', async () => {
        const v = await scrape(apiRegistry);
        return v[REJECTED]! >= 2 && v.projector_lag_events === 1 && v;
      });
      expect(stuck).toMatchObject({
        projector_caught_up: 0,
        projector_lag_events: 1,
        projector_head_position: Number(log.last),
        projector_leader: 1,
        'projector_batch_failures_total{kind="unavailable"}': 0,
      });
      expect(stuck.projector_position).toBeLessThan(Number(log.last));
      expect(stuck).toHaveProperty('projector_last_commit_age_seconds');

      await fault.remove();
      const recovered = await until('caught up on the API registry', async () => {
        const v = await scrape(apiRegistry);
        return v.projector_caught_up === 1 && v;
      });
      expect(recovered).toMatchObject({
        projector_lag_events: 0,
        projector_position: Number(log.last),
        projector_events_total: log.appended,
      });
    } finally {
      await service.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
