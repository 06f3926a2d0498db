/**
 * The embedded event store run alone (`npm run start:eventstore`): its settings from the command line or else
 * the environment, read as the API, the projector and the CLI read the variables they share with it
 * (`envSetting`: trimmed, and unset when empty or only whitespace). The first bad value stops the start with one
 * line naming the flag or variable (`StoreConfigError`). Whether `--host` is an address of this machine is
 * checked after this, by `listenHostProblem`.
 */
import path from 'node:path';
import { checkDataDir } from './data-dir';
import { envSetting } from './env-setting';
import { parseScavengeInterval } from './scavenge-interval';
import type { SynchronousMode } from './storage/sqlite-event-log';
import { MAX_GROUP_COMMIT_WINDOW_MS } from './storage/group-commit';

type Env = Record<string, string | undefined>;

/** A value and the flag or variable it came from, to name when it is refused. */
export interface Setting {
  value: string;
  source: string;
}

export interface StandaloneStoreConfig {
  port: number;
  /** `--port` or EMBEDDED_EVENTSTORE_PORT when one was given. */
  portSetting?: Setting;
  host: string;
  /** `--host` or EMBEDDED_EVENTSTORE_HOST when one was given. */
  hostSetting?: Setting;
  maxAppendSize?: number;
  groupCommitWindowMs?: number;
  synchronous: SynchronousMode;
  scavengeIntervalMs: number;
  /** The store's own directory: `--data`, or `$DATA_DIR/eventstore`. */
  dataDir: string;
  /** The setting that chose it and the directory it names, for a file problem found once the start is under way. */
  dataSetting: { name: string; dir: string };
}

export class StoreConfigError extends Error {
  override readonly name = 'StoreConfigError';
}

/** The value of `--name value` or `--name=value` in `argv` (the arguments after the script). */
function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0) return argv[i + 1];
  const inline = argv.find((a) => a.startsWith(`--${name}=`));
  return inline?.slice(name.length + 3);
}

function integer(found: Setting | undefined, fallback: number | undefined, min: number, max: number) {
  if (!found) return fallback;
  const value = Number(found.value);
  if (!/^\d+$/.test(found.value.trim()) || !Number.isSafeInteger(value) || value < min || value > max)
    throw new StoreConfigError(
      `${found.source}: must be an integer from ${min} to ${max} (got ${JSON.stringify(found.value)})`,
    );
  return value;
}

export function parseStandaloneStoreConfig(
  argv: string[],
  env: Env,
  cwd = process.cwd(),
): StandaloneStoreConfig {
  /** A value from the command line or else the environment (as `envSetting` reads it). */
  const setting = (flag: string, variable?: string, fromEnv?: string): Setting | undefined => {
    const fromFlag = arg(argv, flag);
    if (fromFlag !== undefined) return { value: fromFlag, source: `--${flag}` };
    const value = envSetting(fromEnv);
    return variable && value !== undefined ? { value, source: variable } : undefined;
  };
  const portSetting = setting('port', 'EMBEDDED_EVENTSTORE_PORT', env.EMBEDDED_EVENTSTORE_PORT);
  const port = integer(portSetting, 2113, 0, 65535)!;
  const maxAppendSize = integer(setting('max-append-size'), undefined, 1, 2 ** 31 - 1);
  const groupCommitWindowMs = integer(
    setting(
      'group-commit-window-ms',
      'EMBEDDED_EVENTSTORE_GROUP_COMMIT_WINDOW_MS',
      env.EMBEDDED_EVENTSTORE_GROUP_COMMIT_WINDOW_MS,
    ),
    undefined,
    0,
    MAX_GROUP_COMMIT_WINDOW_MS,
  );
  const synchronousSetting = setting(
    'synchronous',
    'EMBEDDED_EVENTSTORE_SYNCHRONOUS',
    env.EMBEDDED_EVENTSTORE_SYNCHRONOUS,
  );
  const synchronous = (synchronousSetting?.value ?? 'FULL').toUpperCase();
  if (synchronous !== 'FULL' && synchronous !== 'NORMAL')
    throw new StoreConfigError(
      `${synchronousSetting!.source}: must be FULL or NORMAL (got ${JSON.stringify(synchronousSetting!.value)})`,
    );
  const scavengeSetting = setting(
    'scavenge-interval-ms',
    'EMBEDDED_EVENTSTORE_SCAVENGE_INTERVAL_MS',
    env.EMBEDDED_EVENTSTORE_SCAVENGE_INTERVAL_MS,
  );
  const scavengeInterval = parseScavengeInterval(scavengeSetting?.source ?? '', scavengeSetting?.value);
  if ('error' in scavengeInterval) throw new StoreConfigError(scavengeInterval.error);
  const hostSetting = setting('host', 'EMBEDDED_EVENTSTORE_HOST', env.EMBEDDED_EVENTSTORE_HOST);
  const host = hostSetting?.value.trim() ?? '127.0.0.1';
  if (!host || /[\s/]/.test(host))
    throw new StoreConfigError(
      `${hostSetting!.source}: must be a host name or IP address to bind (got ${JSON.stringify(hostSetting!.value)})`,
    );
  // Checked as the API, the projector and the CLI check DATA_DIR (the store would fail on mkdir, ENOTDIR), and
  // as the API checks it for its embedded store: this user must be able to write there (EACCES).
  const problems: string[] = [];
  const dataFlag = arg(argv, 'data');
  const writable = { writable: true };
  let dataDir: string;
  let dataSetting: { name: string; dir: string };
  if (dataFlag !== undefined) {
    dataDir = checkDataDir(path.resolve(cwd, dataFlag), problems, '--data', writable);
    dataSetting = { name: '--data', dir: dataDir };
  } else {
    const root = checkDataDir(
      path.resolve(cwd, envSetting(env.DATA_DIR) ?? './data'),
      problems,
      'DATA_DIR',
      writable,
    );
    dataDir = path.join(root, 'eventstore');
    if (problems.length === 0) checkDataDir(dataDir, problems, 'DATA_DIR', writable);
    dataSetting = { name: 'DATA_DIR', dir: root };
  }
  if (problems.length > 0) throw new StoreConfigError(problems[0]!);
  return {
    port,
    portSetting,
    host,
    hostSetting,
    maxAppendSize,
    groupCommitWindowMs,
    synchronous,
    scavengeIntervalMs: scavengeInterval.value,
    dataDir,
    dataSetting,
  };
}
