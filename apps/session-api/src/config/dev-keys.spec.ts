import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEV_KEYS_FILE, DevKeysFileError, loadOrCreateDevKeys, readDevKeys } from './dev-keys';

describe('development keys under DATA_DIR', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dev-keys-'));
  });
  afterEach(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const file = () => path.join(dataDir, DEV_KEYS_FILE);
  const mode = () => fs.statSync(file()).mode & 0o777;

  it('creates them once, readable by the owner alone, with nothing left beside the file', () => {
    const created = loadOrCreateDevKeys(dataDir);
    expect(created.created).toBe(true);
    expect(mode()).toBe(0o600);
    expect(fs.readdirSync(dataDir)).toEqual([DEV_KEYS_FILE]);
    expect(loadOrCreateDevKeys(dataDir)).toEqual({ keys: created.keys, created: false });
  });

  const refusal = (why: string) =>
    `The development keys file ${file()} cannot be used: ${why}. It must hold {"integrationKey": "…", ` +
    '"managementKey": "…"}, two different keys, each 8..256 characters of A-Z a-z 0-9 . _ ~ + / -. Correct it, ' +
    'or delete it to have new keys made at the next start (clients then need the new keys).';

  it.each([
    ['empty (a crash mid-write of an earlier version)', '', 'it is empty'],
    ['cut short', '{"integrationKey":"dev-int-abcdefgh"', 'it is not valid JSON'],
    ['not an object', '["dev-int-abcdefgh","dev-mgmt-abcdefgh"]', 'it holds no JSON object'],
    [
      'hand-edited with a misspelt field',
      '{"integration_key":"dev-int-abcdefgh","managementKey":"dev-mgmt-abcdefgh"}',
      'unknown field "integration_key"; "integrationKey" is missing',
    ],
    [
      'holding a key that is not a string',
      '{"integrationKey":12345678,"managementKey":"dev-mgmt-abcdefgh"}',
      '"integrationKey" is not a string',
    ],
    [
      'holding keys INTEGRATION_API_KEYS and MANAGEMENT_API_KEYS would refuse',
      '{"integrationKey":"a","managementKey":"dev-mgmt-abc def"}',
      '"integrationKey" must be 8..256 characters of A-Z a-z 0-9 . _ ~ + / - (a shorter one is too easy to guess ' +
        'to be a secret); "managementKey" holds a space, which a key may not: keys are 8..256 characters of A-Z a-z 0-9 . _ ~ + / -',
    ],
    [
      'holding one key for both APIs',
      '{"integrationKey":"same-key-for-both","managementKey":"same-key-for-both"}',
      '"integrationKey" and "managementKey" are the same key; each key belongs to one API',
    ],
  ])('refuses a file %s, naming the file, why and what to do, and leaves it as it is', (_, content, why) => {
    fs.writeFileSync(file(), content, { mode: 0o644 });
    expect(() => loadOrCreateDevKeys(dataDir)).toThrow(new DevKeysFileError(file(), [why]));
    expect(() => loadOrCreateDevKeys(dataDir)).toThrow(refusal(why));
    expect(fs.readFileSync(file(), 'utf8')).toBe(content);
    expect(fs.readdirSync(dataDir)).toEqual([DEV_KEYS_FILE]);
  });

  it('refuses the one-character key given for both APIs that the environment would refuse', () => {
    fs.writeFileSync(file(), '{"integrationKey":"a","managementKey":"a"}');
    expect(() => readDevKeys(dataDir)).toThrow(DevKeysFileError);
    expect(() => readDevKeys(dataDir)).toThrow(/"integrationKey" must be 8\.\.256 characters/);
  });

  it('reads a hand-written file with keys the environment would take', () => {
    fs.writeFileSync(
      file(),
      '{ "managementKey": "backoffice-key-0001", "integrationKey": "checkout-key-0001" }\n',
    );
    expect(loadOrCreateDevKeys(dataDir)).toEqual({
      keys: { integrationKey: 'checkout-key-0001', managementKey: 'backoffice-key-0001' },
      created: false,
    });
  });

  it('names the file when it cannot be read (a directory in its place)', () => {
    fs.mkdirSync(file());
    expect(() => loadOrCreateDevKeys(dataDir)).toThrow(
      new RegExp(
        `^Cannot read the development keys ${file().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: EISDIR`,
      ),
    );
  });
});
