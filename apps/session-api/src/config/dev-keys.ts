/**
 * Development keys for `npm start` without configured keys: created once, kept under DATA_DIR so they stay
 * the same across restarts, and printed at start-up. Both belong to application 1.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { apiKeyProblem, keyIdOf, type IntegrationKey, type ManagementKey } from './api-keys';

export interface DevKeys {
  integrationKey: string;
  managementKey: string;
}

export const DEV_KEYS_FILE = 'dev-api-keys.json';

const FIELDS = ['integrationKey', 'managementKey'] as const;

/**
 * The development keys file exists but holds no usable pair of keys. The start refuses with this one line: the
 * file is never replaced, since clients configured with the keys in it would all get 401 with new ones.
 */
export class DevKeysFileError extends Error {
  override readonly name = 'DevKeysFileError';
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(
      `The development keys file ${file} cannot be used: ${problems.join('; ')}. It must hold ` +
        '{"integrationKey": "…", "managementKey": "…"}, two different keys, each 8..256 characters of ' +
        'A-Z a-z 0-9 . _ ~ + / -. Correct it, or delete it to have new keys made at the next start (clients ' +
        'then need the new keys).',
    );
  }
}

/**
 * What is wrong with the parsed content of the development keys file: the rules of INTEGRATION_API_KEYS and
 * MANAGEMENT_API_KEYS (`apiKeyProblem`, and no key for both APIs), and exactly the two fields. No key is quoted.
 */
export function devKeysProblems(content: unknown): string[] {
  if (typeof content !== 'object' || content === null || Array.isArray(content))
    return ['it holds no JSON object'];
  const fields = content as Record<string, unknown>;
  const problems: string[] = [];
  for (const name of Object.keys(fields))
    if (!(FIELDS as readonly string[]).includes(name)) problems.push(`unknown field "${name}"`);
  for (const name of FIELDS) {
    const value = fields[name];
    if (value === undefined) problems.push(`"${name}" is missing`);
    else if (typeof value !== 'string') problems.push(`"${name}" is not a string`);
    else {
      const problem = apiKeyProblem(value);
      if (problem !== undefined) problems.push(`"${name}" ${problem}`);
    }
  }
  const { integrationKey, managementKey } = fields;
  if (problems.length === 0 && integrationKey === managementKey)
    problems.push('"integrationKey" and "managementKey" are the same key; each key belongs to one API');
  return problems;
}

/**
 * The development keys kept under DATA_DIR; undefined when there is no file. A file that holds no usable pair of
 * keys (empty, not JSON, a misspelt field, a key the environment's rules refuse) throws a `DevKeysFileError`.
 */
export function readDevKeys(dataDir: string): DevKeys | undefined {
  const file = path.join(dataDir, DEV_KEYS_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // EISDIR, EACCES…: Node's message names no file.
    throw Object.assign(new Error(`Cannot read the development keys ${file}: ${(error as Error).message}`), {
      code: (error as NodeJS.ErrnoException).code,
      path: file,
      cause: error,
    });
  }
  if (text.trim() === '') throw new DevKeysFileError(file, ['it is empty']);
  let content: unknown;
  try {
    content = JSON.parse(text);
  } catch {
    // JSON.parse's message quotes the text around the error, which may be a key.
    throw new DevKeysFileError(file, ['it is not valid JSON']);
  }
  const problems = devKeysProblems(content);
  if (problems.length > 0) throw new DevKeysFileError(file, problems);
  const { integrationKey, managementKey } = content as DevKeys;
  return { integrationKey, managementKey };
}

/** The kept development keys, or new ones written to a new file. An existing file is never written over. */
export function loadOrCreateDevKeys(dataDir: string): { keys: DevKeys; created: boolean } {
  const file = path.join(dataDir, DEV_KEYS_FILE);
  const kept = readDevKeys(dataDir);
  if (kept !== undefined) return { keys: kept, created: false };
  const keys: DevKeys = {
    integrationKey: `dev-int-${randomBytes(18).toString('base64url')}`,
    managementKey: `dev-mgmt-${randomBytes(18).toString('base64url')}`,
  };
  fs.mkdirSync(dataDir, { recursive: true });
  if (!createDurably(file, `${JSON.stringify(keys, null, 2)}\n`)) {
    // Another process created it in the meantime: its keys are the ones.
    return { keys: readDevKeys(dataDir)!, created: false };
  }
  return { keys, created: true };
}

const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * Creates the file whole or not at all, readable by its owner alone, and only if there is none: a temporary file
 * beside it, fsynced, hard-linked to the name (which fails when the name exists), the directory fsynced. Written in
 * place, a crash or a full disk left an empty file. False when the file already existed.
 */
function createDurably(file: string, content: string): boolean {
  const temporary = `${file}.${process.pid}.tmp`;
  let created = true;
  try {
    const fd = fs.openSync(temporary, 'w', 0o600);
    try {
      fs.writeSync(fd, content);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.linkSync(temporary, file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') created = false;
      // A file system without hard links: renamed, once more checked not to be there.
      else if (code !== undefined && NO_HARD_LINKS.has(code) && !fs.existsSync(file))
        fs.renameSync(temporary, file);
      else throw error;
    }
  } finally {
    fs.rmSync(temporary, { force: true });
  }
  const dir = fs.openSync(path.dirname(file), 'r');
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
  return created;
}

export const devIntegrationKeys = (keys: DevKeys): Map<string, IntegrationKey> =>
  new Map([[keys.integrationKey, { keyId: keyIdOf(keys.integrationKey), applicationId: 1 }]]);

export const devManagementKeys = (keys: DevKeys): Map<string, ManagementKey> =>
  new Map([[keys.managementKey, { keyId: keyIdOf(keys.managementKey), applications: [1] }]]);
