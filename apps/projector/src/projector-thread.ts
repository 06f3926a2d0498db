/**
 * The projector of `npm start` in a `worker_threads` Worker of the API's process (projector-worker.ts): its
 * subscription decoding and read-model writes (SQLite blocks its thread while it commits) run on their own
 * event loop, not the HTTP one. The worker opens its own event-store client (from `connectionString`) and
 * its own read-model database handle; the API's queries keep theirs (checkpoints, and so `minPosition`, are
 * read from the database). Its metrics show on the API's registry: mirrored from the worker on each scrape.
 * A worker that dies is logged and restarted (with back-off) until `stop()`, which has the projector commit
 * its batch and awaits the worker's exit.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { Counter, Gauge, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';
import { startWorker } from '../../eventstore-embedded/src/worker-entry';
import type { ProjectorOptions } from './projector';

export type ProjectorWorkerInput = Omit<ProjectorOptions, 'client' | 'logger' | 'registry'> & {
  connectionString: string;
  logLevel: string;
};

type MetricSnapshot = MetricObjectWithValues<MetricValue<string>>[];

/** Messages from the main thread to the worker. */
export type ProjectorWorkerRequest = { kind: 'stop' } | { kind: 'metrics'; id: number };

/** Messages from the worker. */
export type ProjectorWorkerMessage =
  | { kind: 'started'; metrics: MetricSnapshot }
  | { kind: 'metrics'; id: number; metrics: MetricSnapshot }
  | { kind: 'failed'; message: string }
  | { kind: 'stopped' };

export interface ProjectorThreadContext {
  config: { databaseUrl?: string; dataDir: string; logLevel: string };
  /** The event store the worker's own client connects to. */
  connectionString: string;
  logger: Logger;
  /** The API's /metrics registry (default: none, the metrics are not shown). */
  registry?: Registry;
  /** Projector options for tests (batching, lock timings). */
  projector?: Omit<ProjectorWorkerInput, 'connectionString' | 'logLevel' | 'databaseUrl' | 'dataDir'>;
  /** Longest wait for the worker to commit and end on stop (default 30 s), then it is terminated. */
  stopTimeoutMs?: number;
}

const METRICS_TIMEOUT_MS = 1_000;
const MIN_RESTART_MS = 500;
const MAX_RESTART_MS = 30_000;
/** A worker that ran this long before dying restarts after the shortest back-off again. */
const HEALTHY_AFTER_MS = 60_000;

interface RunningWorker {
  worker: Worker;
  exited: Promise<number>;
  startedAt: number;
  stopping: boolean;
}

/** The projector as a background service of the API process, in its own thread. */
export function projectorThreadService(context: ProjectorThreadContext) {
  const logger = context.logger.child({ component: 'projector-thread' });
  const input: ProjectorWorkerInput = {
    ...context.projector,
    connectionString: context.connectionString,
    // One worker at a time, each started after the one before it ended: a lease this process holds when a
    // worker starts is a dead worker's (or this process's previous life's), not a running projector's.
    reclaimLockOfThisProcess: true,
    databaseUrl: context.config.databaseUrl,
    dataDir: context.config.dataDir,
    logLevel: context.config.logLevel,
  };
  let current: RunningWorker | undefined;
  /** A start or restart under way (stop() waits for it, then stops what it started). */
  let launching: Promise<void> | undefined;
  let stopped = false;
  let restartTimer: NodeJS.Timeout | undefined;
  let restartDelay = MIN_RESTART_MS;
  let latest: MetricSnapshot | undefined;
  let pendingSnapshot: Promise<MetricSnapshot | undefined> | undefined;
  let nextRequestId = 0;
  const mirrored = new Set<string>();
  context.registry?.removeSingleMetric('projector_worker_restarts_total');
  const restarts = new Counter({
    name: 'projector_worker_restarts_total',
    help: 'Projector worker threads restarted after they died',
    registers: context.registry ? [context.registry] : [],
  });

  /** The worker's metrics now (one request per scrape, shared by every mirrored metric); the last ones if it does not answer. */
  const snapshot = (): Promise<MetricSnapshot | undefined> => {
    const running = current;
    if (!running || running.stopping) return Promise.resolve(undefined);
    pendingSnapshot ??= new Promise<MetricSnapshot | undefined>((resolve) => {
      const id = ++nextRequestId;
      const done = (metrics: MetricSnapshot | undefined) => {
        clearTimeout(timer);
        running.worker.off('message', onMessage);
        pendingSnapshot = undefined;
        if (metrics) latest = metrics;
        resolve(metrics ?? latest);
      };
      const onMessage = (message: ProjectorWorkerMessage) => {
        if (message.kind === 'metrics' && message.id === id) done(message.metrics);
      };
      const timer = setTimeout(() => done(undefined), METRICS_TIMEOUT_MS);
      running.worker.on('message', onMessage);
      running.worker.postMessage({ kind: 'metrics', id } satisfies ProjectorWorkerRequest);
    });
    return pendingSnapshot;
  };

  /** The worker's gauges and counters, once, in the API's registry; without a worker they read 0. */
  const mirror = (metrics: MetricSnapshot) => {
    const registry = context.registry;
    if (!registry) return;
    for (const metric of metrics) {
      const type = String(metric.type);
      if (mirrored.has(metric.name) || (type !== 'gauge' && type !== 'counter')) continue;
      mirrored.add(metric.name);
      registry.removeSingleMetric(metric.name);
      const labelNames = [...new Set(metric.values.flatMap((value) => Object.keys(value.labels)))];
      const name = metric.name;
      const fill = async (target: Gauge | Counter) => {
        const values = (await snapshot())?.find((m) => m.name === name)?.values ?? [];
        target.reset();
        for (const { labels, value } of values) {
          // A label the first snapshot did not show would make prom-client throw, and the whole /metrics
          // with it: the worker's metrics set every label value up front (see projectorMetrics).
          if (Object.keys(labels).some((label) => !labelNames.includes(label))) continue;
          if (target instanceof Gauge) target.set(labels, value);
          else target.inc(labels, value);
        }
      };
      const options = { name, help: metric.help, labelNames, registers: [registry] };
      if (type === 'gauge')
        new Gauge({
          ...options,
          async collect() {
            await fill(this);
          },
        });
      else
        new Counter({
          ...options,
          async collect() {
            await fill(this);
          },
        });
    }
  };

  const launch = (): Promise<void> => {
    const started = start();
    launching = started;
    const done = () => {
      if (launching === started) launching = undefined;
    };
    started.then(done, done);
    return started;
  };

  const start = (): Promise<void> => {
    const worker = startWorker(__dirname, 'projector-worker', input);
    let lastError: Error | undefined;
    const running: RunningWorker = {
      worker,
      startedAt: Date.now(),
      stopping: false,
      exited: new Promise((resolve) => worker.once('exit', resolve)),
    };
    return new Promise<void>((resolve, reject) => {
      let started = false;
      worker.on('error', (error) => {
        lastError = error;
        logger.error({ err: error }, 'projector worker failed');
      });
      worker.on('message', (message: ProjectorWorkerMessage) => {
        if (message.kind === 'failed') {
          lastError = new Error(message.message);
          logger.error({ err: lastError }, 'projector worker failed');
          // A worker that could not start may hold handles open: end it, the start fails.
          if (!started) void worker.terminate();
        } else if (message.kind === 'started' && !started) {
          started = true;
          current = running;
          latest = message.metrics;
          mirror(message.metrics);
          resolve();
        }
      });
      void running.exited.then((code) => {
        if (!started) {
          reject(lastError ?? new Error(`The projector worker exited during start-up (${code})`));
          return;
        }
        if (current === running) current = undefined;
        latest = undefined;
        if (running.stopping || stopped) return;
        // Never silently without a projector: say so, and start another one.
        if (Date.now() - running.startedAt >= HEALTHY_AFTER_MS) restartDelay = MIN_RESTART_MS;
        logger.error(
          { err: lastError, exitCode: code, restartInMs: restartDelay },
          'projector worker ended unexpectedly; restarting it',
        );
        scheduleRestart();
      });
    });
  };

  const scheduleRestart = () => {
    const delay = restartDelay;
    restartDelay = Math.min(restartDelay * 2, MAX_RESTART_MS);
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      if (stopped) return;
      restarts.inc();
      launch().then(
        () => logger.info('projector worker restarted'),
        (error: unknown) => {
          if (stopped) return;
          logger.error(
            { err: error, restartInMs: restartDelay },
            'projector worker did not restart; retrying',
          );
          scheduleRestart();
        },
      );
    }, delay);
  };

  return {
    name: 'projector',
    /** Starts the worker; rejects (the process should fail) when the projector cannot start. */
    async start(): Promise<void> {
      stopped = false;
      await launch();
    },
    /** The projector commits the batch in hand and closes its client and database; resolves once the thread ended. */
    async stop(): Promise<void> {
      stopped = true;
      clearTimeout(restartTimer);
      restartTimer = undefined;
      await launching?.catch(() => undefined);
      const running = current;
      if (!running) return;
      running.stopping = true;
      let failure: string | undefined;
      const onMessage = (message: ProjectorWorkerMessage) => {
        if (message.kind === 'failed') failure = message.message;
      };
      running.worker.on('message', onMessage);
      running.worker.postMessage({ kind: 'stop' } satisfies ProjectorWorkerRequest);
      const timeoutMs = context.stopTimeoutMs ?? 30_000;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        running.exited.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        await running.worker.terminate();
        throw new Error(`The projector worker did not stop within ${timeoutMs} ms; terminated it`);
      }
      if (failure) throw new Error(failure);
    },
    /** True while a projector worker runs (false while one is being restarted, and after stop). */
    isRunning: (): boolean => current !== undefined,
    /** The running worker thread (for tests and diagnostics). */
    worker: (): Worker | undefined => current?.worker,
  };
}
