import { collectDefaultMetrics, register } from 'prom-client';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { checkDataDir, dataDirErrorMessage } from '../../eventstore-embedded/src/data-dir';
import { hostRemedy, listenError, listenHostProblem } from '../../eventstore-embedded/src/listen-error';
import { parseProjectorConfig, ProjectorConfigError, type ProjectorConfig } from './config';
import { createLogger } from './logger';
import { startProjector } from './projector';
import { projectorHttpServer } from './projector-http';

/**
 * The projector as its own process, configured as `config.ts` reads the environment: the event store
 * (EVENTSTORE_CONNECTION_STRING, by default the embedded one on EMBEDDED_EVENTSTORE_PORT), the read models
 * (DATABASE_URL, SQLite under DATA_DIR when unset), /metrics, /health/live and /health/ready (see
 * projector-http.ts) on PROJECTOR_METRICS_HOST:PROJECTOR_METRICS_PORT (default 127.0.0.1:9464, port 0 = none;
 * compose binds 0.0.0.0 so Prometheus in another container can scrape it). A bad value — a metrics host that
 * is not an address of this machine too, and with SQLite read models a DATA_DIR this user cannot write — stops it
 * before it connects, with one line per problem (exit code 2). SIGTERM commits the batch in hand and exits.
 */
async function loadConfig(): Promise<ProjectorConfig> {
  try {
    const config = parseProjectorConfig(process.env);
    // A metrics host that resolves to nothing, or to no address of this machine, would otherwise be found only
    // once the projector has connected and taken the lock (a name as getaddrinfo's ENOTFOUND, without the
    // setting).
    const hostProblem =
      config.metricsPort > 0
        ? await listenHostProblem('PROJECTOR_METRICS_HOST', config.metricsHost)
        : undefined;
    if (hostProblem !== undefined) throw new ProjectorConfigError([hostProblem]);
    // SQLite read models live under DATA_DIR: a directory this user cannot write would otherwise stop the start
    // with SQLite's "unable to open database file", naming neither the file nor the setting.
    const problems: string[] = [];
    if (config.databaseUrl === undefined)
      checkDataDir(config.dataDir, problems, 'DATA_DIR', { writable: true });
    if (problems.length > 0) throw new ProjectorConfigError(problems);
    return config;
  } catch (error) {
    if (!(error instanceof ProjectorConfigError)) throw error;
    refuse(error);
  }
}

function refuse(error: ProjectorConfigError): never {
  process.stderr.write(`projector: ${error.message}\n`);
  process.exit(2);
}

/** Fails as the real listen would when the metrics port is taken: found before the projector takes the lock. */
async function checkMetricsPort(host: string, port: number): Promise<void> {
  const probe = createServer();
  await once(probe.listen(port, host), 'listening').catch((error: unknown) => {
    throw metricsListenError(error, host, port);
  });
  await new Promise((resolve) => probe.close(resolve));
}

const metricsListenError = (error: unknown, host: string, port: number): unknown =>
  listenError(
    error,
    'The projector’s metrics and health endpoint',
    `${host}:${port}`,
    'set PROJECTOR_METRICS_PORT to a free port (0 for none)',
    hostRemedy('PROJECTOR_METRICS_HOST'),
  );

async function main(): Promise<void> {
  const config = await loadConfig();
  const logger = createLogger('projector', config.logLevel);
  // A port in use stops the start before the projector connects and takes the read-model lock (it was found
  // only after: "holds the read-model lock", then "stopped", then the failure).
  if (config.metricsPort > 0) await checkMetricsPort(config.metricsHost, config.metricsPort);
  const projector = await startProjector({
    connectionString: config.connectionString,
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    schema: config.schema,
    batchSize: config.batchSize,
    batchDelayMs: config.batchDelayMs,
    stallAfterMs: config.stallAfterMs,
    slowCommitMs: config.slowCommitMs,
    logger,
  }).catch((error: unknown) => {
    // A read-model file under DATA_DIR this user may not write (left by another user): a configuration problem.
    const problem = config.databaseUrl === undefined ? dataDirErrorMessage(error, config.dataDir) : undefined;
    if (problem !== undefined) refuse(new ProjectorConfigError([problem]));
    throw error;
  });

  const port = config.metricsPort;
  const host = config.metricsHost;
  // The process's own (memory, CPU, event-loop lag, start time), as the API's /metrics has them: this process
  // blocks its event loop on SQLite commits, and an operator needs to see it.
  if (port > 0) collectDefaultMetrics({ register });
  const server = port > 0 ? projectorHttpServer(projector, register) : undefined;
  if (server) {
    // `once` rejects with the server's 'error' (a port in use) instead of 'listening'.
    await once(server.listen(port, host), 'listening').catch(async (error: unknown) => {
      await projector.stop();
      throw metricsListenError(error, host, port);
    });
    logger.info({ host, port }, 'projector metrics and health listening');
  }

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      // Asked again while the batch in hand commits (a database that does not answer): stop now. Safe — a
      // batch commits whole or not at all, and is projected again after the restart.
      logger.warn({ signal }, 'second signal: exiting without waiting for the shutdown to finish');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'projector shutting down');
    server?.close();
    projector.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'projector stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  // One line an operator can act on (e.g. the read-model database refused the connection), no stack trace.
  process.stderr.write(`projector: could not start: ${(error as Error).message ?? String(error)}\n`);
  process.exit(1);
});
