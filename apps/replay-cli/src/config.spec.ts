import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { progressIntervalMs, replayConfig } from './config';
import { replayCli } from './testing/run-cli';

describe('REPLAY_PROGRESS_INTERVAL_MS', () => {
  let dataDir: string;
  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'replay-config-'));
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('takes a whole number of milliseconds, 0..3600000; unset or empty is the default, 5000', () => {
    expect(progressIntervalMs({ REPLAY_PROGRESS_INTERVAL_MS: '0' })).toBe(0);
    expect(progressIntervalMs({ REPLAY_PROGRESS_INTERVAL_MS: ' 250 ' })).toBe(250);
    expect(progressIntervalMs({ REPLAY_PROGRESS_INTERVAL_MS: '3600000' })).toBe(3_600_000);
    expect(progressIntervalMs({})).toBe(5000);
    expect(progressIntervalMs({ REPLAY_PROGRESS_INTERVAL_MS: '' })).toBe(5000);
    expect(progressIntervalMs({ REPLAY_PROGRESS_INTERVAL_MS: '  ' })).toBe(5000);
  });

  it.each(['abc', '-5', '1.5', '1e3', '3600001', '0x10'])(
    'refuses %s at start-up: exit 2, one line naming the variable, the value and what it may be',
    async (value) => {
      expect(() => replayConfig({ DATA_DIR: dataDir, REPLAY_PROGRESS_INTERVAL_MS: value })).toThrow(
        `invalid configuration: REPLAY_PROGRESS_INTERVAL_MS: "${value}" is not a number of milliseconds (0..3600000)`,
      );
      // No store runs: the command is refused before it connects anywhere.
      for (const command of [['history', 'x', '-a', '1'], ['verify'], ['export', '--no-progress']]) {
        const run = await replayCli({
          DATA_DIR: dataDir,
          EVENTSTORE_CONNECTION_STRING: 'esdb://127.0.0.1:1?tls=false',
          REPLAY_PROGRESS_INTERVAL_MS: value,
        })(command);
        expect({ command, code: run.code, stdout: run.stdout, stderr: run.stderr }).toEqual({
          command,
          code: 2,
          stdout: '',
          stderr:
            'session-replay: invalid configuration: REPLAY_PROGRESS_INTERVAL_MS: ' +
            `"${value}" is not a number of milliseconds (0..3600000)\n`,
        });
      }
    },
  );

  it('is listed with the other bad variables when there are several', () => {
    expect(() =>
      replayConfig({ DATA_DIR: dataDir, READ_MODEL_SCHEMA: 'Bad-Name', REPLAY_PROGRESS_INTERVAL_MS: 'abc' }),
    ).toThrow(
      'invalid configuration:\n' +
        '  - READ_MODEL_SCHEMA: "Bad-Name" is not a schema name (lower-case letters, digits and _, at most 63)\n' +
        '  - REPLAY_PROGRESS_INTERVAL_MS: "abc" is not a number of milliseconds (0..3600000)',
    );
  });
});

describe('EVENTSTORE_CONNECTION_STRING', () => {
  it.each([
    ['esdb://127.0.0.1:abc?tls=false', '"abc" in "127.0.0.1:abc" is not a port number (1..65535)'],
    ['esdb://127.0.0.1:2113?tls=nope', 'tls=nope: tls must be true or false'],
    [
      'esdb://127.0.0.1:2113?tls=false&bogus=1',
      'unknown option "bogus" (the client would ignore it); the options are tls, ',
    ],
  ])(
    'refuses %s before a command runs: exit 2, one line naming the variable, not an unexpected error',
    async (value, why) => {
      const run = await replayCli({ EVENTSTORE_CONNECTION_STRING: value })(['history', 'x', '-a', '1']);
      expect({ code: run.code, stdout: run.stdout }).toEqual({ code: 2, stdout: '' });
      expect(run.stderr).toContain(
        `session-replay: invalid configuration: EVENTSTORE_CONNECTION_STRING: ${why}`,
      );
      expect(run.stderr).not.toMatch(/unexpected error|Unknown option key/);
    },
  );
});
