// Prints the line coverage of each lib and app after `jest --coverage` (json-summary reporter), so the
// domain's figure — held at ≥ 95% by jest.config.js — is visible in every `npm test` run.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const file = path.join(root, 'coverage', 'coverage-summary.json');
if (!fs.existsSync(file)) process.exit(0);
const summary = JSON.parse(fs.readFileSync(file, 'utf8'));
const totals = new Map();
for (const [name, entry] of Object.entries(summary)) {
  if (name === 'total') continue;
  const match = /\/(libs|apps)\/([^/]+)\//.exec(
    path.relative(root, name).startsWith('..') ? name : `/${path.relative(root, name)}`,
  );
  if (!match) continue;
  const key = `${match[1]}/${match[2]}`;
  const t = totals.get(key) ?? { covered: 0, total: 0 };
  t.covered += entry.lines.covered;
  t.total += entry.lines.total;
  totals.set(key, t);
}
console.log('Line coverage by package:');
for (const [key, t] of [...totals].sort(([a], [b]) => a.localeCompare(b))) {
  console.log(
    `  ${key.padEnd(28)} ${((100 * t.covered) / Math.max(1, t.total)).toFixed(2).padStart(6)}%  (${t.covered}/${t.total} lines)`,
  );
}
