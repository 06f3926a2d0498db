/**
 * tools/register.js, the TypeScript loader behind `npm start`, `npm run replay`, the benchmarks and the worker
 * threads when run from the sources. Each case runs a fresh `node -r ./tools/register.js` and reports what it
 * saw as JSON on stdout.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

function runWithLoader(script: string): unknown {
  const out = execFileSync(process.execPath, ['-r', './tools/register.js', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('tools/register.js', () => {
  it('loads the whole API (aliases resolved) without loading Node’s `domain` module', () => {
    // `domain`, once loaded, wraps every EventEmitter construction and emit of the process.
    const seen = runWithLoader(`
      require('./apps/session-api/src/app.factory.ts');
      require('@session-engine/event-store');
      console.log(JSON.stringify({
        domain: process.moduleLoadList.filter((m) => /\\b(domain|repl)$/.test(m)),
        usingDomains: require('node:events').usingDomains === true,
      }));
    `);
    expect(seen).toEqual({ domain: [], usingDomains: false });
  });

  it('emits the decorator metadata NestJS injects by', () => {
    const seen = runWithLoader(`
      require('reflect-metadata');
      const { SessionCommandRunner } = require('./apps/session-api/src/sessions/shared/session-command.runner.ts');
      const types = Reflect.getMetadata('design:paramtypes', SessionCommandRunner) ?? [];
      console.log(JSON.stringify({ types: types.map((t) => t && t.name) }));
    `) as { types: string[] };
    expect(seen.types.length).toBeGreaterThan(0);
    expect(seen.types.every((name) => typeof name === 'string' && name.length > 0)).toBe(true);
  });

  it('points stack traces at the TypeScript line that threw', () => {
    const seen = runWithLoader(`
      const fs = require('node:fs');
      const file = require.resolve('./libs/session-domain/src/money.ts');
      let stack = '';
      try { require(file).normalizeMoney('not a number'); } catch (error) { stack = String(error.stack); }
      const frame = stack.split('\\n').find((line) => line.includes('money.ts')) ?? '';
      const [, line] = /money\\.ts:(\\d+):\\d+/.exec(frame) ?? [];
      console.log(JSON.stringify({ frame, source: line ? fs.readFileSync(file, 'utf8').split('\\n')[Number(line) - 1] : '' }));
    `) as { frame: string; source: string };
    expect(seen.frame).toMatch(/libs\/session-domain\/src\/money\.ts:\d+:\d+/);
    expect(seen.source).toContain('new Exact(value)');
  });
});
