/**
 * The settings an operator gives the projector reach it under `npm start` too, where the API reads the
 * environment and runs the projector in a worker thread: the worker's own report carries the stall window the
 * API was configured with (it decides `projector_caught_up` and when the API stops vouching for a silent
 * worker).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { parseConfig } from '../../session-api/src/config/config';
import {
  projectorThreadService,
  type ProjectorWorkerMessage,
  type ProjectorWorkerRequest,
} from './projector-thread';
import type { ProjectorReport } from './projector-report';
import { startEmbeddedEventStore } from './testing/store-fixtures';

jest.setTimeout(60_000);

describe('the projector thread of npm start', () => {
  let dir: string;
  let store: { connectionString: string; close(): Promise<void> };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'projector-thread-settings-'));
    store = await startEmbeddedEventStore({ port: 0, dataDir: join(dir, 'eventstore'), silent: true });
  });

  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs its worker with the stall window set by PROJECTOR_STALL_AFTER_MS', async () => {
    const config = parseConfig({
      DATA_DIR: dir,
      INTEGRATION_API_KEYS: 'int-key-app1-0001=1',
      LOG_LEVEL: 'silent',
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
});
