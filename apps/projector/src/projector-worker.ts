/**
 * Entry point of the worker thread started by `projectorThreadService` (see projector-thread.ts): runs the
 * projector on this thread's event loop with its own event-store client and read-model database handle,
 * answers requests for its report and counters, posts its report as each batch commit starts (the commit may
 * block this thread: the API then computes ages from that report), and on `stop` commits the batch in hand,
 * closes both, then lets the thread end.
 */
import { readModelsUnavailable } from '@session-engine/read-models';
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
// The metrics live here; the main thread mirrors the counters into the API's registry on each scrape and
// computes the gauges from the report.
const registry = new Registry();

startProjector({
  ...options,
  logger,
  registry,
  onCommitStart: (report) => post({ kind: 'report', report }),
}).then(
  (projector) => {
    let stopping = false;
    parentPort!.on('message', (request: ProjectorWorkerRequest) => {
      if (request.kind === 'metrics') {
        void registry
          .getMetricsAsJSON()
          .then((metrics) => post({ kind: 'metrics', id: request.id, metrics, report: projector.report() }));
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
    void registry
      .getMetricsAsJSON()
      .then((metrics) => post({ kind: 'started', metrics, report: projector.report() }));
  },
  (error: Error) => {
    post({
      kind: 'failed',
      message: `projector start failed: ${error.message}`,
      // The read-model database could not be reached (its open wraps the cause): worth trying again later.
      ...(readModelsUnavailable(error.cause) || readModelsUnavailable(error) ? { unreachable: true } : {}),
    });
    parentPort!.close();
  },
);
