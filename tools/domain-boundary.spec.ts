import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

// The lint rule is what keeps replays reproducible: a domain that reads the clock or does I/O would
// fold the same events to different states. These specs prove the rule bites on the domain's files.
describe('domain boundary lint rule', () => {
  const root = path.resolve(__dirname, '..');
  const eslintBin = path.join(root, 'node_modules/eslint/bin/eslint.js');
  const domainFile = path.resolve(__dirname, '../libs/session-domain/src/probe.ts');
  const apiFile = path.resolve(__dirname, '../apps/session-api/src/probe.ts');

  // ESLint's flat config is an ES module, which jest's CommonJS sandbox cannot import: lint in a child.
  const messagesFor = async (code: string, filePath = domainFile) => {
    const run = spawnSync(
      process.execPath,
      [eslintBin, '--stdin', '--stdin-filename', filePath, '--format', 'json'],
      {
        cwd: root,
        input: code,
        encoding: 'utf8',
      },
    );
    const [result] = JSON.parse(run.stdout) as { messages: { message: string }[] }[];
    return result.messages.map((m) => m.message);
  };

  it.each([
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
  ])('refuses %j in the session domain', async (code, expected) => {
    const messages = await messagesFor(code);
    expect(messages.join('\n')).toContain(expected);
  });

  it('allows parsing a time that arrived inside a command', async () => {
    expect(await messagesFor('export const a = (at: string) => new Date(at).getTime();\n')).toEqual([]);
  });

  it('does not restrict the same code outside the domain', async () => {
    expect(await messagesFor('export const a = () => Date.now();\n', apiFile)).toEqual([]);
  });
});
