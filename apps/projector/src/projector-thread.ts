/**
 * The projector of `npm start` in a `worker_threads` Worker of the API's process (projector-worker.ts): its
 * subscription decoding and read-model writes (SQLite blocks its thread while it commits) run on their own
 * event loop, not the HTTP one. The worker opens its own event-store client (from `connectionString`) and
 * its own read-model database handle; the API's queries keep theirs (checkpoints, and so `minPosition`, are
 * read from the database). Its metrics show on the API's registry. On each scrape the worker is asked for a
 * report (`ProjectorReport`: positions, lag, and the times of its last commit and oldest waiting event) and
 * its counters, and also posts a report as each batch commit starts. The gauges are computed from the newest
 * report at scrape time, in this thread: a worker that does not answer — blocked in SQLite's busy wait on a
 * read-model file another process holds locked — leaves `projector_last_commit_age_seconds` growing and
 * `projector_caught_up` at 0 once the stall window passed, rather than its last values frozen, and
 * `projector_report_age_seconds` says how old that report is. The counters are the last ones it sent.
 * A worker that dies is logged and restarted (with back-off) until `stop()`, which has the projector commit
 * its batch and awaits the worker's exit.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { Counter, Gauge, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';
import { startWorker } from '../../eventstore-embedded/src/worker-entry';
import { DEFAULT_STALL_AFTER_MS } from './config';
import type { ProjectorOptions } from './projector';
import { projectorHealthBody, type ProjectorHealthBody } from './projector-http';
import { PROJECTOR_GAUGES, projectorGauges } from './projector-metrics';
import { projectorStatus, type ProjectorReport } from './projector-report';

export type ProjectorWorkerInput = Omit<
  ProjectorOptions,
  'logger' | 'registry' | 'onCommitStart' | 'eventSchemas'
> & {
  connectionString: string;
  logLevel: string;
};

type MetricSnapshot = MetricObjectWithValues<MetricValue<string>>[];

/** Messages from the main thread to the worker. */
export type ProjectorWorkerRequest = { kind: 'stop' } | { kind: 'metrics'; id: number };

/** Messages from the worker. */
export type ProjectorWorkerMessage =
  | { kind: 'started'; metrics: MetricSnapshot; report: ProjectorReport }
  | { kind: 'metrics'; id: number; metrics: MetricSnapshot; report: ProjectorReport }
  /** Posted as a batch commit starts (the thread may then block until the database answers). */
  | { kind: 'report'; report: ProjectorReport }
  /** `unreachable`: it could not start because the read-model database could not be reached. */
  | { kind: 'failed'; message: string; unreachable?: boolean }
  | { kind: 'stopped' };

/** How old the newest report of the worker is (API only: the standalone projector reports as it is scraped). */
export const REPORT_AGE_METRIC = 'projector_report_age_seconds';

/**
 * The in-process projector as the API's /health/ready reports it: the standalone projector's /health/ready
 * body, computed now from the worker's newest report, and how old that report is (`projector_report_age_seconds`,
 * rounded); `starting` while a worker is being started and has not reported yet, `not-running` while none runs
 * (stopped, or waiting to be restarted after it died), each with the age of the last report of the one before
 * it, if any.
 */
export type ProjectorThreadHealth =
  | (ProjectorHealthBody & { reportAgeSeconds: number })
  | { status: 'starting' | 'not-running'; reportAgeSeconds: number | null };

const COMPUTED: ReadonlySet<string> = new Set(PROJECTOR_GAUGES);

export interface ProjectorThreadContext {
  /** The API's configuration (AppConfig): where the read models are, and the projector settings it read. */
  config: {
    databaseUrl?: string;
    /** READ_MODEL_SCHEMA (unset: DATABASE_URL's `search_path`). */
    readModelSchema?: string;
    dataDir: string;
    logLevel: string;
    /**
     * PROJECTOR_BATCH_SIZE, PROJECTOR_BATCH_DELAY_MS, PROJECTOR_STALL_AFTER_MS, PROJECTOR_SLOW_COMMIT_MS
     * (unset: the projector's defaults).
     */
    projectorBatchSize?: number;
    projectorBatchDelayMs?: number;
    projectorStallAfterMs?: number;
    projectorSlowCommitMs?: number;
  };
  /** The event store the worker's own client connects to. */
  connectionString: string;
  logger: Logger;
  /** The API's /metrics registry (default: none, the metrics are not shown). */
  registry?: Registry;
  /** Projector options for tests (batching, lock timings). */
  projector?: Omit<ProjectorWorkerInput, 'connectionString' | 'logLevel' | 'databaseUrl' | 'dataDir'>;
}

/** The worker could not start because the read-model database could not be reached. */
class ReadModelsUnreachableAtStart extends Error {
  override readonly name = 'ReadModelsUnreachableAtStart';
}

const METRICS_TIMEOUT_MS = 1_000;
const MIN_RESTART_MS = 500;
const MAX_RESTART_MS = 30_000;
/** Longest wait for the worker to commit and end on stop, then it is terminated. */
const STOP_TIMEOUT_MS = 30_000;
/** A worker that ran this long before dying restarts after the shortest back-off again. */
const HEALTHY_AFTER_MS = 60_000;

interface RunningWorker {
  worker: Worker;
  exited: Promise<number>;
  startedAt: number;
  stopping: boolean;
}

/**
 * What the worker is started with: the settings the API read for its projector (as `npm start` reads them,
 * the standalone projector's own), then a test's options.
 */
export function projectorWorkerInput(
  context: Pick<ProjectorThreadContext, 'config' | 'connectionString' | 'projector'>,
): ProjectorWorkerInput {
  return {
    schema: context.config.readModelSchema,
    batchSize: context.config.projectorBatchSize,
    batchDelayMs: context.config.projectorBatchDelayMs,
    stallAfterMs: context.config.projectorStallAfterMs,
    slowCommitMs: context.config.projectorSlowCommitMs,
    ...context.projector,
    connectionString: context.connectionString,
    // One worker at a time, each started after the one before it ended: a lease this process holds when a
    // worker starts is a dead worker's (or this process's previous life's), not a running projector's.
    reclaimLockOfThisProcess: true,
    databaseUrl: context.config.databaseUrl,
    dataDir: context.config.dataDir,
    logLevel: context.config.logLevel,
  };
}

/** The projector as a background service of the API process, in its own thread. */
export function projectorThreadService(context: ProjectorThreadContext) {
  const logger = context.logger.child({ component: 'projector-thread' });
  const input = projectorWorkerInput(context);
  let current: RunningWorker | undefined;
  /** A start or restart under way (stop() waits for it, then stops what it started). */
  let launching: Promise<void> | undefined;
  let stopped = false;
  let restartTimer: NodeJS.Timeout | undefined;
  let restartDelay = MIN_RESTART_MS;
  /** Since when the worker cannot start because the read-model database cannot be reached. */
  let unreachableSince: number | undefined;
  const stallAfterMs = context.config.projectorStallAfterMs ?? DEFAULT_STALL_AFTER_MS;
  const outageLevel = (): 'warn' | 'error' =>
    unreachableSince !== undefined && Date.now() - unreachableSince < stallAfterMs ? 'warn' : 'error';
  /** The running worker's newest counters and report (kept when a reply comes after the scrape gave up on it). */
  let latest: MetricSnapshot | undefined;
  let latestAt = -Infinity;
  let latestReport: ProjectorReport | undefined;
  /** When the newest report was made, by this worker or one before it (its age grows while none runs). */
  let lastReportAt: number | undefined;
  let pendingRefresh: Promise<void> | undefined;
  let nextRequestId = 0;
  const mirrored = new Set<string>();
  context.registry?.removeSingleMetric('projector_worker_restarts_total');
  const restarts = new Counter({
    name: 'projector_worker_restarts_total',
    help: 'Projector worker threads restarted after they died',
    registers: context.registry ? [context.registry] : [],
  });

  /** A report (with counters, or without: posted as a commit starts) from the worker: the newest one counts. */
  const received = (report: ProjectorReport, metrics?: MetricSnapshot) => {
    if (latestReport === undefined || report.at >= latestReport.at) latestReport = report;
    if (lastReportAt === undefined || report.at > lastReportAt) lastReportAt = report.at;
    if (metrics && report.at >= latestAt) {
      latest = metrics;
      latestAt = report.at;
    }
  };

  /**
   * Asks the worker for its report and counters (one request per scrape, shared by every metric) and waits
   * up to METRICS_TIMEOUT_MS for them; a worker that does not answer in time leaves the newest it sent.
   */
  const refresh = (): Promise<void> => {
    const running = current;
    if (!running || running.stopping) return Promise.resolve();
    pendingRefresh ??= new Promise<void>((resolve) => {
      const id = ++nextRequestId;
      const done = () => {
        clearTimeout(timer);
        running.worker.off('message', onMessage);
        pendingRefresh = undefined;
        resolve();
      };
      const onMessage = (message: ProjectorWorkerMessage) => {
        if (message.kind === 'metrics' && message.id === id) done();
      };
      const timer = setTimeout(done, METRICS_TIMEOUT_MS);
      running.worker.on('message', onMessage);
      running.worker.postMessage({ kind: 'metrics', id } satisfies ProjectorWorkerRequest);
    });
    return pendingRefresh;
  };
  /** The running worker's counters after a refresh; none while no worker runs (they read 0). */
  const snapshot = async (): Promise<MetricSnapshot | undefined> => {
    await refresh();
    return current && !current.stopping ? latest : undefined;
  };

  if (context.registry) {
    const registry = context.registry;
    // The gauges, from the newest report, at the time of the scrape (the same code as the standalone projector's).
    projectorGauges(async () => {
      await refresh();
      return current && !current.stopping ? latestReport : undefined;
    }, registry);
    registry.removeSingleMetric(REPORT_AGE_METRIC);
    new Gauge({
      name: REPORT_AGE_METRIC,
      help: 'Seconds since the projector worker thread last reported; the projector gauges are computed from that report (it grows while the thread is blocked, e.g. on a locked SQLite read-model file, or while none runs)',
      registers: [registry],
      async collect() {
        await refresh();
        this.set(lastReportAt === undefined ? 0 : Math.max(0, (Date.now() - lastReportAt) / 1000));
      },
    });
  }

  /**
   * The worker's counters (and any gauge not computed from its report), once, in the API's registry, with
   * the values it last sent; without a worker they read 0.
   */
  const mirror = (metrics: MetricSnapshot) => {
    const registry = context.registry;
    if (!registry) return;
    for (const metric of metrics) {
      const type = String(metric.type);
      if (COMPUTED.has(metric.name)) continue;
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
        if (message.kind === 'metrics' || message.kind === 'report' || message.kind === 'started')
          received(message.report, message.kind === 'report' ? undefined : message.metrics);
        if (message.kind === 'failed') {
          lastError = message.unreachable
            ? new ReadModelsUnreachableAtStart(message.message)
            : new Error(message.message);
          // An unreachable database at start is logged by what starts the worker again (once per attempt).
          if (!message.unreachable) logger.error({ err: lastError }, 'projector worker failed');
          // A worker that could not start may hold handles open: end it, the start fails.
          if (!started) void worker.terminate();
        } else if (message.kind === 'started' && !started) {
          started = true;
          current = running;
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
        // A new worker starts from its own reports (the report age goes on from this one's last).
        latest = undefined;
        latestAt = -Infinity;
        latestReport = undefined;
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
        () => {
          unreachableSince = undefined;
          logger.info('projector worker restarted');
        },
        (error: unknown) => {
          if (stopped) return;
          if (error instanceof ReadModelsUnreachableAtStart) {
            // An outage: at warn until it lasts the stall window (as the projector's own outages), no stack.
            unreachableSince ??= Date.now();
            logger[outageLevel()](
              { err: { message: error.message }, restartInMs: restartDelay },
              'projector worker did not restart: the read-model database cannot be reached; retrying',
            );
          } else {
            logger.error(
              { err: error, restartInMs: restartDelay },
              'projector worker did not restart; retrying',
            );
          }
          scheduleRestart();
        },
      );
    }, delay);
  };

  return {
    name: 'projector',
    /**
     * The projector's condition for the API's /health/ready: asks the worker for its report as a scrape does
     * (waiting at most METRICS_TIMEOUT_MS; a blocked worker leaves its newest one) and reads it now.
     */
    async health(): Promise<ProjectorThreadHealth> {
      await refresh();
      const now = Date.now();
      const age = lastReportAt === undefined ? null : Math.max(0, Math.round((now - lastReportAt) / 1000));
      const report = current && !current.stopping ? latestReport : undefined;
      if (report === undefined)
        return { status: launching && !stopped ? 'starting' : 'not-running', reportAgeSeconds: age };
      return { ...projectorHealthBody(projectorStatus(report, now)), reportAgeSeconds: age ?? 0 };
    },
    /**
     * Starts the worker; rejects (the process should fail) when the projector cannot start — unless only because
     * the read-model database cannot be reached: a database outage must not keep the API from starting (its
     * commands need no read model). The worker is then started again with back-off until it starts, and
     * /health/ready reports the projector as `not-running` meanwhile.
     */
    async start(): Promise<void> {
      stopped = false;
      try {
        await launch();
      } catch (error) {
        if (!(error instanceof ReadModelsUnreachableAtStart)) throw error;
        unreachableSince = Date.now();
        logger.warn(
          { err: { message: error.message }, restartInMs: restartDelay },
          'projector could not start: the read-model database cannot be reached; starting it again until it can',
        );
        scheduleRestart();
      }
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
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        running.exited.then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), STOP_TIMEOUT_MS))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        await running.worker.terminate();
        throw new Error(`The projector worker did not stop within ${STOP_TIMEOUT_MS} ms; terminated it`);
      }
      if (failure) throw new Error(failure);
    },
    /** True while a projector worker runs (false while one is being restarted, and after stop). */
    isRunning: (): boolean => current !== undefined,
    /** The running worker thread (for tests and diagnostics). */
    worker: (): Worker | undefined => current?.worker,
  };
}

/** The projector of `npm start`, in its worker thread. */
export type ProjectorThreadService = ReturnType<typeof projectorThreadService>;
