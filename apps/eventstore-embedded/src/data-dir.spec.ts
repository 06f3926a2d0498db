import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkDataDir } from './data-dir';

describe('checkDataDir', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'data-dir-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('takes a directory, or one that does not exist yet (it is created at start-up)', () => {
    const problems: string[] = [];
    expect(checkDataDir(dir, problems)).toBe(dir);
    expect(checkDataDir(join(dir, 'not-there-yet', 'deeper'), problems)).toBe(
      join(dir, 'not-there-yet', 'deeper'),
    );
    expect(problems).toEqual([]);
  });

  it('given a file, or a path through a file (ENOTDIR), names the setting and the path', () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    const problems: string[] = [];
    checkDataDir(file, problems);
    checkDataDir(join(file, 'eventstore'), problems, '--data');
    expect(problems).toEqual([
      `DATA_DIR: ${file} is not a directory`,
      `--data: ${join(file, 'eventstore')} is not a directory`,
    ]);
  });
});
