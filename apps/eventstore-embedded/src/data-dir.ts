import { accessSync, constants, statSync } from 'node:fs';
import * as path from 'node:path';

/**
 * `dataDir`, after noting in `problems` if it names something that is not a directory, or cannot be one (a
 * file on its path: ENOTDIR); a missing one is created. Every process that keeps data under DATA_DIR — the API,
 * the projector, the replay CLI and the embedded event store run alone — refuses such a value with this
 * message before it opens anything. `name` is the setting to blame (`--data` for the standalone store's flag).
 *
 * With `writable`, for a process that will write there (the event store, SQLite read models, development keys),
 * also if this process's user cannot create files in it — or create it, when it is missing — instead of an
 * `EACCES … mkdir` (or SQLite's `unable to open database file`) once the start is under way.
 */
export function checkDataDir(
  dataDir: string,
  problems: string[],
  name = 'DATA_DIR',
  { writable = false }: { writable?: boolean } = {},
): string {
  if (!directoryOrMissing(dataDir)) problems.push(`${name}: ${dataDir} is not a directory`);
  else if (writable) {
    const problem = writeProblem(dataDir, name);
    if (problem !== undefined) problems.push(problem);
  }
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

/** The codes of a file-system refusal that the directory's owner or mode (or a read-only mount) causes. */
const DENIED = new Set(['EACCES', 'EPERM', 'EROFS']);

/**
 * `what` must be writable by this process's user, named with its uid: the remedy of every message here. On a
 * read-only file system (EROFS) no owner or mode helps: the remedy is the mount.
 */
function mustBeWritable(name: string, what: string, code?: string): string {
  if (code === 'EROFS')
    return `${what} is on a read-only file system — mount it read-write, or set ${name} to a directory on a writable one`;
  const uid = process.getuid?.();
  const user = uid === undefined ? 'this process’s user' : `this process’s user (uid ${uid})`;
  return `${what} must be writable by ${user} — change its owner or mode, or set ${name} to another directory`;
}

/**
 * Why this process could not create files in `dir` (a directory, or missing), or undefined: `dir` itself, or the
 * nearest directory above it that exists (where `mkdir -p` would start), must let it write and enter.
 */
function writeProblem(dir: string, name: string): string | undefined {
  let existing = dir;
  while (statSync(existing, { throwIfNoEntry: false }) === undefined && path.dirname(existing) !== existing)
    existing = path.dirname(existing);
  try {
    accessSync(existing, constants.W_OK | constants.X_OK);
    return undefined;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code !== 'string' || !DENIED.has(code)) throw error;
    return existing === dir
      ? `${name}: ${dir} is not writable (${code}): ${mustBeWritable(name, 'the directory and what is in it', code)}`
      : `${name}: ${dir} cannot be created: ${existing} is not writable (${code}): ${mustBeWritable(name, 'it', code)}`;
  }
}

/** SQLite's words for a database file it could not open or write (a file or directory it may not write). */
const SQLITE_DENIED = /unable to open database file|attempt to write a readonly database/;

/**
 * The problem in the form of the other configuration problems when `error` is the file system refusing a write
 * under `dataDir` — Node's `EACCES: permission denied, mkdir '…'` (also as the bare message a worker thread passes
 * on), or SQLite's `unable to open database file` for a file there — naming the setting, the path and the user
 * who must be able to write it; undefined for any other error. The start-up check (`checkDataDir` with
 * `writable`) finds a directory that is not writable; this covers what is under it (a log file left by another
 * user, a read-only `eventstore` directory).
 */
export function dataDirErrorMessage(error: unknown, dataDir: string, name = 'DATA_DIR'): string | undefined {
  const message = error instanceof Error ? error.message : String(error);
  const { code, path: file } = (error ?? {}) as { code?: unknown; path?: unknown };
  let found: { file: string; reason: string } | undefined;
  if (typeof code === 'string' && DENIED.has(code) && typeof file === 'string')
    found = { file, reason: code };
  const fromMessage = /\b(EACCES|EPERM|EROFS): [^,]*, \w+ '([^']+)'/.exec(message);
  if (!found && fromMessage) found = { file: fromMessage[2]!, reason: fromMessage[1]! };
  const sqlite = SQLITE_DENIED.exec(message);
  if (!found && sqlite) {
    // The file is named in the message that wraps SQLite's ("Cannot open the event store's log <file>: …").
    const named = message
      .split(/[\s'"(]+/)
      .map((word) => word.replace(/[):,;]+$/, ''))
      .find((word) => path.isAbsolute(word) && within(word, dataDir));
    if (named !== undefined) found = { file: named, reason: sqlite[0] };
  }
  if (!found || !within(path.resolve(found.file), dataDir)) return undefined;
  const refused = found.reason === 'EROFS' ? 'cannot write' : 'permission denied for';
  return `${name}: ${refused} ${found.file} (${found.reason}): ${mustBeWritable(name, `${dataDir} and what is in it`, found.reason)}`;
}

function within(file: string, dir: string): boolean {
  const relative = path.relative(path.resolve(dir), path.resolve(file));
  return !relative.startsWith('..') && !path.isAbsolute(relative);
}
