/**
 * Entry point of the worker thread started by `projectorThreadService` (see projector-thread.ts): runs the
 * projector on this thread's event loop with its own event-store client and read-model database handle,
 * answers metric snapshots, and on `stop` commits the batch in hand, closes both, then lets the thread end.
 */
import { Registry } from 'prom-client';
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from './logger';
import { startProjector } from './projector';
import type {
  ProjectorWorkerInput,
  ProjectorWorkerMessage,
  ProjectorWorkerRequest,
} from './projector-thread';

const { logLevel, ...options } = workerData as ProjectorWorkerInput;
const post = (message: ProjectorWorkerMessage) => parentPort!.postMessage(message);
const logger = createLogger('projector', logLevel, { thread: 'projector-worker' });
// The metrics live here; the main thread mirrors them into the API's registry on each scrape.
const registry = new Registry();

startProjector({ ...options, logger, registry }).then(
  (projector) => {
    let stopping = false;
    parentPort!.on('message', (request: ProjectorWorkerRequest) => {
      if (request.kind === 'metrics') {
        void registry
          .getMetricsAsJSON()
          .then((metrics) => post({ kind: 'metrics', id: request.id, metrics }));
        return;
      }
      if (request.kind !== 'stop' || stopping) return;
      stopping = true;
      projector.stop().then(
        () => {
          post({ kind: 'stopped' });
          parentPort!.close();
        },
        (error: Error) => {
          post({ kind: 'failed', message: `projector stop failed: ${error.message}` });
          parentPort!.close();
        },
      );
    });
    void registry.getMetricsAsJSON().then((metrics) => post({ kind: 'started', metrics }));
  },
  (error: Error) => {
    post({ kind: 'failed', message: `projector start failed: ${error.message}` });
    parentPort!.close();
  },
);
