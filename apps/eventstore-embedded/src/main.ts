import { parseStandaloneStoreConfig, StoreConfigError, type StandaloneStoreConfig } from './config';
import { dataDirErrorMessage } from './data-dir';
import { listenErrorMessage, startEmbeddedEventStore } from './index';
import { hostRemedy, listenHostProblem } from './listen-error';
import { writeStoreLog } from './log';

/**
 * Runs the embedded EventStoreDB-compatible server alone:
 *   npm run start:eventstore -- [--port 2113] [--data ./data/eventstore] [--host 127.0.0.1]
 *     [--max-append-size 1048576] [--synchronous FULL|NORMAL] [--group-commit-window-ms 2]
 *     [--scavenge-interval-ms 3600000]
 * Environment: EMBEDDED_EVENTSTORE_PORT, DATA_DIR, EMBEDDED_EVENTSTORE_HOST, EMBEDDED_EVENTSTORE_SYNCHRONOUS,
 * EMBEDDED_EVENTSTORE_SCAVENGE_INTERVAL_MS, EMBEDDED_EVENTSTORE_GROUP_COMMIT_WINDOW_MS.
 * `--data` is the store's own directory; without it the store lives in `$DATA_DIR/eventstore` (default
 * `./data/eventstore`), where `npm start` keeps its embedded store — so both open the same log. The settings
 * are read by config.ts, the variables as the API reads them (trimmed; empty or only whitespace is unset).
 * `--port 0` picks a free port; the start-up log line (JSON on stdout) says which.
 */
function fail(message: string): never {
  writeStoreLog('error', message);
  process.exit(2);
}

function loadConfig(): StandaloneStoreConfig {
  try {
    return parseStandaloneStoreConfig(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof StoreConfigError) fail(error.message);
    throw error;
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  const { host, hostSetting, port, portSetting, dataSetting } = config;
  // A name that resolves to nothing (grpc-js would say only "Name resolution failed for target dns:…"), or an
  // address of no interface here: refused with the setting's name before anything is opened.
  const hostProblem = hostSetting ? await listenHostProblem(hostSetting.source, host) : undefined;
  if (hostProblem !== undefined) fail(hostProblem);
  // The signal handlers come first: a SIGTERM as soon as the start-up line is out (a supervisor, a test) closes
  // the store once it has started, instead of ending the process before the handlers are in place.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    writeStoreLog('info', `${signal} received, shutting down`);
    starting
      .then((store) => store.close())
      .then(
        () => process.exit(0),
        (err: Error) => fail(`Shutdown failed: ${err.message}`),
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  const starting = startEmbeddedEventStore({
    host,
    port,
    dataDir: config.dataDir,
    maxAppendSize: config.maxAppendSize,
    synchronous: config.synchronous,
    groupCommitWindowMs: config.groupCommitWindowMs,
    scavengeIntervalMs: config.scavengeIntervalMs,
  }).catch((error: unknown) => {
    // A file under the data directory this user may not write (its log, left by another user): no port problem.
    const fileProblem = dataDirErrorMessage(error, dataSetting.dir, dataSetting.name);
    if (fileProblem !== undefined) return fail(fileProblem);
    const remedy = `set ${portSetting?.source ?? '--port (or EMBEDDED_EVENTSTORE_PORT)'} to a free port (0 picks one)`;
    const message = listenErrorMessage(
      error,
      'The event store',
      `${host}:${port}`,
      remedy,
      hostRemedy(hostSetting?.source ?? '--host (or EMBEDDED_EVENTSTORE_HOST)'),
    );
    return message ? fail(message) : Promise.reject(error);
  });
  await starting;
}

main().catch((err: Error) => fail(`Start-up failed: ${err.message}`));
