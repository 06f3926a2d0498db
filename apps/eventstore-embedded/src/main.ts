import path from 'node:path';
import { checkDataDir, dataDirErrorMessage } from './data-dir';
import { listenErrorMessage, parseScavengeInterval, startEmbeddedEventStore } from './index';
import { hostRemedy, listenHostProblem } from './listen-error';
import { writeStoreLog } from './log';

/**
 * Runs the embedded EventStoreDB-compatible server alone:
 *   npm run start:eventstore -- [--port 2113] [--data ./data/eventstore] [--host 127.0.0.1]
 *     [--max-append-size 1048576] [--synchronous FULL|NORMAL] [--group-commit-window-ms 1]
 *     [--scavenge-interval-ms 3600000]
 * Environment: EMBEDDED_EVENTSTORE_PORT, DATA_DIR, EMBEDDED_EVENTSTORE_HOST, EMBEDDED_EVENTSTORE_SYNCHRONOUS,
 * EMBEDDED_EVENTSTORE_SCAVENGE_INTERVAL_MS.
 * `--data` is the store's own directory; without it the store lives in `$DATA_DIR/eventstore` (default
 * `./data/eventstore`), where `npm start` keeps its embedded store — so both open the same log.
 * `--port 0` picks a free port; the start-up log line (JSON on stdout) says which.
 */
function arg(name: string): string | undefined {
  const argv = process.argv.slice(2);
  const i = argv.indexOf(`--${name}`);
  if (i >= 0) return argv[i + 1];
  const inline = argv.find((a) => a.startsWith(`--${name}=`));
  return inline?.slice(name.length + 3);
}

/** A value from the command line or else the environment, with the name to quote when it is refused. */
function setting(
  flag: string,
  [variable, fromEnv]: [string?, string?] = [],
): { value: string; source: string } | undefined {
  const fromFlag = arg(flag);
  if (fromFlag !== undefined) return { value: fromFlag, source: `--${flag}` };
  if (variable && fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: variable };
  return undefined;
}

function fail(message: string): never {
  writeStoreLog('error', message);
  process.exit(2);
}

function integer(
  found: { value: string; source: string } | undefined,
  fallback: number | undefined,
  min: number,
  max: number,
): number | undefined {
  if (!found) return fallback;
  const value = Number(found.value);
  if (!/^\d+$/.test(found.value.trim()) || !Number.isSafeInteger(value) || value < min || value > max)
    fail(`${found.source}: must be an integer from ${min} to ${max} (got ${JSON.stringify(found.value)})`);
  return value;
}

async function main(): Promise<void> {
  const portSetting = setting('port', ['EMBEDDED_EVENTSTORE_PORT', process.env.EMBEDDED_EVENTSTORE_PORT]);
  const port = integer(portSetting, 2113, 0, 65535)!;
  const maxAppendSize = integer(setting('max-append-size'), undefined, 1, 2 ** 31 - 1);
  const groupCommitWindowMs = integer(setting('group-commit-window-ms'), undefined, 0, 1000);
  const synchronousSetting = setting('synchronous', [
    'EMBEDDED_EVENTSTORE_SYNCHRONOUS',
    process.env.EMBEDDED_EVENTSTORE_SYNCHRONOUS,
  ]);
  const synchronous = (synchronousSetting?.value ?? 'FULL').toUpperCase();
  if (synchronous !== 'FULL' && synchronous !== 'NORMAL')
    fail(
      `${synchronousSetting!.source}: must be FULL or NORMAL (got ${JSON.stringify(synchronousSetting!.value)})`,
    );
  const scavengeSetting = setting('scavenge-interval-ms', [
    'EMBEDDED_EVENTSTORE_SCAVENGE_INTERVAL_MS',
    process.env.EMBEDDED_EVENTSTORE_SCAVENGE_INTERVAL_MS,
  ]);
  const scavengeInterval = parseScavengeInterval(scavengeSetting?.source ?? '', scavengeSetting?.value);
  if ('error' in scavengeInterval) fail(scavengeInterval.error);
  const hostSetting = setting('host', ['EMBEDDED_EVENTSTORE_HOST', process.env.EMBEDDED_EVENTSTORE_HOST]);
  const host = hostSetting?.value.trim() ?? '127.0.0.1';
  if (!host || /[\s/]/.test(host))
    fail(
      `${hostSetting!.source}: must be a host name or IP address to bind (got ${JSON.stringify(hostSetting!.value)})`,
    );
  // A name that resolves to nothing (grpc-js would say only "Name resolution failed for target dns:…"), or an
  // address of no interface here: refused with the setting's name before anything is opened.
  const hostProblem = hostSetting ? await listenHostProblem(hostSetting.source, host) : undefined;
  if (hostProblem !== undefined) fail(hostProblem);
  // Checked as the API, the projector and the CLI check DATA_DIR (the store would fail on mkdir, ENOTDIR), and
  // as the API checks it for its embedded store: this user must be able to write there (EACCES).
  const problems: string[] = [];
  const dataFlag = arg('data');
  const writable = { writable: true };
  let dataDir: string;
  let dataSetting: { name: string; dir: string };
  if (dataFlag !== undefined) {
    dataDir = checkDataDir(path.resolve(dataFlag), problems, '--data', writable);
    dataSetting = { name: '--data', dir: dataDir };
  } else {
    const root = checkDataDir(path.resolve(process.env.DATA_DIR || './data'), problems, 'DATA_DIR', writable);
    dataDir = path.join(root, 'eventstore');
    if (problems.length === 0) checkDataDir(dataDir, problems, 'DATA_DIR', writable);
    dataSetting = { name: 'DATA_DIR', dir: root };
  }
  if (problems.length > 0) fail(problems[0]!);
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
    dataDir,
    maxAppendSize,
    synchronous,
    groupCommitWindowMs,
    scavengeIntervalMs: scavengeInterval.value,
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
