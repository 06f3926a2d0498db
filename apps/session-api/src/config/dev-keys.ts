/**
 * Development keys for `npm start` without configured keys: created once, kept under DATA_DIR so they stay
 * the same across restarts, and printed at start-up. Both belong to application 1.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { keyIdOf, type IntegrationKey, type ManagementKey } from './api-keys';

export interface DevKeys {
  integrationKey: string;
  managementKey: string;
}

export const DEV_KEYS_FILE = 'dev-api-keys.json';

/** The development keys kept under DATA_DIR; undefined when there are none (no file, or not a pair of keys). */
export function readDevKeys(dataDir: string): DevKeys | undefined {
  const file = path.join(dataDir, DEV_KEYS_FILE);
  if (!fs.existsSync(file)) return undefined;
  let keys: unknown;
  try {
    keys = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    if (error instanceof SyntaxError) return undefined; // written anew, as if there were none
    // EISDIR, EACCES…: Node's message names no file.
    throw Object.assign(new Error(`Cannot read the development keys ${file}: ${(error as Error).message}`), {
      code: (error as NodeJS.ErrnoException).code,
      path: file,
      cause: error,
    });
  }
  const { integrationKey, managementKey } = (keys ?? {}) as Partial<DevKeys>;
  return typeof integrationKey === 'string' && typeof managementKey === 'string'
    ? { integrationKey, managementKey }
    : undefined;
}

export function loadOrCreateDevKeys(dataDir: string): { keys: DevKeys; created: boolean } {
  const file = path.join(dataDir, DEV_KEYS_FILE);
  const kept = readDevKeys(dataDir);
  if (kept !== undefined) return { keys: kept, created: false };
  const keys: DevKeys = {
    integrationKey: `dev-int-${randomBytes(18).toString('base64url')}`,
    managementKey: `dev-mgmt-${randomBytes(18).toString('base64url')}`,
  };
  fs.mkdirSync(dataDir, { recursive: true });
  writeDurably(file, `${JSON.stringify(keys, null, 2)}\n`);
  return { keys, created: true };
}

/**
 * Writes the file whole or not at all, readable by its owner alone: a temporary file beside it, fsynced, renamed
 * over it, the directory fsynced. Written in place, a crash or a full disk left an empty file, and the next start
 * made new keys, which every client configured with the old ones then got 401 for; a damaged file kept its mode.
 */
function writeDurably(file: string, content: string): void {
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    const fd = fs.openSync(temporary, 'w', 0o600);
    try {
      fs.writeSync(fd, content);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temporary, file);
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw error;
  }
  const dir = fs.openSync(path.dirname(file), 'r');
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
}

export const devIntegrationKeys = (keys: DevKeys): Map<string, IntegrationKey> =>
  new Map([[keys.integrationKey, { keyId: keyIdOf(keys.integrationKey), applicationId: 1 }]]);

export const devManagementKeys = (keys: DevKeys): Map<string, ManagementKey> =>
  new Map([[keys.managementKey, { keyId: keyIdOf(keys.managementKey), applications: [1] }]]);
