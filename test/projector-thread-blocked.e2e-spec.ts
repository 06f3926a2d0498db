/**
 * The projector of `npm start` in its worker thread, on a SQLite read-model file another process holds
 * write-locked (here: this test's own connection, `BEGIN IMMEDIATE`). better-sqlite3 is synchronous, so the
 * worker sits in SQLite's busy wait and answers nothing; the API's /metrics must stay truthful all the same:
 * the time since the last commit keeps growing at every scrape (computed in the API from the worker's last
 * commit time, not copied from its last answer), `projector_report_age_seconds` shows how long the worker has
 * been silent, and with events waiting `projector_caught_up` turns 0 once the stall window (1 s here) passed.
 * Once the lock is released the worker commits: caught up again, the ages fall back, the events are there.
 */
import type { INestApplication } from '@nestjs/common';
import { EsdbClientAdapter } from '@session-engine/event-store';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { startEmbeddedEventStore, type EmbeddedEventStore } from '../apps/eventstore-embedded/src';
import { projectorThreadService } from '../apps/projector/src/projector-thread';
import { createSessionApi } from '../apps/session-api/src/app.factory';
import { ApiKeys } from '../apps/session-api/src/config/api-keys.provider';
import { parseConfig, type AppConfig } from '../apps/session-api/src/config/config';
import { MetricsService } from '../apps/session-api/src/operations/metrics.service';

jest.setTimeout(90_000);

const INTEGRATION_KEY = 'int-key-app1-0001';
const MANAGEMENT_KEY = 'mgmt-key-all-0001';
const STALL_AFTER_MS = 1_000;
/** Longer than SQLite's busy timeout (5 s): the worker's waits end in SQLITE_BUSY and start again. */
const HOLD_MS = 7_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Sample {
  /** When the scrape was sent (the gauges are computed after that). */
  sentAt: number;
  values: Record<string, number>;
}

describe('projector thread blocked on a locked SQLite read-model file: the API /metrics', () => {
  let dataDir: string;
  let config: AppConfig;
  let store: EmbeddedEventStore;
  let adapter: EsdbClientAdapter;
  let app: INestApplication;
  let metrics: MetricsService;
  let baseUrl: string;
  let sessions = 0;

  const put = async (): Promise<{ id: string; position: bigint }> => {
    const id = `Blocked-${++sessions}`;
    const response = await fetch(`${baseUrl}/v2/customer_sessions/${id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `ApiKey-v1 ${INTEGRATION_KEY}` },
      body: JSON.stringify({ customerSession: { cartItems: [{ sku: 'A', quantity: 2, price: 1.5 }] } }),
    });
    expect(response.status).toBe(200);
    return { id, position: BigInt(response.headers.get('x-event-position')!) };
  };
  const sessionsAt = async (position: bigint) => {
    const response = await fetch(
      `${baseUrl}/v1/applications/1/sessions?minPosition=${position}&pageSize=50`,
      { headers: { authorization: `ManagementKey-v1 ${MANAGEMENT_KEY}` } },
    );
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return { status: response.status, body: (await response.json()) as any };
  };
  const scrape = async (): Promise<Sample> => {
    const sentAt = Date.now();
    const text = await (await fetch(`${baseUrl}/metrics`)).text();
    const values: Record<string, number> = {};
    for (const match of text.matchAll(/^(projector_\w+) (\S+)$/gm)) values[match[1]!] = Number(match[2]);
    return { sentAt, values };
  };
  const eventually = async (what: string, check: (sample: Sample) => boolean): Promise<Sample> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const sample = await scrape();
      if (check(sample)) return sample;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(sample)}`);
      await sleep(100);
    }
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'projector-blocked-e2e-'));
    config = parseConfig({
      PORT: '0',
      DATA_DIR: dataDir,
      INTEGRATION_API_KEYS: `${INTEGRATION_KEY}=1`,
      MANAGEMENT_API_KEYS: `${MANAGEMENT_KEY}=*`,
      LOG_LEVEL: 'silent',
    });
    store = await startEmbeddedEventStore({ port: 0, dataDir: join(dataDir, 'eventstore'), silent: true });
    adapter = EsdbClientAdapter.connect(store.connectionString);
    metrics = new MetricsService();
    app = await createSessionApi({
      config,
      keys: new ApiKeys(config.integrationKeys!, config.managementKeys!),
      store: adapter,
      logger: pino({ level: 'silent' }),
      metrics,
    });
    await app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await app?.close();
    await adapter?.close();
    await store?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps the ages growing and stops claiming caught up while the worker is blocked; recovers after', async () => {
    const projector = projectorThreadService({
      config,
      connectionString: store.connectionString,
      logger: pino({ level: 'silent' }),
      registry: metrics.registry,
      projector: { batchDelayMs: 10, stallAfterMs: STALL_AFTER_MS },
    });
    await projector.start();
    // This test's connection to the read-model file: never blocks this thread (the API runs on it).
    const sqlite = new Database(join(dataDir, 'read-models.sqlite'));
    sqlite.pragma('busy_timeout = 0');
    try {
      const first = await put();
      expect((await sessionsAt(first.position)).status).toBe(200);
      const before = await eventually(
        'caught up',
        ({ values }) => values.projector_caught_up === 1 && values.projector_lag_events === 0,
      );
      expect(before.values.projector_leader).toBe(1);
      expect(before.values.projector_report_age_seconds).toBeLessThan(1);

      // Hold the write lock (retrying while a worker commit or heartbeat has it for a moment).
      for (;;) {
        try {
          sqlite.exec('begin immediate');
          break;
        } catch (error) {
          if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
          await sleep(5);
        }
      }
      const lockedAt = Date.now();
      // The worker's last commit happened before this instant (nothing can commit after it).
      const written = [await put(), await put()];
      const writtenAt = Date.now();

      const samples: Sample[] = [];
      while (Date.now() - lockedAt < HOLD_MS) {
        samples.push(await scrape());
        await sleep(200);
      }
      sqlite.exec('rollback');

      // Every scrape: the commit age is at least the time since the lock was taken — computed when scraped,
      // it cannot fall behind while the worker is silent (an age copied from its last answer would).
      const behind = samples
        .map(({ sentAt, values }) => ({
          lockedFor: (sentAt - lockedAt) / 1000,
          commitAge: values.projector_last_commit_age_seconds!,
        }))
        .filter(({ lockedFor, commitAge }) => !(commitAge >= lockedFor - 0.25));
      expect(behind).toEqual([]);
      if (process.env.DEBUG_SAMPLES)
        for (const { sentAt, values } of samples)
          process.stderr.write(
            `${sentAt - lockedAt} commit=${values.projector_last_commit_age_seconds} report=${values.projector_report_age_seconds} caught=${values.projector_caught_up} lag=${values.projector_lag_events}\n`,
          );
      // The worker was silent for seconds at a time, and the report age said so.
      const silent = Math.max(...samples.map(({ values }) => values.projector_report_age_seconds!));
      expect(silent).toBeGreaterThanOrEqual(2);
      // Once events had waited for the stall window: not caught up, whatever the worker said last.
      const late = samples.filter(({ sentAt }) => sentAt - writtenAt > STALL_AFTER_MS + 1_000);
      expect(late.length).toBeGreaterThan(0);
      for (const { values } of late) expect(values.projector_caught_up).toBe(0);
      // The documented stall alert (with this test's window) fires: events waiting, no commit for the window.
      expect(
        late.some(
          ({ values }) =>
            values.projector_lag_events! > 0 &&
            values.projector_last_commit_age_seconds! > STALL_AFTER_MS / 1000,
        ),
      ).toBe(true);

      // Released: the worker commits, and every signal recovers.
      const after = await eventually(
        'caught up after the lock was released',
        ({ values }) =>
          values.projector_caught_up === 1 &&
          values.projector_lag_events === 0 &&
          values.projector_last_commit_age_seconds! < 2,
      );
      expect(after.values.projector_report_age_seconds).toBeLessThan(2);
      expect(after.values.projector_position).toBeGreaterThanOrEqual(Number(written[1]!.position));
      const reply = await sessionsAt(written[1]!.position);
      expect(reply.status).toBe(200);
      for (const { id } of written)
        expect(reply.body.data).toContainEqual(expect.objectContaining({ integrationId: id }));
    } finally {
      if (sqlite.inTransaction) sqlite.exec('rollback');
      sqlite.close();
      await projector.stop();
    }
  });
});
