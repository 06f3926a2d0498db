// Three tiers (README.md, Scripts): *.spec.ts beside the code, *.int-spec.ts against a real server or
// database, test/*.e2e-spec.ts for whole-system runs. `npm test` runs all three.
const fs = require('node:fs');
const swc = JSON.parse(fs.readFileSync(`${__dirname}/.swcrc`, 'utf8'));
delete swc.$schema;

const moduleNameMapper = {
  '^@session-engine/(session-domain|event-store|read-models|testing)(/(.*))?$': '<rootDir>/libs/$1/src$2',
};
const base = {
  rootDir: __dirname,
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['@swc/jest', swc] },
  moduleNameMapper,
  moduleFileExtensions: ['ts', 'js', 'json'],
};

module.exports = {
  // Jest's default is one worker fewer than the cores: one worker on a 2-core machine, where most suites wait on
  // servers and child processes and leave the other core idle. Two workers there: the whole run with coverage
  // took 8.8 min instead of 13.5 on the 2-core CI machine.
  maxWorkers: Math.max(2, require('node:os').availableParallelism() - 1),
  // A worker that holds this much heap after a file is replaced by a fresh one. The e2e and integration files
  // leave 267–480 MB of heap in a worker by the end of a run, and freeing it took longer than the 500 ms jest
  // waits for a worker to exit ("A worker process has failed to exit gracefully").
  workerIdleMemoryLimit: '300MB',
  collectCoverageFrom: [
    'libs/**/src/**/*.ts',
    'apps/**/src/**/*.ts',
    '!**/*.spec.ts',
    '!**/*.int-spec.ts',
    '!**/index.ts',
    '!**/main.ts',
  ],
  coverageReporters: ['text-summary', 'json-summary', 'lcov'],
  coverageThreshold: {
    './libs/session-domain/src/': { lines: 95 },
  },
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs,tools}/**/*.spec.ts'] },
    { ...base, displayName: 'integration', testMatch: ['<rootDir>/{apps,libs}/**/*.int-spec.ts'] },
    { ...base, displayName: 'e2e', testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'] },
  ],
};
