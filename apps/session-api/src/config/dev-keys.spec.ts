import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DEV_KEYS_FILE, loadOrCreateDevKeys, readDevKeys } from './dev-keys';

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

  it('replaces an empty or damaged file (a crash mid-write of an earlier version) with a whole one of mode 600', () => {
    fs.writeFileSync(file(), '', { mode: 0o644 });
    fs.chmodSync(file(), 0o644);
    const replaced = loadOrCreateDevKeys(dataDir);
    expect(replaced.created).toBe(true);
    expect(mode()).toBe(0o600);
    expect(readDevKeys(dataDir)).toEqual(replaced.keys);
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
