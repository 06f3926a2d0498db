import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseConfig } from '../../session-api/src/config/config';
import { parseStandaloneStoreConfig, StoreConfigError } from './config';

describe('parseStandaloneStoreConfig', () => {
  let cwd: string;
  beforeAll(() => (cwd = mkdtempSync(path.join(tmpdir(), 'store-config-'))));
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  const parse = (env: Record<string, string>, argv: string[] = []) =>
    parseStandaloneStoreConfig(argv, env, cwd);
  const problemOf = (env: Record<string, string>, argv: string[] = []): string | undefined => {
    try {
      parse(env, argv);
      return undefined;
    } catch (error) {
      if (!(error instanceof StoreConfigError)) throw error;
      return error.message;
    }
  };

  it('given nothing, then it serves 127.0.0.1:2113 from ./data/eventstore, scavenging hourly, FULL', () => {
    expect(parse({})).toEqual({
      port: 2113,
      portSetting: undefined,
      host: '127.0.0.1',
      hostSetting: undefined,
      maxAppendSize: undefined,
      groupCommitWindowMs: undefined,
      synchronous: 'FULL',
      scavengeIntervalMs: 3_600_000,
      dataDir: path.join(cwd, 'data', 'eventstore'),
      dataSetting: { name: 'DATA_DIR', dir: path.join(cwd, 'data') },
    });
  });

  it('given a DATA_DIR with spaces around it, when read, then it opens the directory the API opens', () => {
    const dataDir = path.join(cwd, 'spaced');
    const config = parse({ DATA_DIR: ` ${dataDir} ` });
    expect(config.dataDir).toBe(path.join(dataDir, 'eventstore'));
    // The API's embedded store, under the same environment.
    expect(parseConfig({ DATA_DIR: ` ${dataDir} ` }, cwd).dataDir).toBe(dataDir);
    expect(parse({ DATA_DIR: '  ' }).dataDir).toBe(path.join(cwd, 'data', 'eventstore'));
  });

  it.each([
    ['EMBEDDED_EVENTSTORE_PORT', 'port', 2113],
    ['EMBEDDED_EVENTSTORE_HOST', 'host', '127.0.0.1'],
    ['EMBEDDED_EVENTSTORE_SCAVENGE_INTERVAL_MS', 'scavengeIntervalMs', 3_600_000],
    ['EMBEDDED_EVENTSTORE_SYNCHRONOUS', 'synchronous', 'FULL'],
    ['EMBEDDED_EVENTSTORE_GROUP_COMMIT_WINDOW_MS', 'groupCommitWindowMs', undefined],
  ] as const)(
    'given %s of only whitespace, when read, then it is unset, as for the API, the projector and the CLI',
    (variable, field, fallback) => {
      for (const blank of ['', ' ', ' \t ']) expect(parse({ [variable]: blank })[field]).toBe(fallback);
    },
  );

  it('given values with spaces around them, when read, then they are taken trimmed', () => {
    const config = parse({
      EMBEDDED_EVENTSTORE_PORT: ' 2200 ',
      EMBEDDED_EVENTSTORE_HOST: ' localhost ',
      EMBEDDED_EVENTSTORE_SCAVENGE_INTERVAL_MS: ' 0 ',
      EMBEDDED_EVENTSTORE_SYNCHRONOUS: ' normal ',
      EMBEDDED_EVENTSTORE_GROUP_COMMIT_WINDOW_MS: ' 0 ',
    });
    expect(config).toMatchObject({
      port: 2200,
      portSetting: { value: '2200', source: 'EMBEDDED_EVENTSTORE_PORT' },
      host: 'localhost',
      hostSetting: { value: 'localhost', source: 'EMBEDDED_EVENTSTORE_HOST' },
      scavengeIntervalMs: 0,
      synchronous: 'NORMAL',
      groupCommitWindowMs: 0,
    });
  });

  it('given a flag, then it wins over its variable; a bad value is refused naming the flag or the variable', () => {
    expect(parse({ EMBEDDED_EVENTSTORE_PORT: '2200' }, ['--port', '0']).port).toBe(0);
    expect(parse({}, ['--data=store']).dataDir).toBe(path.join(cwd, 'store'));
    expect(problemOf({}, ['--port', 'abc'])).toBe('--port: must be an integer from 0 to 65535 (got "abc")');
    expect(problemOf({ EMBEDDED_EVENTSTORE_PORT: '21.5' })).toBe(
      'EMBEDDED_EVENTSTORE_PORT: must be an integer from 0 to 65535 (got "21.5")',
    );
    expect(problemOf({ EMBEDDED_EVENTSTORE_HOST: 'not a host' })).toBe(
      'EMBEDDED_EVENTSTORE_HOST: must be a host name or IP address to bind (got "not a host")',
    );
    expect(problemOf({ EMBEDDED_EVENTSTORE_SYNCHRONOUS: 'fast' })).toBe(
      'EMBEDDED_EVENTSTORE_SYNCHRONOUS: must be FULL or NORMAL (got "fast")',
    );
    expect(
      parse({ EMBEDDED_EVENTSTORE_GROUP_COMMIT_WINDOW_MS: '0' }, ['--group-commit-window-ms', '3'])
        .groupCommitWindowMs,
    ).toBe(3);
    expect(problemOf({ EMBEDDED_EVENTSTORE_GROUP_COMMIT_WINDOW_MS: '1001' })).toBe(
      'EMBEDDED_EVENTSTORE_GROUP_COMMIT_WINDOW_MS: must be an integer from 0 to 1000 (got "1001")',
    );
    expect(problemOf({ DATA_DIR: __filename })).toBe(`DATA_DIR: ${__filename} is not a directory`);
  });
});
