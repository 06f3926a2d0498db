/**
 * `npm start`: one process with the HTTP API (on API_HOST:PORT, by default every interface), the background
 * services (the projector, in a worker thread) and — when EVENTSTORE_CONNECTION_STRING is unset — the embedded
 * EventStoreDB-compatible server on 127.0.0.1:EMBEDDED_EVENTSTORE_PORT with its data under DATA_DIR, in a
 * worker thread (its own event loop). SIGTERM/SIGINT shut down gracefully: no new connections (with
 * SHUTDOWN_DRAIN_MS, the open ones are first answered once more, each closing after its answer), in-flight
 * requests finish, background services stop, the store closes.
 */
import 'reflect-metadata';
import { EsdbClientAdapter } from '@session-engine/event-store';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type pino from 'pino';
import {
  listenError,
  startEmbeddedEventStore,
  storeLogLevel,
  type EmbeddedEventStore,
} from '../../eventstore-embedded/src';
import { dataDirErrorMessage } from '../../eventstore-embedded/src/data-dir';
import { hostRemedy, listenHostProblem } from '../../eventstore-embedded/src/listen-error';
import { createLogger } from '../../projector/src/logger';
import { createSessionApi } from './app.factory';
import { backgroundServices, inProcessProjector, type BackgroundService } from './background-services';
import { ApiKeys } from './config/api-keys.provider';
import { ConfigError, dataDirProblems, parseConfig, type AppConfig } from './config/config';
import {
  DevKeysFileError,
  devIntegrationKeys,
  devManagementKeys,
  loadOrCreateDevKeys,
} from './config/dev-keys';
import type { JsonReplyExpressAdapter } from './http/json-reply.adapter';
import { MetricsService } from './operations/metrics.service';
import { startupSummary, startupWarnings } from './startup-summary';

/** A configuration problem, found before or during the start: its message on stderr, exit code 2. */
function refuse(error: ConfigError): never {
  console.error(error.message);
  process.exit(2);
}

async function loadConfig(): Promise<AppConfig> {
  try {
    const config = parseConfig(process.env);
    // An API_HOST that resolves to nothing, or to no address of this machine, stops the start here, named, rather
    // than once the embedded store has started (as getaddrinfo's ENOTFOUND or EADDRNOTAVAIL).
    const hostProblem =
      config.host === undefined ? undefined : await listenHostProblem('API_HOST', config.host);
    if (hostProblem !== undefined) throw new ConfigError([hostProblem]);
    const problems = dataDirProblems(config);
    if (problems.length > 0) throw new ConfigError(problems);
    return config;
  } catch (error) {
    if (error instanceof ConfigError) refuse(error);
    throw error;
  }
}

function resolveKeys(config: AppConfig, logger: pino.Logger): ApiKeys {
  // parseConfig refuses one list without the other: both are set, or neither (development keys).
  if (config.integrationKeys && config.managementKeys)
    return new ApiKeys(config.integrationKeys, config.managementKeys);
  let devKeys: ReturnType<typeof loadOrCreateDevKeys>;
  try {
    devKeys = loadOrCreateDevKeys(config.dataDir);
  } catch (error) {
    // A file that is there but holds no usable keys: said, never replaced (clients may use the keys in it).
    if (error instanceof DevKeysFileError) refuse(new ConfigError([error.message]));
    const problem = dataDirErrorMessage(error, config.dataDir);
    if (problem === undefined) throw error;
    refuse(new ConfigError([problem]));
  }
  const { keys, created } = devKeys;
  process.stdout.write(
    [
      '',
      `Development keys for application 1 (${created ? 'created' : 'kept'} in ${config.dataDir}):`,
      `  Integration API:  Authorization: ApiKey-v1 ${keys.integrationKey}`,
      `  Management API:   Authorization: ManagementKey-v1 ${keys.managementKey}`,
      '',
      '',
    ].join('\n'),
  );
  logger.warn('no API keys configured: using development keys for application 1');
  return new ApiKeys(devIntegrationKeys(keys), devManagementKeys(keys));
}

/** What `main` has started so far: shutdown stops what is there. */
interface Started {
  embedded?: EmbeddedEventStore;
  store?: EsdbClientAdapter;
  app?: Awaited<ReturnType<typeof createSessionApi>>;
  services: BackgroundService[];
}

async function main(): Promise<void> {
  const config = await loadConfig();
  const logger = createLogger('session-api', config.logLevel);
  const keys = resolveKeys(config, logger);

  // The signal handlers come first: a SIGTERM during start-up (the API may already be answering) waits for
  // start-up to settle, then stops what started, instead of killing the process mid-request.
  const started: Started = { services: [] };
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      // Asked again while the shutdown waits (for a slow request, a projector batch): stop now. Safe — every
      // acknowledged append is on disk, a read-model batch commits whole or not at all.
      logger.warn({ signal }, 'second signal: exiting without waiting for the shutdown to finish');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await starting.catch(() => undefined);
    try {
      if (started.app !== undefined && config.shutdownDrainMs > 0) {
        // No new connections; the open ones are answered once more, each closing after its answer
        // (connection-drain.ts), until none is left or the period ends. A second signal ends the wait (above).
        const adapter = started.app.getHttpAdapter() as JsonReplyExpressAdapter;
        const settled = adapter.announceShutdown(config.shutdownDrainMs);
        logger.info(
          { drainMs: config.shutdownDrainMs },
          'draining: new connections are refused; open ones are answered, each answer closing its connection',
        );
        await settled;
      }
      await started.app?.close(); // stops accepting, waits for in-flight requests
      for (const service of [...started.services].reverse()) await service.stop();
      await started.store?.close();
      await started.embedded?.close();
      logger.info('stopped');
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  const starting = start(config, logger, keys, started);
  await starting;
}

async function start(config: AppConfig, logger: pino.Logger, keys: ApiKeys, started: Started): Promise<void> {
  for (const warning of startupWarnings(config)) logger.warn(warning.fields, warning.msg);
  let connectionString = config.eventStoreConnectionString;
  if (connectionString === undefined) {
    const embedded = await startEmbeddedEventStore({
      host: '127.0.0.1',
      port: config.embeddedEventStorePort,
      dataDir: path.join(config.dataDir, 'eventstore'),
      scavengeIntervalMs: config.embeddedEventStoreScavengeIntervalMs,
      groupCommitWindowMs: config.embeddedEventStoreGroupCommitWindowMs,
      // Its lines follow LOG_LEVEL, as the API's and the projector's do.
      logLevel: storeLogLevel(config.logLevel),
      // Its own event loop: SQLite commits (fsync) and gRPC encoding do not stall HTTP handling.
      thread: true,
    }).catch((error: unknown) => {
      // A file under DATA_DIR this user may not write (the check at start-up found the directories writable).
      const problem = dataDirErrorMessage(error, config.dataDir);
      if (problem !== undefined) throw new ConfigError([problem]);
      throw listenError(
        error,
        'The embedded event store',
        `127.0.0.1:${config.embeddedEventStorePort}`,
        'set EMBEDDED_EVENTSTORE_PORT to a free port, or EVENTSTORE_CONNECTION_STRING to use an event store that is already running',
      );
    });
    started.embedded = embedded;
    connectionString = embedded.connectionString;
  }
  const store = (started.store = EsdbClientAdapter.connect(connectionString));
  // One registry for the process: the projector worker's lag shows on the API's /metrics.
  const metrics = new MetricsService();
  // Made before the app (whose /health/ready reports the projector), started once it listens.
  const services = backgroundServices({ config, connectionString, logger, registry: metrics.registry });
  const app = (started.app = await createSessionApi({
    config,
    keys,
    store,
    logger,
    metrics,
    projector: inProcessProjector(services),
  }));
  // Unset API_HOST: every interface, as Node listens without a host (the Docker image needs it).
  const listening =
    config.host === undefined ? app.listen(config.port) : app.listen(config.port, config.host);
  await listening.catch((error: unknown) => {
    throw listenError(
      error,
      'The API',
      config.host === undefined ? `port ${config.port}` : `${config.host}:${config.port}`,
      'set PORT to a free port',
      hostRemedy('API_HOST'),
    );
  });
  // The address and port listened on (PORT=0 picks a free one).
  const { address: host, port } = (app.getHttpServer() as Server).address() as AddressInfo;
  logger.info(
    {
      host,
      ...startupSummary(config, keys, { port, embedded: started.embedded !== undefined, connectionString }),
    },
    'session API listening',
  );

  for (const service of services) {
    await service.start();
    started.services.push(service);
    logger.info({ backgroundService: service.name }, 'background service started');
  }
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) refuse(error);
  console.error('session-api failed to start:', error instanceof Error ? error.message : error);
  process.exit(1);
});
