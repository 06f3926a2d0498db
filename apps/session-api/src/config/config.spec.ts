import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, dataDirProblems, parseConfig } from './config';
import { DEV_KEYS_FILE } from './dev-keys';

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    parseConfig(env, '/srv');
    return [];
  } catch (error) {
    return (error as ConfigError).problems;
  }
};

describe('parseConfig', () => {
  it('falls back to the documented defaults', () => {
    const config = parseConfig({}, '/srv');
    expect(config).toMatchObject({
      port: 3000,
      embeddedEventStorePort: 2113,
      embeddedEventStoreScavengeIntervalMs: 3_600_000,
      embeddedEventStoreGroupCommitWindowMs: 2,
      dataDir: '/srv/data',
      logLevel: 'info',
      projectorInProcess: true,
      sessionCacheMb: 128,
      eventStoreCallTimeoutMs: 10_000,
      readModelQueryTimeoutMs: 5_000,
      httpKeepAliveTimeoutMs: 65_000,
    });
    expect(config.eventStoreConnectionString).toBeUndefined();
    expect(config.integrationKeys).toBeUndefined();
    expect(config.managementKeys).toBeUndefined();
  });

  it('maps integration keys to applications and names them by a fingerprint, never the key', () => {
    const config = parseConfig(
      { INTEGRATION_API_KEYS: 'secret-key-one=1, secret-key-two=2', MANAGEMENT_API_KEYS: 'manage-key-1=*' },
      '/srv',
    );
    expect(config.integrationKeys!.get('secret-key-one')!.applicationId).toBe(1);
    expect(config.integrationKeys!.get('secret-key-two')!.applicationId).toBe(2);
    expect(config.integrationKeys!.get('secret-key-one')!.keyId).toMatch(/^key-[0-9a-f]{16}$/);
    expect(config.integrationKeys!.get('secret-key-one')!.keyId).not.toContain('secret');
  });

  it('parses management keys with application lists and the wildcard', () => {
    const config = parseConfig(
      { INTEGRATION_API_KEYS: 'secret-key-one=1', MANAGEMENT_API_KEYS: 'manage-key-1=1|2,manage-key-2=*' },
      '/srv',
    );
    expect(config.managementKeys!.get('manage-key-1')!.applications).toEqual([1, 2]);
    expect(config.managementKeys!.get('manage-key-2')!.applications).toBe('*');
  });

  it.each([
    ['INTEGRATION_API_KEYS', 'MANAGEMENT_API_KEYS', { INTEGRATION_API_KEYS: 'secret-key-one=1' }],
    ['MANAGEMENT_API_KEYS', 'INTEGRATION_API_KEYS', { MANAGEMENT_API_KEYS: 'manage-key-1=*' }],
  ])(
    'given only %s, refuses to start naming %s: development keys are for a start with neither',
    (given, missing, env) => {
      expect(problemsOf(env)).toEqual([
        `${missing}: not set, while ${given} is; set both (or neither, for development keys of application 1 under DATA_DIR)`,
      ]);
      // Empty counts as unset, as for every variable.
      expect(problemsOf({ ...env, [missing]: ' ' })).toHaveLength(1);
    },
  );

  it('given a DATA_DIR that is a file, says so (a missing one is created at start-up)', () => {
    const file = require.resolve('./config.spec');
    expect(problemsOf({ DATA_DIR: file })).toEqual([`DATA_DIR: ${file} is not a directory`]);
    expect(problemsOf({ DATA_DIR: `${__dirname}/not-there-yet` })).toEqual([]);
  });

  describe('given PORT equal to EMBEDDED_EVENTSTORE_PORT', () => {
    it('when the API starts the embedded store, then it is refused: the two listen in this process', () => {
      expect(problemsOf({ PORT: '2113' })).toEqual([
        'PORT and EMBEDDED_EVENTSTORE_PORT are both 2113: the API and the embedded event store it starts (EVENTSTORE_CONNECTION_STRING unset) each listen on their own port, so the two must differ',
      ]);
      expect(problemsOf({ PORT: '4000', EMBEDDED_EVENTSTORE_PORT: ' 4000 ' })).toEqual([
        expect.stringMatching(/^PORT and EMBEDDED_EVENTSTORE_PORT are both 4000: .* must differ$/),
      ]);
    });

    it('when both are 0, or the store is external, or one is bad, then no such problem is said', () => {
      expect(problemsOf({ PORT: '0', EMBEDDED_EVENTSTORE_PORT: '0' })).toEqual([]);
      expect(problemsOf({ PORT: '2113', EVENTSTORE_CONNECTION_STRING: 'esdb://es:2113?tls=false' })).toEqual(
        [],
      );
      // A bad PORT falls back to 3000 inside the parser: only its own problem is said.
      expect(problemsOf({ PORT: 'x', EMBEDDED_EVENTSTORE_PORT: '3000' })).toEqual([
        expect.stringMatching(/^PORT: "x"/),
      ]);
    });
  });

  it('given no API_HOST, when parsed, then the API listens on every interface, as before', () => {
    expect(parseConfig({}, '/srv').host).toBeUndefined();
    expect(parseConfig({ API_HOST: '  ' }, '/srv').host).toBeUndefined();
  });

  it('given an API_HOST, when parsed, then the API listens there; one that is no host is refused as PROJECTOR_METRICS_HOST is', () => {
    expect(parseConfig({ API_HOST: ' 127.0.0.1 ' }, '/srv').host).toBe('127.0.0.1');
    expect(parseConfig({ API_HOST: '::1' }, '/srv').host).toBe('::1');
    expect(parseConfig({ API_HOST: 'api.internal' }, '/srv').host).toBe('api.internal');
    for (const bad of ['api host', '127.0.0.1/8'])
      expect(problemsOf({ API_HOST: bad })).toEqual([
        `API_HOST: "${bad}" is not a host name or IP address to bind`,
      ]);
  });

  it('reads EMBEDDED_EVENTSTORE_SCAVENGE_INTERVAL_MS: 0 (never) or a minute to a day', () => {
    const interval = (value: string) =>
      parseConfig({ EMBEDDED_EVENTSTORE_SCAVENGE_INTERVAL_MS: value }, '/srv')
        .embeddedEventStoreScavengeIntervalMs;
    expect(interval('0')).toBe(0);
    expect(interval('60000')).toBe(60_000);
    expect(interval('86400000')).toBe(86_400_000);
    for (const bad of ['59999', '86400001', '1h', '-1', '1.5'])
      expect(problemsOf({ EMBEDDED_EVENTSTORE_SCAVENGE_INTERVAL_MS: bad })).toEqual([
        expect.stringMatching(
          new RegExp(`^EMBEDDED_EVENTSTORE_SCAVENGE_INTERVAL_MS: "${bad.replace('.', '\\.')}" is not 0`),
        ),
      ]);
  });

  it('reads EMBEDDED_EVENTSTORE_GROUP_COMMIT_WINDOW_MS: 0 (never hold a flush) to 1000 ms', () => {
    const window = (value: string) =>
      parseConfig({ EMBEDDED_EVENTSTORE_GROUP_COMMIT_WINDOW_MS: value }, '/srv')
        .embeddedEventStoreGroupCommitWindowMs;
    expect(window('0')).toBe(0);
    expect(window(' 5 ')).toBe(5);
    expect(window('1000')).toBe(1000);
    for (const bad of ['1001', '-1', '1.5', '2ms'])
      expect(problemsOf({ EMBEDDED_EVENTSTORE_GROUP_COMMIT_WINDOW_MS: bad })).toEqual([
        expect.stringMatching(
          new RegExp(
            `^EMBEDDED_EVENTSTORE_GROUP_COMMIT_WINDOW_MS: "${bad.replace('.', '\\.')}" is not a whole number of milliseconds from 0 to 1000`,
          ),
        ),
      ]);
  });

  it('reports every bad value with its own message', () => {
    const problems = problemsOf({
      PORT: 'eighty',
      EMBEDDED_EVENTSTORE_PORT: '70000',
      EVENTSTORE_CONNECTION_STRING: 'http://localhost:2113',
      INTEGRATION_API_KEYS: 'shortkey=x',
      MANAGEMENT_API_KEYS: 'manage-key-1=1|b',
      LOG_LEVEL: 'loud',
      DATABASE_URL: 'mysql://x',
      PROJECTOR_IN_PROCESS: 'maybe',
      SESSION_CACHE_MB: '1.5',
      EVENTSTORE_CALL_TIMEOUT_MS: 'soon',
      READ_MODEL_QUERY_TIMEOUT_MS: '5s',
    });
    expect(problems).toHaveLength(11);
    expect(problems[0]).toMatch(/^PORT: "eighty"/);
    expect(problems.join('\n')).toMatch(/EMBEDDED_EVENTSTORE_PORT: "70000"/);
    expect(problems.join('\n')).toMatch(/EVENTSTORE_CONNECTION_STRING/);
    expect(problems.join('\n')).toMatch(/INTEGRATION_API_KEYS: application id "x"/);
    expect(problems.join('\n')).toMatch(/MANAGEMENT_API_KEYS: "1\|b"/);
    expect(problems.join('\n')).toMatch(/LOG_LEVEL: "loud"/);
    expect(problems.join('\n')).toMatch(/DATABASE_URL/);
    expect(problems.join('\n')).toMatch(/PROJECTOR_IN_PROCESS: "maybe" is not true or false/);
    expect(problems.join('\n')).toMatch(/SESSION_CACHE_MB: "1.5" is not a whole number of MiB/);
    expect(problems.join('\n')).toMatch(
      /EVENTSTORE_CALL_TIMEOUT_MS: "soon" is not a whole number of milliseconds/,
    );
    expect(problems.join('\n')).toMatch(
      /READ_MODEL_QUERY_TIMEOUT_MS: "5s" is not a whole number of milliseconds/,
    );
  });

  it("takes the HTTP keep-alive timeout in ms, 1 s to 1 h, longer than a balancer's idle timeout by default", () => {
    expect(parseConfig({}, '/srv').httpKeepAliveTimeoutMs).toBe(65_000);
    expect(parseConfig({ HTTP_KEEP_ALIVE_TIMEOUT_MS: '350000' }, '/srv').httpKeepAliveTimeoutMs).toBe(
      350_000,
    );
    for (const bad of ['999', '3600001', '65s', '-1'])
      expect(problemsOf({ HTTP_KEEP_ALIVE_TIMEOUT_MS: bad })[0]).toMatch(
        new RegExp(
          `^HTTP_KEEP_ALIVE_TIMEOUT_MS: "${bad}" is not a whole number of milliseconds from 1000 to 3600000`,
        ),
      );
  });

  it('takes the shutdown drain in ms, 0 (stop accepting at once) by default, up to 10 minutes', () => {
    expect(parseConfig({}, '/srv').shutdownDrainMs).toBe(0);
    expect(parseConfig({ SHUTDOWN_DRAIN_MS: '5000' }, '/srv').shutdownDrainMs).toBe(5_000);
    for (const bad of ['600001', '5s', '-1', '1.5'])
      expect(problemsOf({ SHUTDOWN_DRAIN_MS: bad })[0]).toMatch(
        new RegExp(`^SHUTDOWN_DRAIN_MS: "${bad}" is not a whole number of milliseconds from 0 to 600000`),
      );
  });

  it('sizes the session cache in MiB, 0 turning it off', () => {
    expect(parseConfig({ SESSION_CACHE_MB: '0' }, '/srv').sessionCacheMb).toBe(0);
    expect(parseConfig({ SESSION_CACHE_MB: '512' }, '/srv').sessionCacheMb).toBe(512);
    expect(problemsOf({ SESSION_CACHE_MB: '70000' })[0]).toMatch(/^SESSION_CACHE_MB: "70000"/);
    expect(problemsOf({ SESSION_CACHE_MB: '-1' })[0]).toMatch(/^SESSION_CACHE_MB: "-1"/);
  });

  it('takes the event-store call deadline in whole milliseconds and names a bad value with the range', () => {
    expect(parseConfig({ EVENTSTORE_CALL_TIMEOUT_MS: '1000' }, '/srv').eventStoreCallTimeoutMs).toBe(1_000);
    expect(parseConfig({ EVENTSTORE_CALL_TIMEOUT_MS: ' 60000 ' }, '/srv').eventStoreCallTimeoutMs).toBe(
      60_000,
    );
    for (const bad of ['10s', '1.5', '-1', '0', '99', '600001', '1e4', 'Infinity']) {
      expect(problemsOf({ EVENTSTORE_CALL_TIMEOUT_MS: bad })).toEqual([
        `EVENTSTORE_CALL_TIMEOUT_MS: "${bad}" is not a whole number of milliseconds from 1000 to 600000 (the longest an event-store read or append made for a request may take, connecting included (after a reconnect, finding the leader too): below 1000 a (re)connect would fail; default 10000)`,
      ]);
    }
  });

  it('given an event-store call deadline under 1 s, then it is refused: connecting falls under it too', () => {
    for (const short of ['100', '300', '999']) {
      expect(problemsOf({ EVENTSTORE_CALL_TIMEOUT_MS: short })).toEqual([
        expect.stringMatching(
          new RegExp(
            `^EVENTSTORE_CALL_TIMEOUT_MS: "${short}" is not a whole number of milliseconds from 1000 to`,
          ),
        ),
      ]);
    }
  });

  it('takes the read-model query bound in whole milliseconds and names a bad value with the range', () => {
    expect(parseConfig({ READ_MODEL_QUERY_TIMEOUT_MS: '30000' }, '/srv').readModelQueryTimeoutMs).toBe(
      30_000,
    );
    expect(parseConfig({ READ_MODEL_QUERY_TIMEOUT_MS: ' 100 ' }, '/srv').readModelQueryTimeoutMs).toBe(100);
    expect(parseConfig({ READ_MODEL_QUERY_TIMEOUT_MS: '' }, '/srv').readModelQueryTimeoutMs).toBe(5_000);
    for (const bad of ['5s', '1.5', '-1', '0', '99', '600001', '1e4', 'Infinity']) {
      expect(problemsOf({ READ_MODEL_QUERY_TIMEOUT_MS: bad })).toEqual([
        `READ_MODEL_QUERY_TIMEOUT_MS: "${bad}" is not a whole number of milliseconds from 100 to 600000 (the longest a management query waits for the read-model PostgreSQL: for a connection, and for each answer; default 5000)`,
      ]);
    }
  });

  it('takes READ_MODEL_SCHEMA, the read models’ PostgreSQL schema the projector and the replay CLI use too', () => {
    const config = parseConfig(
      { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test', READ_MODEL_SCHEMA: ' read_models_2 ' },
      '/srv',
    );
    expect(config.readModelSchema).toBe('read_models_2');
    expect(parseConfig({}, '/srv').readModelSchema).toBeUndefined();
    expect(parseConfig({ READ_MODEL_SCHEMA: '' }, '/srv').readModelSchema).toBeUndefined();
  });

  it('refuses a READ_MODEL_SCHEMA that is not a schema name, with the projector’s message, among the other problems', () => {
    for (const bad of ['Read-Models', 'read models', '1st', 'x'.repeat(64), 'public;drop']) {
      expect(problemsOf({ READ_MODEL_SCHEMA: bad })).toEqual([
        `READ_MODEL_SCHEMA: "${bad}" is not a schema name (lower-case letters, digits and _, at most 63)`,
      ]);
    }
    expect(problemsOf({ READ_MODEL_SCHEMA: 'Read-Models', PORT: 'eighty' })).toEqual([
      expect.stringMatching(/^PORT: "eighty"/),
      'READ_MODEL_SCHEMA: "Read-Models" is not a schema name (lower-case letters, digits and _, at most 63)',
    ]);
  });

  it('leaves the projector out of the API process when PROJECTOR_IN_PROCESS is false', () => {
    expect(parseConfig({ PROJECTOR_IN_PROCESS: 'false' }, '/srv').projectorInProcess).toBe(false);
    expect(parseConfig({ PROJECTOR_IN_PROCESS: 'TRUE' }, '/srv').projectorInProcess).toBe(true);
  });

  it('refuses malformed key lists, too-short keys and a key shared by both APIs', () => {
    expect(problemsOf({ INTEGRATION_API_KEYS: 'no-equals-sign' })[0]).toMatch(/not of the form key=value/);
    expect(problemsOf({ INTEGRATION_API_KEYS: 'abc=1' })[0]).toMatch(
      /8\.\.256 characters.*too easy to guess/,
    );
    expect(problemsOf({ INTEGRATION_API_KEYS: 'a-long-key-with-a-space in-it=1' })[0]).toMatch(
      /8\.\.256 characters of A-Z a-z 0-9 \. _ ~ \+ \/ -$/,
    );
    expect(
      problemsOf({ INTEGRATION_API_KEYS: 'same-key-123=1', MANAGEMENT_API_KEYS: 'same-key-123=*' })[0],
    ).toMatch(/share a key/);
  });

  describe('given a key that ends in "=", as openssl rand -base64 32 makes one', () => {
    const key = 'k7Vn0Rj3aT9qWm2Yx5Lc8Pz1Hs4Gd6Fb0Ne3Ui7Ko9=';
    it.each([
      [
        'INTEGRATION_API_KEYS',
        { INTEGRATION_API_KEYS: `${key}=1`, MANAGEMENT_API_KEYS: 'manage-key-1=*' },
        'key=application',
      ],
      [
        'MANAGEMENT_API_KEYS',
        { INTEGRATION_API_KEYS: 'secret-key-one=1', MANAGEMENT_API_KEYS: `${key}=*` },
        'key=applications',
      ],
    ])(
      'when listed in %s, then it is refused saying "=" is the character, why, and how to make a key',
      (variable, env, form) => {
        expect(problemsOf(env)).toEqual([
          `${variable}: key "k7Vn…" holds "=", which a key may not: in ${variable} "=" separates a key from what it gives access to (${form}); for a base64 key (openssl rand -base64 ends one with "=") leave the trailing "=" out, or make a key with openssl rand -hex 32`,
        ]);
      },
    );

    it('when its "=" is left out, or the key is hex, then it is accepted', () => {
      const hex = 'a3f1c9e07b5d4a2f8e6c1b9d0f7a3e5c2b8d4f6a1c9e0b7d5a3f1c8e6b2d4f0a';
      const config = parseConfig(
        { INTEGRATION_API_KEYS: `${key.slice(0, -1)}=1,${hex}=2`, MANAGEMENT_API_KEYS: 'manage-key-1=*' },
        '/srv',
      );
      expect([...config.integrationKeys!.values()].map((k) => k.applicationId)).toEqual([1, 2]);
    });
  });

  it('given a key with another character keys may not hold, when parsed, then the message names that character', () => {
    const problem = (key: string) =>
      problemsOf({ INTEGRATION_API_KEYS: `${key}=1`, MANAGEMENT_API_KEYS: 'manage-key-1=*' });
    expect(problem('secret%key%one')).toEqual([
      'INTEGRATION_API_KEYS: key "secr…" holds "%", which a key may not: keys are 8..256 characters of A-Z a-z 0-9 . _ ~ + / -',
    ]);
    expect(problem('secret key one')[0]).toMatch(
      /^INTEGRATION_API_KEYS: key "secr…" holds a space, which a key may not/,
    );
    expect(problem('secret\tkey-one')[0]).toMatch(/holds U\+0009, which a key may not/);
    expect(problem('schlüssel-eins')[0]).toMatch(/holds "ü", which a key may not/);
  });

  it('refuses a connection string the EventStoreDB client cannot parse or would ignore part of, naming the variable', () => {
    expect(problemsOf({ EVENTSTORE_CONNECTION_STRING: 'esdb://127.0.0.1:abc?tls=false' })).toEqual([
      'EVENTSTORE_CONNECTION_STRING: "abc" in "127.0.0.1:abc" is not a port number (1..65535)',
    ]);
    expect(problemsOf({ EVENTSTORE_CONNECTION_STRING: 'esdb://127.0.0.1:2113?tls=nope' })).toEqual([
      'EVENTSTORE_CONNECTION_STRING: tls=nope: tls must be true or false',
    ]);
    expect(
      problemsOf({ EVENTSTORE_CONNECTION_STRING: 'esdb://127.0.0.1:2113?tls=false&bogus=1' })[0],
    ).toMatch(
      /^EVENTSTORE_CONNECTION_STRING: unknown option "bogus" \(the client would ignore it\); the options are tls, /,
    );
  });

  it('refuses connection-string schemes the EventStoreDB client cannot parse', () => {
    expect(problemsOf({ EVENTSTORE_CONNECTION_STRING: 'kurrentdb://kdb:2113?tls=false' })[0]).toMatch(
      /^EVENTSTORE_CONNECTION_STRING: must look like esdb:/,
    );
    expect(problemsOf({ EVENTSTORE_CONNECTION_STRING: 'esdb+discover://cluster.internal:2113' })).toEqual([]);
  });

  describe('given a DATABASE_URL whose user name or password holds a character with a meaning in a URL', () => {
    const ENCODE =
      'percent-encode special characters of the user name and password (# as %23, / as %2F, ? as %3F, @ as %40, : as %3A)';
    it.each([
      [
        '#',
        'postgres://postgres:p@ss#w/rd@127.0.0.1:5432/test',
        /^DATABASE_URL: holds a "#", which ends a URL/,
      ],
      ['# alone', 'postgres://postgres:pa#ss@127.0.0.1:5432/test', /^DATABASE_URL: holds a "#"/],
      [
        '/',
        'postgres://postgres:secret/pw@127.0.0.1:5432/test',
        /^DATABASE_URL: holds an "@" after the host part/,
      ],
      [
        '/ after digits',
        'postgres://postgres:12/34@127.0.0.1:5432/test',
        /^DATABASE_URL: holds an "@" after/,
      ],
      [
        '?',
        'postgres://postgres:12?34@127.0.0.1:5432/test',
        /^DATABASE_URL: holds an "@" after the host part/,
      ],
      [
        '? before a host and port',
        'postgres://me:se?cret@db.internal/test',
        /^DATABASE_URL: holds an "@" after the host part/,
      ],
    ])(
      'when it holds an unencoded %s, then it is refused naming the variable, suggesting percent-encoding and quoting none of it',
      (_, url, says) => {
        const problems = problemsOf({ DATABASE_URL: url });
        expect(problems).toEqual([expect.stringMatching(says)]);
        expect(problems[0]).toContain(ENCODE);
        for (const part of ['postgres:', 'p@ss', 'ss#', 'secret', '12', 'me:', '127.0.0.1'])
          expect(problems[0]).not.toContain(part);
      },
    );

    it('when the same URL is percent-encoded, then it is accepted as it is', () => {
      const url = 'postgres://me%40corp:p%40ss%23w%2Frd%3F%3A@127.0.0.1:5432/test';
      expect(parseConfig({ DATABASE_URL: url }, '/srv').databaseUrl).toBe(url);
      // An "@" or ":" in the password before the last "@" of the host part is read as the client reads it.
      expect(problemsOf({ DATABASE_URL: 'postgres://me:p@ss:w@127.0.0.1/test' })).toEqual([]);
    });

    it('when an "@" is in a parameter\'s value, or a Unix socket is named by ?host= with a user and password, then it is accepted, as the client reads it', () => {
      for (const url of [
        'postgres://me:secret@127.0.0.1/test?x=a@b',
        'postgres://127.0.0.1/test?user=alice@EXAMPLE.COM&application_name=api@prod',
        'postgres://app:secret@/sessions?host=/cloudsql/proj:region:inst',
      ])
        expect(problemsOf({ DATABASE_URL: url })).toEqual([]);
    });
  });

  it('given a DATABASE_URL new URL cannot read or naming no host, when parsed, then it is refused with what it must look like', () => {
    expect(problemsOf({ DATABASE_URL: 'postgres://postgres:secret@127.0.0.1:99999/test' })).toEqual([
      'DATABASE_URL: is not a valid URL: check the host and port (1..65535), and percent-encode special characters of the user name and password (# as %23, / as %2F, ? as %3F, @ as %40, : as %3A)',
    ]);
    const noHost =
      'DATABASE_URL: names no host: it must look like postgres://user:password@host:5432/database (a Unix socket: postgres:///database?host=/var/run/postgresql&user=name)';
    expect(problemsOf({ DATABASE_URL: 'postgres:///test' })).toEqual([noHost]);
    expect(problemsOf({ DATABASE_URL: 'postgres://postgres:secret@/test' })).toEqual([noHost]);
    expect(problemsOf({ DATABASE_URL: 'postgres:///test?host=/var/run/postgresql&user=me' })).toEqual([]);
    expect(problemsOf({ DATABASE_URL: 'postgresql://[::1]:5432/test' })).toEqual([]);
    expect(problemsOf({ DATABASE_URL: 'mysql://me:secret@db/test' })).toEqual([
      'DATABASE_URL: must be a postgres:// or postgresql:// URL',
    ]);
  });

  describe('given a DATABASE_URL with TLS parameters', () => {
    const fs = jest.requireActual<typeof import('node:fs')>('node:fs');
    const base = 'postgres://postgres:secret@127.0.0.1:5432/test';
    const ALLOWED = 'disable, allow, prefer, require, verify-ca, verify-full, no-verify';
    let dir: string;
    let ca: string;
    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'database-url-tls-'));
      ca = path.join(dir, 'ca.pem');
      fs.writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n');
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    const refusal = (query: string): string[] => {
      const problems = problemsOf({ DATABASE_URL: `${base}?${query}` });
      for (const problem of problems) expect(problem).not.toMatch(/secret|postgres:/);
      return problems;
    };

    it.each([
      ['requre', 'sslmode=requre'],
      ['disabel', 'sslmode=disabel'],
      ['REQUIRE', 'sslmode=REQUIRE'],
      ['bogus', 'sslmode=disable&sslmode=bogus'],
    ])(
      'when sslmode is %s (however often given), then it is refused naming the value and the allowed ones, as the client would take it for verify-full',
      (mode, query) => {
        expect(refusal(query)).toEqual([
          `DATABASE_URL: sslmode "${mode}" is not one of ${ALLOWED} (the PostgreSQL client would take it for verify-full)`,
        ]);
      },
    );

    it('when sslmode is empty, then it is refused naming the allowed values', () => {
      expect(refusal('sslmode=')).toEqual([`DATABASE_URL: sslmode "" is not one of ${ALLOWED}`]);
    });

    it('when the older ssl flag says false, then it is refused, as the client would turn TLS on', () => {
      expect(refusal('ssl=false')).toEqual([
        'DATABASE_URL: ssl "false" is not one of true, 1, no-verify, 0 (the PostgreSQL client would take it for TLS on); for no TLS write sslmode=disable',
      ]);
      expect(refusal('ssl=1')).toEqual([]);
      expect(refusal('ssl=no-verify')).toEqual([]);
    });

    it('when sslrootcert names an empty file, then it is refused, as the client would take it for no CA', () => {
      const empty = path.join(dir, 'empty.pem');
      fs.writeFileSync(empty, '');
      expect(refusal(`uselibpqcompat=true&sslmode=verify-ca&sslrootcert=${empty}`)).toEqual([
        `DATABASE_URL: sslrootcert ${empty} cannot be read (it is empty)`,
      ]);
      expect(refusal(`uselibpqcompat=true&sslmode=verify-ca&sslrootcert=${ca}`)).toEqual([]);
    });

    it('when uselibpqcompat is neither true nor false, then it is refused naming the value', () => {
      expect(refusal('uselibpqcompat=yes&sslmode=require')).toEqual([
        'DATABASE_URL: uselibpqcompat "yes" is not true or false',
      ]);
    });

    it('when uselibpqcompat=true asks for verify-ca without sslrootcert, then it is refused before the client throws at connect time', () => {
      expect(refusal('uselibpqcompat=true&sslmode=verify-ca')).toEqual([
        'DATABASE_URL: sslmode=verify-ca with uselibpqcompat=true needs sslrootcert, the CA that signed the server’s certificate (the PostgreSQL client refuses to connect without it); or use sslmode=verify-full',
      ]);
      expect(refusal(`uselibpqcompat=true&sslmode=verify-ca&sslrootcert=${ca}`)).toEqual([]);
      expect(refusal('uselibpqcompat=false&sslmode=verify-ca')).toEqual([]);
    });

    it.each(['sslrootcert', 'sslcert', 'sslkey'])(
      'when %s names a missing file, a directory, a path through a file or nothing, then it is refused naming the parameter, the path and why',
      (name) => {
        expect(refusal(`sslmode=verify-full&${name}=${dir}/missing.pem`)).toEqual([
          `DATABASE_URL: ${name} ${dir}/missing.pem cannot be read (ENOENT: no such file or directory)`,
        ]);
        expect(refusal(`${name}=${dir}`)).toEqual([
          `DATABASE_URL: ${name} ${dir} cannot be read (not a file)`,
        ]);
        expect(refusal(`${name}=${ca}/x`)).toEqual([
          `DATABASE_URL: ${name} ${ca}/x cannot be read (ENOTDIR: not a directory)`,
        ]);
        expect(refusal(`${name}=${ca}&${name}=${dir}/gone.pem`)).toEqual([
          `DATABASE_URL: ${name} ${dir}/gone.pem cannot be read (ENOENT: no such file or directory)`,
        ]);
        expect(refusal(`${name}=`)).toEqual([`DATABASE_URL: ${name} is empty: it must name a file`]);
      },
    );

    it('when sslrootcert names a file this user may not read, then it is refused naming the code', () => {
      // root may read anything: a file this user cannot read is what access() answers here.
      const access = jest.spyOn(fs, 'accessSync').mockImplementation(() => {
        throw Object.assign(new Error(`EACCES: permission denied, access '${ca}'`), { code: 'EACCES' });
      });
      try {
        expect(refusal(`sslmode=verify-full&sslrootcert=${ca}`)).toEqual([
          `DATABASE_URL: sslrootcert ${ca} cannot be read (EACCES: permission denied)`,
        ]);
      } finally {
        access.mockRestore();
      }
    });

    it.each([
      [
        'verify-full with a readable CA',
        (): string[] => [
          `sslmode=verify-full&sslrootcert=${ca}`,
          `sslmode=verify-full&sslrootcert=${ca}.gone`,
        ],
      ],
      [
        'a client certificate and key',
        (): string[] => [`sslcert=${ca}&sslkey=${ca}`, `sslcert=${ca}&sslkey=${dir}`],
      ],
      ['disable', (): string[] => ['sslmode=disable', 'sslmode=disabled']],
      ['no-verify', (): string[] => ['sslmode=no-verify', 'sslmode=noverify']],
      ['allow, as libpq names it', (): string[] => ['sslmode=allow', 'sslmode=allowed']],
      ['prefer, as providers write it', (): string[] => ['sslmode=prefer', 'sslmode=preferred']],
      ['require, as providers write it', (): string[] => ['sslmode=require', 'sslmode=required']],
      ['verify-ca', (): string[] => ['sslmode=verify-ca', 'sslmode=verify_ca']],
      [
        'libpq meanings',
        (): string[] => ['uselibpqcompat=true&sslmode=require', 'uselibpqcompat=TRUE&sslmode=require'],
      ],
      ['no TLS parameters', (): string[] => ['application_name=api', 'application_name=api&sslmode=']],
      ['TLS by the older ssl flag', (): string[] => ['ssl=true', 'ssl=yes']],
      ['no TLS by the older ssl flag', (): string[] => ['ssl=0', 'ssl=off']],
    ])('when it asks for %s, then it is accepted, where a near miss is refused', (_what, queries) => {
      const [accepted, nearMiss] = queries();
      expect(refusal(accepted)).toEqual([]);
      expect(refusal(nearMiss)).toEqual([expect.stringMatching(/^DATABASE_URL: /)]);
    });

    it('when a Unix socket is named by ?host=, then its TLS parameters are checked too', () => {
      expect(
        problemsOf({ DATABASE_URL: 'postgres://app:secret@/sessions?host=/cloudsql/x&sslmode=nope' }),
      ).toEqual([
        `DATABASE_URL: sslmode "nope" is not one of ${ALLOWED} (the PostgreSQL client would take it for verify-full)`,
      ]);
    });
  });

  it('accepts a real EventStoreDB connection string and a PostgreSQL URL', () => {
    const config = parseConfig(
      {
        EVENTSTORE_CONNECTION_STRING: 'esdb://es:2113?tls=false',
        DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
      },
      '/srv',
    );
    expect(config.eventStoreConnectionString).toBe('esdb://es:2113?tls=false');
    expect(config.databaseUrl).toBe('postgres://postgres@127.0.0.1:5432/test');
  });
});

describe('dataDirProblems', () => {
  const fs = jest.requireActual<typeof import('node:fs')>('node:fs');
  const external = {
    EVENTSTORE_CONNECTION_STRING: 'esdb://es:2113?tls=false',
    DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
    INTEGRATION_API_KEYS: 'secret-key-one=1',
    MANAGEMENT_API_KEYS: 'manage-key-1=*',
  };
  // root may write anywhere: a directory this user cannot write is what access() answers here.
  let access: jest.SpyInstance;
  beforeEach(() => {
    access = jest.spyOn(fs, 'accessSync').mockImplementation(() => {
      throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    });
  });
  afterEach(() => access.mockRestore());

  it.each([
    ['the embedded event store', { EVENTSTORE_CONNECTION_STRING: '' }],
    ['SQLite read models', { DATABASE_URL: '' }],
    ['development keys', { INTEGRATION_API_KEYS: '', MANAGEMENT_API_KEYS: '' }],
  ])('refuses a DATA_DIR this user cannot write when the API keeps %s there, naming it', (_what, env) => {
    const config = parseConfig({ ...external, ...env, DATA_DIR: __dirname }, '/srv');
    expect(dataDirProblems(config)).toEqual([
      expect.stringMatching(
        new RegExp(
          `^DATA_DIR: ${__dirname} is not writable \\(EACCES\\): the directory and what is in it must be writable by this process’s user`,
        ),
      ),
    ]);
  });

  it('lets a DATA_DIR it cannot write hold the development keys it only reads', () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'data-dir-keys-'));
    try {
      const env = { ...external, INTEGRATION_API_KEYS: '', MANAGEMENT_API_KEYS: '', DATA_DIR: dataDir };
      fs.writeFileSync(
        path.join(dataDir, DEV_KEYS_FILE),
        '{"integrationKey":"dev-int-a","managementKey":"dev-mgmt-b"}',
      );
      expect(dataDirProblems(parseConfig(env, '/srv'))).toEqual([]);
      // A file that holds no pair of keys is not written anew either (the start refuses it, naming it).
      fs.writeFileSync(path.join(dataDir, DEV_KEYS_FILE), '{"integrationKey":"dev-int-a"');
      expect(dataDirProblems(parseConfig(env, '/srv'))).toEqual([]);
      // Keys it would create need the directory writable.
      fs.rmSync(path.join(dataDir, DEV_KEYS_FILE));
      expect(dataDirProblems(parseConfig(env, '/srv'))).toEqual([
        expect.stringMatching(new RegExp(`^DATA_DIR: ${dataDir} is not writable \\(EACCES\\)`)),
      ]);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('lets a deployment that keeps nothing there have a DATA_DIR it cannot write', () => {
    expect(dataDirProblems(parseConfig({ ...external, DATA_DIR: __dirname }, '/srv'))).toEqual([]);
    expect(access).not.toHaveBeenCalled();
  });
});
