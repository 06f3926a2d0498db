import { EventStoreDBClient } from '@eventstore/db-client';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CONNECTION_STRING_OPTIONS,
  connectionStringProblem,
  setsTls,
  shownConnectionString,
  tlsDefaultHint,
} from './connection-string';

const name = 'EVENTSTORE_CONNECTION_STRING';

describe('connectionStringProblem', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'connection-string-'));
    for (const file of ['ca.pem', 'user.crt', 'user.key']) writeFileSync(join(dir, file), '');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    'esdb://127.0.0.1:2113?tls=false',
    'esdb://eventstore:2113?tls=false',
    'esdb://es',
    'esdb://host:2113/?tls=false',
    'esdb+discover://cluster.internal:2113',
    'esdb+discover://node1:2113,node2:2113,node3:2113?tls=true&nodePreference=leader',
    'esdb://admin:changeit@host:2113?tls=false&connectionName=session-api',
    'esdb://admin:p%40ss%3Aword@host:2113?tls=false',
    'esdb://host?TLS=false&node_preference=read-only-replica&keepAliveInterval=-1&defaultDeadline=10000',
    'esdb://host?throwOnAppendFailure=true&maxDiscoverAttempts=10&discoveryInterval=100&gossipTimeout=5',
    'esdb://eventstore:2113?tls=false&tlsVerifyCert=false',
    'esdb://h?tls=false&tlsCAFile=missing.pem',
    'esdb+discover://n1:2113, n2:2113',
    'esdb://h1:2113,h2:2113,?tls=false',
    'esdb://bücher.example:2113?tls=false',
    'esdb://h:2113?dnsDiscover=true&defaultDeadline=86400000000',
    'esdb://admin:s3cr/et@host:2113?tls=false',
  ])('accepts %s, as the EventStoreDB client does', async (value) => {
    // The client warns on stderr of an option it ignores (tlsVerifyCert): not this test's concern.
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      expect(connectionStringProblem(value, name, dir)).toBeUndefined();
      // Made, never connected (the client connects on its first call).
      await EventStoreDBClient.connectionString(value).dispose();
    } finally {
      warn.mockRestore();
    }
  });

  it.each([
    ['esdb://127.0.0.1:abc?tls=false', '"abc" in "127.0.0.1:abc" is not a port number (1..65535)'],
    ['esdb://127.0.0.1:99999', '"99999" in "127.0.0.1:99999" is not a port number (1..65535)'],
    ['esdb://127.0.0.1:21x3', '"21x3" in "127.0.0.1:21x3" is not a port number (1..65535)'],
    ['esdb://a:1:2', '"a:1:2" is not a host or host:port (hosts are joined by commas)'],
    ['esdb://127.0.0.1:2113?tls=nope', 'tls=nope: tls must be true or false'],
    ['esdb://h?defaultDeadline=10s', 'defaultDeadline=10s: defaultDeadline must be a whole number'],
    [
      'esdb://h?nodePreference=nearest',
      'nodePreference=nearest: nodePreference must be one of leader, follower, random, read_only_replica',
    ],
    ['esdb://h?tls=false&tls=true', 'the option tls is given twice'],
    [
      'esdb://h?tls',
      '"tls" is not an option of the form key=value (options follow one ? and are joined by &)',
    ],
    [
      'kurrentdb://kdb:2113',
      'must look like esdb://host:2113?tls=false or esdb+discover://… (got a value starting "kurrentdb://")',
    ],
    [
      'http://store:2113',
      'must look like esdb://host:2113?tls=false or esdb+discover://… (got a value starting "http://store")',
    ],
  ])('refuses %s, naming the variable and the problem', (value, problem) => {
    expect(connectionStringProblem(value, name, dir)).toBe(`${name}: ${problem}`);
  });

  it('refuses an option the client would ignore (it would print "Unknown option key" on stderr), listing the accepted ones', () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      expect(connectionStringProblem('esdb://127.0.0.1:2113?tls=false&bogus=1', name, dir)).toBe(
        `${name}: unknown option "bogus" (the client would ignore it); the options are ` +
          Object.keys(CONNECTION_STRING_OPTIONS).join(', '),
      );
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
  });

  it('refuses tlsVerifyCert=false, which the client ignores, saying how to trust the server’s certificate', () => {
    expect(connectionStringProblem('esdb://h:2113?tlsVerifyCert=false', name, dir)).toMatch(
      /^EVENTSTORE_CONNECTION_STRING: tlsVerifyCert=false is not supported .*tlsCAFile=<file>/,
    );
  });

  it('refuses certificate files that do not exist, or a client certificate without its key, as the client would at connect', () => {
    expect(connectionStringProblem('esdb://h?tlsCAFile=ca.pem', name, dir)).toBeUndefined();
    expect(
      connectionStringProblem('esdb://h?userCertFile=user.crt&userKeyFile=user.key', name, dir),
    ).toBeUndefined();
    expect(connectionStringProblem('esdb://h?tlsCAFile=missing.pem', name, dir)).toBe(
      `${name}: tlsCAFile=missing.pem: no such file (a relative path is read from ${dir})`,
    );
    expect(connectionStringProblem('esdb://h?userCertFile=user.crt', name, dir)).toBe(
      `${name}: userCertFile and userKeyFile go together: give both (a client certificate and its key) or neither`,
    );
  });

  it.each([
    'esdb://admin:s3cr@t@host:2113',
    'esdb://admin:s3cr:t@host:2113',
    'esdb://admin:s3cr?t@host:2113',
    'esdb://admin@host:2113',
    'esdb://admin:s3cr%zt@host:2113',
  ])('refuses badly formed credentials (%s) without quoting the password', (value) => {
    const problem = connectionStringProblem(value, name, dir)!;
    expect(problem).toMatch(/^EVENTSTORE_CONNECTION_STRING: the credentials before @ must be user:password/);
    expect(problem).not.toMatch(/s3cr|admin/);
  });

  it('quotes no password of a string with another scheme', () => {
    expect(connectionStringProblem('http://admin:s3cret@store:2113', name, dir)).toBe(
      `${name}: must look like esdb://host:2113?tls=false or esdb+discover://… (got a value starting "http://admin")`,
    );
    expect(connectionStringProblem('admin:s3cret@store:2113', name, dir)).not.toMatch(/s3cret/);
  });
});

describe('shownConnectionString: a connection string fit for a message', () => {
  it.each([
    ['esdb://admin:changeit@db.internal:2113?tls=true', 'esdb://admin:***@db.internal:2113?tls=true'],
    ['esdb+discover://ops:p%40ss@a:2113,b:2113', 'esdb+discover://ops:***@a:2113,b:2113'],
    ['esdb://127.0.0.1:2113?tls=false', 'esdb://127.0.0.1:2113?tls=false'],
    ['esdb://user@host:2113', 'esdb://user@host:2113'],
    ['esdb://admin:s3cr/et@127.0.0.1:1?tls=false', 'esdb://admin:***@127.0.0.1:1?tls=false'],
    ['esdb://admin:a?b/c@h:2113', 'esdb://admin:***@h:2113'],
  ])('%s → %s', (value, shown) => {
    expect(shownConnectionString(value)).toBe(shown);
  });
});

describe('tlsDefaultHint', () => {
  const hint = (fixed: string) =>
    'TLS is on by default and the connection string does not set tls: a store without TLS (the embedded one, or ' +
    `EventStoreDB started with --insecure) needs tls=false (${fixed})`;

  it.each([
    ['esdb://127.0.0.1:4721', 'esdb://127.0.0.1:4721?tls=false'],
    ['esdb://127.0.0.1:4721/', 'esdb://127.0.0.1:4721/?tls=false'],
    ['esdb+discover://n1:2113,n2:2113', 'esdb+discover://n1:2113,n2:2113?tls=false'],
    ['esdb://es:2113?connectionName=api', 'esdb://es:2113?connectionName=api&tls=false'],
    ['esdb://admin:pa?ss@es:2113', 'esdb://admin:***@es:2113?tls=false'],
    [
      'esdb://admin:secret@es:2113?nodePreference=leader',
      'esdb://admin:***@es:2113?nodePreference=leader&tls=false',
    ],
  ])('for %s, which leaves TLS on, says so and gives the string without TLS', (value, fixed) => {
    expect(setsTls(value)).toBe(false);
    expect(tlsDefaultHint(value)).toBe(hint(fixed));
  });

  it.each([
    'esdb://127.0.0.1:4721?tls=false',
    'esdb://es:2113?tls=true',
    'esdb://es:2113?connectionName=api&TLS=false',
    'esdb://admin:secret@es:2113/?Tls=true&nodePreference=leader',
  ])('says nothing for %s, which sets tls', (value) => {
    expect(setsTls(value)).toBe(true);
    expect(tlsDefaultHint(value)).toBeUndefined();
  });

  it('never shows the password', () => {
    expect(tlsDefaultHint('esdb://admin:hunter2@es:2113')).not.toContain('hunter2');
  });
});
