/**
 * Where the CLI connects: the same variables, read the same way, as the projector (`parseStoreLocation`). By
 * default, the store `npm start` serves — the embedded event store on 127.0.0.1:${EMBEDDED_EVENTSTORE_PORT:-2113}
 * and SQLite read models under DATA_DIR. Its own variable, REPLAY_PROGRESS_INTERVAL_MS, is checked with them:
 * every bad value is refused before a command runs, each named with what it may be.
 */
import { parseStoreLocation, type Env, type StoreLocation } from '../../projector/src/config';
import { CliError } from './cli-error';

export type ReplayConfig = StoreLocation;

/** REPLAY_PROGRESS_INTERVAL_MS: default and accepted range (0: a line at every update; at most an hour). */
export const PROGRESS_INTERVAL_MS = { default: 5000, min: 0, max: 3_600_000 } as const;

/**
 * How often a plain progress line is printed when stderr is not a terminal. Unset or empty: the default, as
 * every variable of the engine reads an empty value; a bad value is noted in `problems` (the default stands in).
 */
export function progressIntervalMs(env: Env, problems: string[] = []): number {
  const text = env.REPLAY_PROGRESS_INTERVAL_MS?.trim();
  if (text === undefined || text === '') return PROGRESS_INTERVAL_MS.default;
  const { min, max } = PROGRESS_INTERVAL_MS;
  const value = /^\d{1,9}$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) {
    problems.push(`REPLAY_PROGRESS_INTERVAL_MS: "${text}" is not a number of milliseconds (${min}..${max})`);
    return PROGRESS_INTERVAL_MS.default;
  }
  return value;
}

export function replayConfig(env: Env, cwd = process.cwd()): ReplayConfig {
  const problems: string[] = [];
  const location = parseStoreLocation(env, cwd, problems);
  progressIntervalMs(env, problems);
  // One bad variable in one line; several listed, one a line.
  if (problems.length === 1) throw new CliError(`invalid configuration: ${problems[0]}`);
  if (problems.length > 1) {
    throw new CliError(`invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
  }
  return location;
}
