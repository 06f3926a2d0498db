import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

// The lint rule is what keeps replays reproducible: a domain that reads the clock or does I/O would
// fold the same events to different states. These specs prove the rule bites on the domain's files.
describe('domain boundary lint rule', () => {
  const root = path.resolve(__dirname, '..');
  const domainFile = path.resolve(__dirname, '../libs/session-domain/src/probe.ts');
  const apiFile = path.resolve(__dirname, '../apps/session-api/src/probe.ts');

  // ESLint's flat config is an ES module, which jest's CommonJS sandbox cannot import: lint in a child, every
  // snippet of this file in one (a child per snippet took ~2.5 s each).
  const LINT_ALL = `
    const { ESLint } = require('eslint');
    let input = '';
    process.stdin.on('data', (chunk) => (input += chunk)).on('end', async () => {
      const eslint = new ESLint({ cwd: process.cwd() });
      const out = [];
      for (const { code, filePath } of JSON.parse(input)) {
        const [result] = await eslint.lintText(code, { filePath });
        out.push(result.messages.map((m) => m.message));
      }
      process.stdout.write(JSON.stringify(out));
    });`;
  const lintAll = (snippets: { code: string; filePath: string }[]): string[][] => {
    const run = spawnSync(process.execPath, ['-e', LINT_ALL], {
      cwd: root,
      input: JSON.stringify(snippets),
      encoding: 'utf8',
    });
    if (run.status !== 0) throw new Error(`eslint failed: ${run.stderr}`);
    return JSON.parse(run.stdout) as string[][];
  };

  const refused: [string, string][] = [
    ["import { Injectable } from '@nestjs/common';\nexport const a = Injectable;\n", 'framework-free'],
    [
      "import { EventStoreDBClient } from '@eventstore/db-client';\nexport const a = EventStoreDBClient;\n",
      'event store',
    ],
    ["import { readFileSync } from 'node:fs';\nexport const a = readFileSync;\n", 'no I/O'],
    ["import { randomUUID } from 'crypto';\nexport const a = randomUUID;\n", 'no I/O'],
    ['export const a = () => Date.now();\n', 'clock'],
    ['export const a = () => new Date();\n', 'clock'],
    ['export const a = () => Math.random();\n', 'Ids arrive'],
    ['export const a = () => process.env.X;\n', 'environment'],
  ];
  const allowedInDomain = 'export const a = (at: string) => new Date(at).getTime();\n';
  const outsideDomain = 'export const a = () => Date.now();\n';
  let messages: string[][];
  beforeAll(() => {
    messages = lintAll([
      ...refused.map(([code]) => ({ code, filePath: domainFile })),
      { code: allowedInDomain, filePath: domainFile },
      { code: outsideDomain, filePath: apiFile },
    ]);
  }, 60_000);

  it.each(refused.map(([code, expected], i) => [code, expected, i] as const))(
    'refuses %j in the session domain',
    (_code, expected, i) => {
      expect(messages[i]!.join('\n')).toContain(expected);
    },
  );

  it('allows parsing a time that arrived inside a command', () => {
    expect(messages[refused.length]).toEqual([]);
  });

  it('does not restrict the same code outside the domain', () => {
    expect(messages[refused.length + 1]).toEqual([]);
  });
});
