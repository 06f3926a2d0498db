/**
 * Where the CLI connects: the same variables, read the same way, as the projector (`parseStoreLocation`). By
 * default, the store `npm start` serves — the embedded event store on 127.0.0.1:${EMBEDDED_EVENTSTORE_PORT:-2113}
 * and SQLite read models under DATA_DIR.
 */
import { parseStoreLocation, type Env, type StoreLocation } from '../../projector/src/config';
import { CliError } from './cli-error';

export type ReplayConfig = StoreLocation;

export function replayConfig(env: Env, cwd = process.cwd()): ReplayConfig {
  const problems: string[] = [];
  const location = parseStoreLocation(env, cwd, problems);
  if (problems.length > 0) {
    throw new CliError(`invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
  }
  return location;
}
