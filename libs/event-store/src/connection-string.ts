/**
 * EVENTSTORE_CONNECTION_STRING checked at start-up, with the setting named, by every process that reads it (the
 * API, the projector, the replay CLI) — not at the first connect, where `@eventstore/db-client` throws
 * `Unexpected "abc" at position 17, expected port number.` naming nothing, and prints `Unknown option key …` for
 * an option it ignores (plain lines on stderr, among the JSON log). The grammar is the client's own
 * (`esdb://` or `esdb+discover://`, an optional `user:password@`, `host[:port]` joined by commas, `?key=value`
 * options joined by `&`), held strictly: a port that is not a number from 1 to 65535, an option this client does
 * not know, a value of the wrong kind are refused. A string that passes is then given to the client's parser,
 * so nothing it would refuse gets through. No message quotes the user name or password.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { clientReadsConnectionString } from './esdb-client.adapter';

type OptionKind = 'boolean' | 'integer' | 'text' | 'file' | 'nodePreference';

/** The options `@eventstore/db-client` 6 reads from a connection string, by the name its documentation gives. */
export const CONNECTION_STRING_OPTIONS: Readonly<Record<string, OptionKind>> = {
  tls: 'boolean',
  tlsVerifyCert: 'boolean',
  tlsCAFile: 'file',
  userCertFile: 'file',
  userKeyFile: 'file',
  connectionName: 'text',
  nodePreference: 'nodePreference',
  defaultDeadline: 'integer',
  keepAliveInterval: 'integer',
  keepAliveTimeout: 'integer',
  maxDiscoverAttempts: 'integer',
  discoveryInterval: 'integer',
  gossipTimeout: 'integer',
  throwOnAppendFailure: 'boolean',
  dnsDiscover: 'boolean',
};

const NODE_PREFERENCES = ['leader', 'follower', 'random', 'read_only_replica'];

/** How the client matches an option name or a node preference: case, `_` and `-` do not count. */
const flat = (text: string): string => text.trim().toLowerCase().replace(/[_-]/g, '');
const OPTION_BY_FLAT_NAME = new Map(Object.keys(CONNECTION_STRING_OPTIONS).map((key) => [flat(key), key]));

const FORM = 'esdb://host:2113?tls=false or esdb+discover://…';

/**
 * The problem with `value` as an event-store connection string, in the form of the other configuration
 * problems (`EVENTSTORE_CONNECTION_STRING: …`); undefined when `@eventstore/db-client` can connect with it.
 * Relative certificate files are looked up from `cwd`, as the client does.
 */
export function connectionStringProblem(
  value: string,
  name = 'EVENTSTORE_CONNECTION_STRING',
  cwd = process.cwd(),
): string | undefined {
  const problem = grammarProblem(value.trim().replace(/\/+$/, ''), cwd);
  if (problem !== undefined) return `${name}: ${problem}`;
  try {
    clientReadsConnectionString(value);
  } catch (error) {
    // Not expected once the checks above passed; said without the string itself (it may hold a password).
    const expected = (error as { expected?: unknown }).expected;
    return `${name}: the EventStoreDB client cannot read it${typeof expected === 'string' ? ` (it expected ${expected})` : ''}; it must look like ${FORM}`;
  }
  return undefined;
}

function grammarProblem(text: string, cwd: string): string | undefined {
  const scheme = /^([^:/?@]*):\/\//.exec(text);
  if (!scheme || (scheme[1] !== 'esdb' && scheme[1] !== 'esdb+discover')) {
    // The client parses only esdb:// and esdb+discover:// (6.x refuses kurrentdb://; a KurrentDB server is
    // reached with the same esdb:// string). Quoted up to the host at most: never a user name or password.
    const start = scheme
      ? `${scheme[0]}${/^[^:@/?]*/.exec(text.slice(scheme[0].length))![0]}`
      : /^[^:@/?]*/.exec(text)![0];
    return `must look like ${FORM} (got a value starting "${start.slice(0, 12)}")`;
  }
  const rest = text.slice(scheme[0].length);
  // As the client reads it: credentials up to the first @, then the hosts, then the options after a ?.
  const at = rest.indexOf('@');
  if (at >= 0 && !credentialsWellFormed(rest.slice(0, at))) return CREDENTIALS;
  const query = rest.indexOf('?', at + 1);
  const hosts = (query < 0 ? rest.slice(at + 1) : rest.slice(at + 1, query)).replace(/\/+$/, '');
  const hostsProblem = hostsProblemOf(hosts);
  if (hostsProblem !== undefined) return hostsProblem;
  return query < 0 ? undefined : optionsProblem(rest.slice(query + 1), cwd);
}

/** Said of any credentials the client would misread; neither they nor a part of them is quoted. */
const CREDENTIALS =
  'the credentials before @ must be user:password, with a :, @ or ? in either percent-encoded (%3A, %40, %3F), ' +
  'as an @ anywhere else in the string must be (%40)';

function credentialsWellFormed(credentials: string): boolean {
  const colon = credentials.indexOf(':');
  const [user, password] = [credentials.slice(0, colon), credentials.slice(colon + 1)];
  if (colon <= 0 || password === '' || /[:?]/.test(password) || user.includes('?')) return false;
  try {
    decodeURIComponent(user);
    decodeURIComponent(password);
    return true;
  } catch {
    return false;
  }
}

function hostsProblemOf(hosts: string): string | undefined {
  if (hosts === '') return `no host given; it must look like ${FORM}`;
  // A second @: the password held an unencoded @ (not quoted, as what precedes it may be part of it).
  if (hosts.includes('@')) return CREDENTIALS;
  // As the client reads them: white space around a host is trimmed, an empty entry (a trailing comma) skipped.
  for (const host of hosts
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')) {
    const [address = '', port, ...more] = host.split(':');
    if (!/^[^\s$+!?*'(),;[\]{}|"%~#<>=&/@]+$/u.test(address) || more.length > 0)
      return `"${host}" is not a host or host:port (hosts are joined by commas)`;
    if (port !== undefined && !(/^\d{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535))
      return `"${port}" in "${host}" is not a port number (1..65535)`;
  }
  return undefined;
}

function optionsProblem(query: string, cwd: string): string | undefined {
  const seen = new Map<string, string>();
  for (const pair of query.split('&')) {
    const equals = pair.indexOf('=');
    const [rawKey, value] = [pair.slice(0, Math.max(equals, 0)), pair.slice(equals + 1).trim()];
    if (equals <= 0 || value === '' || value.includes('?'))
      return `"${pair}" is not an option of the form key=value (options follow one ? and are joined by &)`;
    const key = OPTION_BY_FLAT_NAME.get(flat(rawKey));
    if (key === undefined)
      return `unknown option "${rawKey}" (the client would ignore it); the options are ${Object.keys(CONNECTION_STRING_OPTIONS).join(', ')}`;
    if (seen.has(key)) return `the option ${key} is given twice`;
    seen.set(key, value);
    const problem = valueProblem(key, value);
    if (problem !== undefined) return problem;
  }
  if (seen.has('userCertFile') !== seen.has('userKeyFile'))
    return 'userCertFile and userKeyFile go together: give both (a client certificate and its key) or neither';
  const tls = seen.get('tls') !== 'false';
  // The client ignores it (and says so on stderr): with TLS the server's certificate would still be verified.
  if (tls && seen.get('tlsVerifyCert') === 'false')
    return 'tlsVerifyCert=false is not supported by the EventStoreDB client (it would be ignored); give the server’s CA certificate with tlsCAFile=<file> (or NODE_EXTRA_CA_CERTS), or tls=false';
  for (const key of ['tlsCAFile', 'userCertFile', 'userKeyFile']) {
    const file = seen.get(key);
    // The client reads a client certificate even without TLS, the CA file only with it.
    if (file === undefined || (key === 'tlsCAFile' && !tls)) continue;
    const decoded = decodeURIComponent(file);
    if (!existsSync(isAbsolute(decoded) ? decoded : resolve(cwd, decoded)))
      return `${key}=${file}: no such file (a relative path is read from ${cwd})`;
  }
  return undefined;
}

function valueProblem(key: string, value: string): string | undefined {
  switch (CONNECTION_STRING_OPTIONS[key]) {
    case 'boolean':
      return value === 'true' || value === 'false'
        ? undefined
        : `${key}=${value}: ${key} must be true or false`;
    case 'integer':
      return /^-?\d+$/.test(value) ? undefined : `${key}=${value}: ${key} must be a whole number`;
    case 'nodePreference':
      return NODE_PREFERENCES.some((preference) => flat(preference) === flat(value))
        ? undefined
        : `${key}=${value}: ${key} must be one of ${NODE_PREFERENCES.join(', ')}`;
    default:
      try {
        decodeURIComponent(value);
        return undefined;
      } catch {
        return `${key}=${value}: not properly percent-encoded (a % must start %XX)`;
      }
  }
}

/**
 * Whether `value` sets the `tls` option (as the client matches option names: case, `_` and `-` do not count).
 * Without it the client connects with TLS, which a store without TLS never answers: it looks not reachable.
 */
export function setsTls(value: string): boolean {
  const text = value.trim();
  const rest = text.slice((/^[^:/?@]*:\/\//.exec(text)?.[0] ?? '').length);
  // As the client reads it: credentials up to the first @, the options after the next ?.
  const query = rest.indexOf('?', rest.indexOf('@') + 1);
  if (query < 0) return false;
  return rest
    .slice(query + 1)
    .split('&')
    .some((pair) => pair.includes('=') && flat(pair.slice(0, pair.indexOf('='))) === 'tls');
}

/**
 * For a connection string that leaves TLS to the client's default (on): why a store without TLS does not answer
 * it, and the string that reaches one (the password shown as ***). Undefined when the string sets `tls`.
 */
export function tlsDefaultHint(value: string): string | undefined {
  if (setsTls(value)) return undefined;
  const shown = shownConnectionString(value.trim());
  const fixed = `${shown}${/\?/.test(shown.slice(shown.indexOf('@') + 1)) ? '&' : '?'}tls=false`;
  return (
    'TLS is on by default and the connection string does not set tls: a store without TLS (the embedded one, or ' +
    `EventStoreDB started with --insecure) needs tls=false (${fixed})`
  );
}

/**
 * A connection string to show in a message or a log: the password of a `user:password@` replaced by `***` (the
 * user name kept: it tells which account was used).
 */
export function shownConnectionString(value: string): string {
  // As the client reads credentials: up to the first @ (a password may hold a / or a ?).
  return value.replace(/^([a-z+]+:\/\/[^:@/?]*):[^@]*@/i, '$1:***@');
}
