/**
 * The settings an operator gives the projector reach it under `npm start` too, where the API reads the
 * environment and runs the projector in a worker thread: the worker's own report carries the stall window the
 * API was configured with (it decides `projector_caught_up` and when the API stops vouching for a silent
 * worker), and the worker batches its commits as PROJECTOR_BATCH_SIZE and PROJECTOR_BATCH_DELAY_MS say.
 */
import { EsdbClientAdapter } from '@session-engine/event-store';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import pino from 'pino';
import { parseConfig } from '../../session-api/src/config/config';
import {
  projectorThreadService,
  type ProjectorWorkerMessage,
  type ProjectorWorkerRequest,
} from './projector-thread';
import type { ProjectorReport } from './projector-report';
import { sleep, until } from './testing/probes';
import { appendHistories, startEmbeddedEventStore } from './testing/store-fixtures';
import { workload } from './testing/workload';

jest.setTimeout(60_000);

let nextRequest = 1_000;
/** Asks the worker as the API asks on each scrape: its report and its counters (by name). */
async function ask(worker: Worker): Promise<{ report: ProjectorReport; counters: Record<string, number> }> {
  const id = ++nextRequest;
  return new Promise((resolve) => {
    const onMessage = (message: ProjectorWorkerMessage) => {
      if (message.kind !== 'metrics' || message.id !== id) return;
      worker.off('message', onMessage);
      const counters: Record<string, number> = {};
      for (const metric of message.metrics)
        if (String(metric.type) === 'counter' && metric.values.length === 1)
          counters[metric.name] = metric.values[0]!.value;
      resolve({ report: message.report, counters });
    };
    worker.on('message', onMessage);
    worker.postMessage({ kind: 'metrics', id } satisfies ProjectorWorkerRequest);
  });
}

describe('the projector thread of npm start', () => {
  let dir: string;
  let store: { connectionString: string; close(): Promise<void> };
  let client: EsdbClientAdapter;
  /** The API's configuration with `env`, its SQLite read models in a directory of their own. */
  const apiConfig = (name: string, env: Record<string, string>) => {
    const dataDir = join(dir, name);
    mkdirSync(dataDir);
    return parseConfig({
      DATA_DIR: dataDir,
      INTEGRATION_API_KEYS: 'int-key-app1-0001=1',
      MANAGEMENT_API_KEYS: 'mgmt-key-app1-0001=*',
      LOG_LEVEL: 'silent',
      ...env,
    });
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'projector-thread-settings-'));
    store = await startEmbeddedEventStore({ port: 0, dataDir: join(dir, 'eventstore'), silent: true });
    client = EsdbClientAdapter.connect(store.connectionString);
  });

  afterAll(async () => {
    await client?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is `starting` on /health/ready until its worker has reported, and `not-running` once stopped', async () => {
    const service = projectorThreadService({
      config: apiConfig('starting', {}),
      connectionString: store.connectionString,
      logger: pino({ level: 'silent' }),
    });
    const started = service.start();
    try {
      // What /health/ready shows in the first moments of `npm start`: the thread is on its way, not missing.
      const first = await service.health();
      await started;
      expect(first).toEqual({ status: 'starting', reportAgeSeconds: null });
      expect(await service.health()).toMatchObject({ status: 'ok', reportAgeSeconds: 0 });
    } finally {
      await started.catch(() => undefined);
      await service.stop();
    }
    expect(await service.health()).toEqual({ status: 'not-running', reportAgeSeconds: expect.any(Number) });
  });

  it('runs its worker with the stall window set by PROJECTOR_STALL_AFTER_MS', async () => {
    const config = apiConfig('stall-window', {
      PROJECTOR_STALL_AFTER_MS: '4321',
      PROJECTOR_SLOW_COMMIT_MS: '1234',
    });
    const service = projectorThreadService({
      config,
      connectionString: store.connectionString,
      logger: pino({ level: 'silent' }),
    });
    await service.start();
    try {
      const worker = service.worker()!;
      // Asked as the API asks on each scrape.
      const report = await new Promise<ProjectorReport>((resolve) => {
        const onMessage = (message: ProjectorWorkerMessage) => {
          if (message.kind !== 'metrics' || message.id !== 1) return;
          worker.off('message', onMessage);
          resolve(message.report);
        };
        worker.on('message', onMessage);
        worker.postMessage({ kind: 'metrics', id: 1 } satisfies ProjectorWorkerRequest);
      });
      expect(report.stallAfterMs).toBe(4321);
    } finally {
      await service.stop();
    }
  });

  it('commits at most about PROJECTOR_BATCH_SIZE events per batch while it catches up', async () => {
    const histories = workload(20, 0);
    const events = histories.reduce((n, h) => n + h.events.length, 0);
    const last = await appendHistories(client, histories);
    const service = projectorThreadService({
      config: apiConfig('batch-size', { PROJECTOR_BATCH_SIZE: '10' }),
      connectionString: store.connectionString,
      logger: pino({ level: 'silent' }),
    });
    await service.start();
    try {
      const worker = service.worker()!;
      const { counters } = await until('the backlog committed', async () => {
        const answer = await ask(worker);
        return answer.report.position >= last && answer.report.lagEvents === 0 && answer;
      });
      expect(counters.projector_events_total).toBeGreaterThanOrEqual(events);
      // A batch is what it holds when reading stops (PROJECTOR_BATCH_SIZE) plus what arrived with it (at
      // most one more read of that size); with the SQLite default (10 000) the backlog is one or two batches.
      expect(counters.projector_batches_total).toBeGreaterThanOrEqual(
        Math.ceil(counters.projector_events_total! / 20),
      );
    } finally {
      await service.stop();
    }
  });

  it('waits PROJECTOR_BATCH_DELAY_MS before it commits a partial batch', async () => {
    const last = await appendHistories(client, workload(1, 100));
    const service = projectorThreadService({
      config: apiConfig('batch-delay', { PROJECTOR_BATCH_DELAY_MS: '60000' }),
      connectionString: store.connectionString,
      logger: pino({ level: 'silent' }),
    });
    await service.start();
    try {
      const worker = service.worker()!;
      await until('the events delivered', async () => (await ask(worker)).report.head >= last);
      // The default (50 ms) would have committed them long before this.
      await sleep(1_500);
      const { report, counters } = await ask(worker);
      expect(report.position).toBeLessThan(last);
      expect(report.lagEvents).toBeGreaterThan(0);
      expect(counters.projector_batches_total).toBe(0);
    } finally {
      // Commits the batch in hand.
      await service.stop();
    }
  });
});
