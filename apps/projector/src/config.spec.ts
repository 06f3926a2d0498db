import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseProjectorConfig, ProjectorConfigError } from './config';

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    parseProjectorConfig(env, '/srv');
    return [];
  } catch (error) {
    return (error as ProjectorConfigError).problems;
  }
};

/** The projector process started with `env` on top of this one's, to the end (it stops at its configuration). */
function runProjector(env: Record<string, string>) {
  return spawnSync(process.execPath, ['-r', './tools/register.js', 'apps/projector/src/main.ts'], {
    cwd: path.resolve(__dirname, '../../..'),
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
}
describe('parseProjectorConfig', () => {
  it('defaults to what npm start serves: the embedded store on its port, SQLite under DATA_DIR', () => {
    expect(parseProjectorConfig({}, '/srv')).toEqual({
      connectionString: 'esdb://127.0.0.1:2113?tls=false',
      explicitEventStore: false,
      databaseUrl: undefined,
      schema: undefined,
      dataDir: '/srv/data',
      batchSize: undefined,
      batchDelayMs: undefined,
      metricsPort: 9464,
      metricsHost: '127.0.0.1',
      logLevel: 'info',
    });
    expect(parseProjectorConfig({ EMBEDDED_EVENTSTORE_PORT: '2200' }, '/srv').connectionString).toBe(
      'esdb://127.0.0.1:2200?tls=false',
    );
  });

  it('takes the given store, database, schema, batches and metrics endpoint', () => {
    const config = parseProjectorConfig(
      {
        EVENTSTORE_CONNECTION_STRING: 'esdb://es:2113?tls=false',
        DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
        READ_MODEL_SCHEMA: 'read_models_2',
        PROJECTOR_BATCH_SIZE: '25',
        PROJECTOR_BATCH_DELAY_MS: '100',
        PROJECTOR_METRICS_PORT: '0',
        PROJECTOR_METRICS_HOST: '0.0.0.0',
        LOG_LEVEL: 'WARN',
        DATA_DIR: 'var/data',
      },
      '/srv',
    );
    expect(config).toEqual({
      connectionString: 'esdb://es:2113?tls=false',
      explicitEventStore: true,
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/test',
      schema: 'read_models_2',
      dataDir: '/srv/var/data',
      batchSize: 25,
      batchDelayMs: 100,
      metricsPort: 0,
      metricsHost: '0.0.0.0',
      logLevel: 'warn',
    });
  });

  it('given a DATABASE_URL with an unencoded "#" in its password, then it refuses it as the API does, quoting none of it', () => {
    const problems = problemsOf({ DATABASE_URL: 'postgres://postgres:p@ss#w/rd@127.0.0.1:5432/test' });
    expect(problems).toEqual([expect.stringMatching(/^DATABASE_URL: holds a "#", which ends a URL.*%23/)]);
    expect(problems[0]).not.toMatch(/ss#|p@ss|127\.0\.0\.1/);
  });

  it('reports every bad value with its own message', () => {
    const problems = problemsOf({
      EVENTSTORE_CONNECTION_STRING: 'kurrentdb://kdb:2113',
      EMBEDDED_EVENTSTORE_PORT: '0',
      DATABASE_URL: 'mysql://x',
      READ_MODEL_SCHEMA: 'Read-Models',
      PROJECTOR_BATCH_SIZE: 'abc',
      PROJECTOR_BATCH_DELAY_MS: '0',
      PROJECTOR_METRICS_PORT: '70000',
      PROJECTOR_METRICS_HOST: 'metrics host',
      LOG_LEVEL: 'loud',
    });
    expect(problems).toHaveLength(9);
    expect(problems[0]).toMatch(/^EVENTSTORE_CONNECTION_STRING: must look like esdb:/);
    expect(problems.join('\n')).toMatch(/EMBEDDED_EVENTSTORE_PORT: "0" is not a TCP port \(1\.\.65535\)/);
    expect(problems.join('\n')).toMatch(/DATABASE_URL: must be a postgres/);
    expect(problems.join('\n')).toMatch(/READ_MODEL_SCHEMA: "Read-Models" is not a schema name/);
    expect(problems.join('\n')).toMatch(
      /PROJECTOR_BATCH_SIZE: "abc" is not a number of events \(1\.\.100000\)/,
    );
    expect(problems.join('\n')).toMatch(/PROJECTOR_BATCH_DELAY_MS: "0" is not a number of milliseconds/);
    expect(problems.join('\n')).toMatch(/PROJECTOR_METRICS_PORT: "70000"/);
    expect(problems.join('\n')).toMatch(/LOG_LEVEL: "loud"/);
    expect(problems.join('\n')).toMatch(/PROJECTOR_METRICS_HOST: "metrics host" is not a host name/);
  });

  it('takes the stall window and the slow-commit threshold, unset meaning the projector defaults', () => {
    expect(
      parseProjectorConfig({ PROJECTOR_STALL_AFTER_MS: '120000', PROJECTOR_SLOW_COMMIT_MS: '500' }, '/srv'),
    ).toMatchObject({ stallAfterMs: 120_000, slowCommitMs: 500 });
    const defaults = parseProjectorConfig(
      { PROJECTOR_STALL_AFTER_MS: ' ', PROJECTOR_SLOW_COMMIT_MS: '' },
      '/srv',
    );
    expect(defaults.stallAfterMs).toBeUndefined();
    expect(defaults.slowCommitMs).toBeUndefined();
  });

  it.each([
    ['PROJECTOR_STALL_AFTER_MS', '999', '1000..3600000'],
    ['PROJECTOR_STALL_AFTER_MS', '3600001', '1000..3600000'],
    ['PROJECTOR_STALL_AFTER_MS', '60s', '1000..3600000'],
    ['PROJECTOR_SLOW_COMMIT_MS', '0', '1..600000'],
    ['PROJECTOR_SLOW_COMMIT_MS', '-1', '1..600000'],
    ['PROJECTOR_SLOW_COMMIT_MS', '1.5', '1..600000'],
  ])('refuses %s=%s with a message naming it and the range', (name, value, range) => {
    expect(problemsOf({ [name]: value })).toEqual([
      `${name}: "${value}" is not a number of milliseconds (${range})`,
    ]);
  });

  it.each([
    [
      { PROJECTOR_STALL_AFTER_MS: '1000' },
      'PROJECTOR_SLOW_COMMIT_MS (2000) must be below PROJECTOR_STALL_AFTER_MS (1000)',
    ],
    [
      { PROJECTOR_SLOW_COMMIT_MS: '60000' },
      'PROJECTOR_SLOW_COMMIT_MS (60000) must be below PROJECTOR_STALL_AFTER_MS (60000)',
    ],
    [
      { PROJECTOR_STALL_AFTER_MS: '5000', PROJECTOR_SLOW_COMMIT_MS: '5000' },
      'PROJECTOR_SLOW_COMMIT_MS (5000) must be below PROJECTOR_STALL_AFTER_MS (5000)',
    ],
  ])('refuses a slow-commit threshold not below the stall window (%j), defaults included', (env, message) => {
    expect(problemsOf(env)).toEqual([expect.stringContaining(message)]);
  });

  it('takes a slow-commit threshold below the stall window', () => {
    expect(problemsOf({ PROJECTOR_STALL_AFTER_MS: '1000', PROJECTOR_SLOW_COMMIT_MS: '999' })).toEqual([]);
  });

  it.each([
    ['esdb://127.0.0.1:abc?tls=false', '"abc" in "127.0.0.1:abc" is not a port number (1..65535)'],
    ['esdb://127.0.0.1:2113?tls=nope', 'tls=nope: tls must be true or false'],
  ])(
    'stops the projector process before it connects when EVENTSTORE_CONNECTION_STRING=%s cannot be parsed, naming it, exit code 2',
    (connectionString, why) => {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'projector-connection-string-'));
      try {
        const result = runProjector({
          DATA_DIR: dataDir,
          EVENTSTORE_CONNECTION_STRING: connectionString,
          PROJECTOR_METRICS_PORT: '0',
        });
        expect({ status: result.status, stderr: result.stderr }).toEqual({
          status: 2,
          stderr: `projector: Invalid configuration:\n  - EVENTSTORE_CONNECTION_STRING: ${why}\n`,
        });
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  );

  it('stops the projector process before it connects, exit code 2, one line per problem and no stack trace', () => {
    const result = runProjector({ PROJECTOR_BATCH_SIZE: '-5', LOG_LEVEL: 'loud' });
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(
      'projector: Invalid configuration:\n' +
        '  - PROJECTOR_BATCH_SIZE: "-5" is not a number of events (1..100000)\n' +
        '  - LOG_LEVEL: "loud" is not one of fatal, error, warn, info, debug, trace, silent\n',
    );
  });

  it.each([
    ['no-such-host.invalid', '"no-such-host.invalid" does not resolve to an address (ENOTFOUND)'],
    // TEST-NET-1 (RFC 5737): an address no machine has.
    ['192.0.2.1', '"192.0.2.1" is not an address of this machine (no network interface has it)'],
  ])(
    'stops the projector process before it connects when PROJECTOR_METRICS_HOST=%s cannot be listened on, naming it, exit code 2',
    (host, why) => {
      const dataDir = mkdtempSync(path.join(tmpdir(), 'projector-metrics-host-'));
      try {
        const result = runProjector({
          DATA_DIR: dataDir,
          DATABASE_URL: '',
          EVENTSTORE_CONNECTION_STRING: 'esdb://127.0.0.1:1?tls=false',
          PROJECTOR_METRICS_PORT: '41470',
          PROJECTOR_METRICS_HOST: host,
          LOG_LEVEL: 'info',
        });
        expect({ status: result.status, stderr: result.stderr, stdout: result.stdout }).toEqual({
          status: 2,
          stderr:
            'projector: Invalid configuration:\n' +
            `  - PROJECTOR_METRICS_HOST: ${why}; set PROJECTOR_METRICS_HOST to a host name or IP address of ` +
            'this machine (127.0.0.1, or 0.0.0.0 for every interface)\n',
          stdout: '', // nothing started: no lock taken, no read models opened
        });
        expect(readdirSync(dataDir)).toEqual([]);
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
  );
});
