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
    throw error;
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
  fs.writeFileSync(file, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
  return { keys, created: true };
}

export const devIntegrationKeys = (keys: DevKeys): Map<string, IntegrationKey> =>
  new Map([[keys.integrationKey, { keyId: keyIdOf(keys.integrationKey), applicationId: 1 }]]);

export const devManagementKeys = (keys: DevKeys): Map<string, ManagementKey> =>
  new Map([[keys.managementKey, { keyId: keyIdOf(keys.managementKey), applications: [1] }]]);
