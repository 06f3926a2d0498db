/**
 * API keys of both APIs, parsed in one place. A key is never logged or stored: requests and events name
 * it by its id, a short SHA-256 fingerprint that stays the same when the key list is reordered.
 */
import { createHash } from 'node:crypto';

export interface IntegrationKey {
  keyId: string;
  applicationId: number;
}

export interface ManagementKey {
  keyId: string;
  /** Application ids the key may manage, or `'*'` for all. */
  applications: number[] | '*';
}

export const keyIdOf = (key: string): string =>
  `key-${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;

const KEY_PATTERN = /^[A-Za-z0-9._~+/-]{8,256}$/;
const KEY_CHARACTER = /^[A-Za-z0-9._~+/-]$/;
const KEY_CHARACTERS = 'A-Z a-z 0-9 . _ ~ + / -';

/**
 * What is wrong with `key` (one `KEY_PATTERN` refuses), naming the character a key may not hold: `=`, the
 * separator of the list, with the reason and a way to make a key instead (a base64 key's padding is one).
 */
function keyProblem(key: string, variable?: string): string {
  const form = variable === 'MANAGEMENT_API_KEYS' ? 'key=applications' : 'key=application';
  if (key.includes('='))
    return (
      `holds "=", which a key may not: in ${variable ?? 'INTEGRATION_API_KEYS and MANAGEMENT_API_KEYS'} "=" separates a key from what it gives access to ` +
      `(${form}); for a base64 key (openssl rand -base64 ends one with "=") leave the trailing "=" out, or make ` +
      'a key with openssl rand -hex 32'
    );
  const bad = [...key].find((character) => !KEY_CHARACTER.test(character));
  if (bad !== undefined)
    return `holds ${characterName(bad)}, which a key may not: keys are 8..256 characters of ${KEY_CHARACTERS}`;
  const why = [...key].length < 8 ? ' (a shorter one is too easy to guess to be a secret)' : '';
  return `must be 8..256 characters of ${KEY_CHARACTERS}${why}`;
}

/** A character for a message: a space or another invisible one by name or code point, else quoted. */
function characterName(character: string): string {
  if (character === ' ') return 'a space';
  if (/^[\p{L}\p{N}\p{P}\p{S}]$/u.test(character)) return `"${character}"`;
  return `U+${character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * What is wrong with `key` as an API key, said after the key's name ("must be 8..256 characters of …"); undefined
 * for a good one. The one rule for keys of both APIs, from the environment or the development keys file.
 */
export function apiKeyProblem(key: string, variable?: string): string | undefined {
  return KEY_PATTERN.test(key) ? undefined : keyProblem(key, variable);
}

/** Whether a key is both an integration and a management key (refused: each key belongs to one API). */
export const sharesAKey = (
  integration: Iterable<string>,
  management: ReadonlyMap<string, unknown>,
): boolean => [...integration].some((key) => management.has(key));

const parseApplicationId = (text: string): number | undefined =>
  /^[1-9]\d{0,15}$/.test(text) && Number.isSafeInteger(Number(text)) ? Number(text) : undefined;

function splitPairs(value: string, variable: string, errors: string[]): [string, string][] {
  const pairs: [string, string][] = [];
  for (const entry of value.split(',')) {
    const trimmed = entry.trim();
    if (trimmed === '') continue;
    const separator = trimmed.lastIndexOf('=');
    if (separator <= 0) {
      errors.push(`${variable}: "${mask(trimmed)}" is not of the form key=value`);
      continue;
    }
    const key = trimmed.slice(0, separator);
    const problem = apiKeyProblem(key, variable);
    if (problem !== undefined) {
      errors.push(`${variable}: key "${mask(key)}" ${problem}`);
      continue;
    }
    pairs.push([key, trimmed.slice(separator + 1)]);
  }
  return pairs;
}

/** `key1=1,key2=2` → key → application. */
export function parseIntegrationKeys(value: string, errors: string[]): Map<string, IntegrationKey> {
  const keys = new Map<string, IntegrationKey>();
  for (const [key, app] of splitPairs(value, 'INTEGRATION_API_KEYS', errors)) {
    const applicationId = parseApplicationId(app);
    if (applicationId === undefined) {
      errors.push(
        `INTEGRATION_API_KEYS: application id "${app}" of key ${keyIdOf(key)} must be an integer ≥ 1`,
      );
    } else if (keys.has(key)) {
      errors.push(`INTEGRATION_API_KEYS: key ${keyIdOf(key)} is listed twice`);
    } else {
      keys.set(key, { keyId: keyIdOf(key), applicationId });
    }
  }
  return keys;
}

/** `mkey1=1|2,mkey2=*` → key → applications. */
export function parseManagementKeys(value: string, errors: string[]): Map<string, ManagementKey> {
  const keys = new Map<string, ManagementKey>();
  for (const [key, apps] of splitPairs(value, 'MANAGEMENT_API_KEYS', errors)) {
    if (keys.has(key)) {
      errors.push(`MANAGEMENT_API_KEYS: key ${keyIdOf(key)} is listed twice`);
      continue;
    }
    if (apps === '*') {
      keys.set(key, { keyId: keyIdOf(key), applications: '*' });
      continue;
    }
    const ids = apps.split('|').map(parseApplicationId);
    if (ids.length === 0 || ids.some((id) => id === undefined)) {
      errors.push(
        `MANAGEMENT_API_KEYS: "${apps}" of key ${keyIdOf(key)} must be application ids joined by | or *`,
      );
      continue;
    }
    keys.set(key, { keyId: keyIdOf(key), applications: ids as number[] });
  }
  return keys;
}

/** Shows the first characters only, so a malformed secret does not end up whole in a log. */
const mask = (text: string): string => (text.length <= 4 ? text : `${text.slice(0, 4)}…`);
