import { statSync } from 'node:fs';

/**
 * `dataDir`, after noting in `problems` if it names something that is not a directory, or cannot be one (a
 * file on its path: ENOTDIR); a missing one is created. Every process that keeps data under DATA_DIR — the API,
 * the projector, the replay CLI and the embedded event store run alone — refuses such a value with this
 * message before it opens anything. `name` is the setting to blame (`--data` for the standalone store's flag).
 */
export function checkDataDir(dataDir: string, problems: string[], name = 'DATA_DIR'): string {
  if (!directoryOrMissing(dataDir)) problems.push(`${name}: ${dataDir} is not a directory`);
  return dataDir;
}

function directoryOrMissing(dir: string): boolean {
  try {
    return statSync(dir, { throwIfNoEntry: false })?.isDirectory() ?? true;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOTDIR') return false;
    throw error;
  }
}
