/**
 * The tier scripts (`npm run test:unit` / `test:int` / `test:e2e`) take a spec file after `--`, as
 * `npm run test:unit -- libs/session-domain/src/transitions.spec.ts`. Jest's `--selectProjects` takes a list:
 * were it the script's last option, it would read the file as one more project name, find no such project, say
 * nothing and run the whole tier. Each case runs the script's own arguments with `--listTests`, as npm would.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const scripts: Record<string, string> = JSON.parse(
  fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'),
).scripts;
const JEST = require.resolve('jest/bin/jest', { paths: [ROOT] });

function listedBy(script: string, ...appended: string[]): string[] {
  const [command, ...args] = scripts[script].split(' ');
  expect(command).toBe('jest');
  const out = execFileSync(process.execPath, [JEST, ...args, ...appended, '--listTests'], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return out
    .split('\n')
    .filter((line) => line.startsWith('/'))
    .map((file) => path.relative(ROOT, file));
}

describe('the tier scripts of package.json', () => {
  it.each([
    ['test:unit', 'tools/register.spec.ts'],
    ['test:int', 'libs/read-models/src/migrations.int-spec.ts'],
    ['test:e2e', 'test/projector-start.e2e-spec.ts'],
  ])('%s -- %s runs that one file', (script, file) => {
    expect(listedBy(script, file)).toEqual([file]);
  });

  it('test:unit -- with a spec of another tier runs nothing of it', () => {
    expect(listedBy('test:unit', 'test/projector-start.e2e-spec.ts')).toEqual([]);
  });
});
