/**
 * `npm start` as a newcomer runs it: the process (apps/session-api/src/main.ts, as the script runs it) with
 * no configuration but a data directory starts the embedded event store, prints development keys that work,
 * answers a command, stops on SIGTERM with exit 0, and on the next start keeps the keys and the session.
 * A port another process holds ends the start — of the API, of its embedded store, or of the standalone
 * projector's metrics endpoint — with one plain sentence naming the port and the setting, and no line from a
 * library in another format. A second SIGTERM while a shutdown waits (for a request, or a projector batch
 * that cannot commit) ends the process at once with exit code 1. A configuration problem — one of the two key
 * lists without the other, a connection string the client cannot parse, a development keys file that holds no
 * usable keys, an API_HOST that resolves to nothing — stops it before it starts anything, exit code 2, and no
 * development key is made or replaced. API_HOST binds the API to one address.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EsdbClientAdapter } from '@session-engine/event-store';
import { postgresTestDatabase } from '@session-engine/read-models/testing/test-databases';
import { Client } from 'pg';
import { startEmbeddedEventStore } from '../apps/eventstore-embedded/src';
import { appendHistories } from '../apps/projector/src/testing/store-fixtures';
import { workload } from '../apps/projector/src/testing/workload';
import { closedPort } from '@session-engine/testing';
import * as readline from 'node:readline';

jest.setTimeout(90_000);
const ROOT = resolve(__dirname, '..');
/** Settings of the surrounding environment the engine reads; the child sees none of them. */
const ENGINE_VARIABLES = [
  'PORT',
  'API_HOST',
  'EVENTSTORE_CONNECTION_STRING',
  'EMBEDDED_EVENTSTORE_PORT',
  'DATABASE_URL',
  'READ_MODEL_SCHEMA',
  'INTEGRATION_API_KEYS',
  'MANAGEMENT_API_KEYS',
  'LOG_LEVEL',
  'PROJECTOR_METRICS_PORT',
  'PROJECTOR_METRICS_HOST',
  'PROJECTOR_IN_PROCESS',
  'EVENTSTORE_CALL_TIMEOUT_MS',
  'SESSION_CACHE_MB',
  'DATA_DIR',
];

interface Started {
  child: ChildProcess;
  /** Its stdout so far, line by line (JSON log lines, the key banner). */
  stdout: string[];
  port: number;
  integrationKey: string;
  keysWere: 'created' | 'kept';
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children = new Set<ChildProcess>();
const dirs: string[] = [];
afterEach(async () => {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGKILL');
    await exited;
  }
  children.clear();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'npm-start-'));
  dirs.push(dir);
  return dir;
}

function run(
  env: Record<string, string>,
  main = 'apps/session-api/src/main.ts',
  nodeArgs: string[] = [],
): { child: ChildProcess; stdout: string[]; stderr: string[] } {
  const base = { ...process.env };
  for (const name of ENGINE_VARIABLES) delete base[name];
  const child = spawn(process.execPath, [...nodeArgs, '-r', './tools/register.js', main], {
    cwd: ROOT,
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const stdout: string[] = [];
  const stderr: string[] = [];
  readline.createInterface({ input: child.stdout! }).on('line', (line) => stdout.push(line));
  readline.createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  return { child, stdout, stderr };
}

const exitOf = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('exit', (code, signal) => done({ code, signal })),
  );

/** Starts the engine on free ports (and `env`); resolves once it logged that it listens. */
async function start(
  dir: string,
  nodeArgs: string[] = [],
  env: Record<string, string> = {},
): Promise<Started> {
  const { child, stdout, stderr } = run(
    { DATA_DIR: dir, PORT: '0', EMBEDDED_EVENTSTORE_PORT: '0', ...env },
    undefined,
    nodeArgs,
  );
  const exit = exitOf(child);
  let ended = false;
  void exit.then(() => (ended = true));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const listening = stdout
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg?: string; port?: number })
      .find((line) => line.msg === 'session API listening');
    if (listening) {
      const keys = stdout.join('\n');
      const key = /Integration API: {2}Authorization: (ApiKey-v1 \S+)/.exec(keys)?.[1];
      const were = /Development keys for application 1 \((created|kept) in /.exec(keys)?.[1];
      if (!key || !were) throw new Error(`no development key printed:\n${keys}`);
      return {
        child,
        stdout,
        port: listening.port!,
        integrationKey: key,
        keysWere: were as 'created' | 'kept',
        exit,
      };
    }
    if (ended) throw new Error(`npm start exited:\n${stdout.join('\n')}\n${stderr.join('\n')}`);
    if (Date.now() > deadline) throw new Error('npm start did not listen within 60 s');
    await new Promise((done) => setTimeout(done, 50));
  }
}

/** The JSON log lines among `stdout`'s. */
const logLines = (stdout: string[]) =>
  stdout.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>);

/** Exits with the process's code, its stdout and stderr lines. */
async function startRefused(env: Record<string, string>, main?: string) {
  const { child, stdout, stderr } = run(env, main);
  const exit = await exitOf(child);
  await new Promise((done) => setImmediate(done));
  return { ...exit, stdout, stderr };
}

/** 'connected', or the error code of connecting to `host:port`. */
function connectOutcome(port: number, host: string): Promise<string | undefined> {
  return new Promise((done) => {
    const socket = connect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      done('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code));
  });
}

/** A port another process (here, this one) listens on. */
async function heldPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { port: (server.address() as AddressInfo).port, server };
}

describe('npm start', () => {
  it('serves with the printed development key, stops on SIGTERM, and keeps keys and sessions across a restart', async () => {
    const dir = dataDir();
    const first = await start(dir);
    expect(first.port).toBeGreaterThan(0);
    expect(first.keysWere).toBe('created');
    // The configuration it runs with, on the line that says it listens: no key, only key ids.
    const integrationKeyId = `key-${createHash('sha256')
      .update(first.integrationKey.replace(/^ApiKey-v1 /, ''))
      .digest('hex')
      .slice(0, 16)}`;
    const listening = logLines(first.stdout).find((line) => line.msg === 'session API listening');
    expect(listening).toEqual(
      expect.objectContaining({
        level: 'info',
        port: first.port,
        eventStore: 'embedded',
        eventStoreConnectionString: expect.stringMatching(/^esdb:\/\/127\.0\.0\.1:\d+\?tls=false$/),
        eventStoreCallTimeoutMs: 10_000,
        readModels: { store: 'sqlite', file: join(dir, 'read-models.sqlite') },
        projectorInProcess: true,
        sessionCacheMb: 128,
        dataDir: dir,
        apiKeys: {
          from: join(dir, 'dev-api-keys.json'),
          integration: { '1': [integrationKeyId] },
          management: { '1': [expect.stringMatching(/^key-[0-9a-f]{16}$/)] },
        },
      }),
    );
    expect(listening).not.toHaveProperty('eventStoreHint');
    expect(JSON.stringify(listening)).not.toContain('dev-int-');
    expect(JSON.stringify(listening)).not.toContain('dev-mgmt-');
    const url = `http://127.0.0.1:${first.port}/v2/customer_sessions/newcomer-1`;
    const put = await fetch(url, {
      method: 'PUT',
      headers: { Authorization: first.integrationKey, 'Content-Type': 'application/json' },
      body: JSON.stringify({
        customerSession: { profileId: 'alice', cartItems: [{ sku: 'shirt', quantity: 2, price: 19.99 }] },
      }),
    });
    expect(put.status).toBe(200);
    const created = (await put.json()) as { customerSession: { total: number } };
    expect(created.customerSession.total).toBe(39.98);
    const ready = await fetch(`http://127.0.0.1:${first.port}/health/ready`);
    expect(ready.status).toBe(200);
    // Without API_HOST: every interface (another loopback address of this machine too).
    expect(await connectOutcome(first.port, '127.0.0.2')).toBe('connected');

    first.child.kill('SIGTERM');
    expect(await first.exit).toEqual({ code: 0, signal: null });

    const second = await start(dir);
    expect(second.keysWere).toBe('kept');
    expect(second.integrationKey).toBe(first.integrationKey);
    const get = await fetch(`http://127.0.0.1:${second.port}/v2/customer_sessions/newcomer-1`, {
      headers: { Authorization: second.integrationKey },
    });
    expect(get.status).toBe(200);
    expect(((await get.json()) as typeof created).customerSession).toEqual(created.customerSession);
    second.child.kill('SIGTERM');
    expect(await second.exit).toEqual({ code: 0, signal: null });
  });

  it('started with V8 flags (node --max-old-space-size=… --max-semi-space-size=…) it serves, projects and stops cleanly', async () => {
    // Its two worker threads (event store, projector) inherit the flags; handing them over explicitly made
    // Node refuse them ("Initiated Worker with invalid execArgv flags") and the start failed.
    const started = await start(dataDir(), ['--max-old-space-size=512', '--max-semi-space-size=32']);
    const base = `http://127.0.0.1:${started.port}`;
    const put = await fetch(`${base}/v2/customer_sessions/flags-1`, {
      method: 'PUT',
      headers: { Authorization: started.integrationKey, 'Content-Type': 'application/json' },
      body: JSON.stringify({ customerSession: { cartItems: [{ sku: 'a', quantity: 1, price: 2.5 }] } }),
    });
    expect(put.status).toBe(200);
    const ready = await fetch(`${base}/health/ready`);
    expect(await ready.json()).toEqual({
      status: 'ok',
      eventStore: 'up',
      readModels: 'up',
      // The projector it runs in process, reported (not judged); `starting` until its thread has reported.
      projector: expect.objectContaining({ status: expect.stringMatching(/^(ok|starting)$/) }),
    });
    started.child.kill('SIGTERM');
    expect(await started.exit).toEqual({ code: 0, signal: null });
    const messages = started.stdout
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line).msg);
    expect(messages).toEqual(
      expect.arrayContaining(['projector stopped', 'EventStoreDB-compatible server stopped']),
    );
  });

  it('with PROJECTOR_IN_PROCESS=false and no DATABASE_URL it warns where it reads read models; a connection string without tls gets the hint', async () => {
    const dir = dataDir();
    const storePort = await closedPort();
    const started = await start(dir, [], {
      PROJECTOR_IN_PROCESS: 'false',
      EVENTSTORE_CONNECTION_STRING: `esdb://127.0.0.1:${storePort}`,
      EVENTSTORE_CALL_TIMEOUT_MS: '3000',
      SESSION_CACHE_MB: '16',
    });
    const lines = logLines(started.stdout);
    const file = join(dir, 'read-models.sqlite');
    expect(
      lines.filter(
        (line) =>
          line.level === 'warn' &&
          line.msg !== 'no API keys configured: using development keys for application 1',
      ),
    ).toEqual([
      expect.objectContaining({
        readModels: file,
        msg:
          `PROJECTOR_IN_PROCESS=false without DATABASE_URL: this API reads the SQLite read models in ${file}, ` +
          'which only a projector started with the same DATA_DIR on this machine writes (`npm run start:projector`); ' +
          'with the projector elsewhere, set DATABASE_URL on both',
      }),
    ]);
    expect(lines.find((line) => line.msg === 'session API listening')).toEqual(
      expect.objectContaining({
        eventStore: 'external',
        eventStoreConnectionString: `esdb://127.0.0.1:${storePort}`,
        eventStoreHint:
          'TLS is on by default and the connection string does not set tls: a store without TLS (the embedded one, ' +
          `or EventStoreDB started with --insecure) needs tls=false (esdb://127.0.0.1:${storePort}?tls=false)`,
        eventStoreCallTimeoutMs: 3000,
        projectorInProcess: false,
        sessionCacheMb: 16,
      }),
    );
    started.child.kill('SIGTERM');
    expect(await started.exit).toEqual({ code: 0, signal: null });
  });

  it('with API_HOST=127.0.0.1 it listens on that address only: another address of this machine is refused', async () => {
    const started = await start(dataDir(), [], { API_HOST: '127.0.0.1' });
    const listening = started.stdout
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg?: string; host?: string })
      .find((line) => line.msg === 'session API listening');
    expect(listening?.host).toBe('127.0.0.1');
    expect((await fetch(`http://127.0.0.1:${started.port}/health/live`)).status).toBe(200);
    // Every 127.x address is this machine's loopback: a server on every interface accepts on 127.0.0.2 too.
    expect(await connectOutcome(started.port, '127.0.0.2')).toBe('ECONNREFUSED');
    started.child.kill('SIGTERM');
    expect(await started.exit).toEqual({ code: 0, signal: null });
  });

  it('a second npm start on the same DATA_DIR stops at once, saying the directory is in use; the first serves on', async () => {
    const dir = dataDir();
    const first = await start(dir);
    const second = await startRefused({ DATA_DIR: dir, PORT: '0', EMBEDDED_EVENTSTORE_PORT: '0' });
    expect(second.code).toBe(1);
    expect(second.stderr[second.stderr.length - 1]).toBe(
      `session-api failed to start: The event store's data directory ${join(dir, 'eventstore')} is in use by ` +
        'another event store process (another `npm start` or `npm run start:eventstore` with the same DATA_DIR). ' +
        'Stop it, or give this one another data directory (DATA_DIR, or --data for the standalone store).',
    );
    const put = await fetch(`http://127.0.0.1:${first.port}/v2/customer_sessions/still-here`, {
      method: 'PUT',
      headers: { Authorization: first.integrationKey, 'Content-Type': 'application/json' },
      body: JSON.stringify({ customerSession: { cartItems: [{ sku: 'a', quantity: 1, price: 1 }] } }),
    });
    expect(put.status).toBe(200);
    first.child.kill('SIGTERM');
    expect(await first.exit).toEqual({ code: 0, signal: null });
  });

  it('with SHUTDOWN_DRAIN_MS, SIGTERM first drains: new connections refused, open ones answered once more (each closing), then it stops, exit 0, without waiting out the period', async () => {
    // Ten minutes: the process must stop once its connections are gone, not wait that long (jest gives 60 s).
    const started = await start(dataDir(), [], { SHUTDOWN_DRAIN_MS: '600000' });
    const base = { host: '127.0.0.1', port: started.port };
    // Two pooled keep-alive connections, open and idle.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    const request = (path: string, method = 'GET', body?: string) =>
      new Promise<{ status?: number; connection?: string; error?: string }>((done) => {
        const req = http.request(
          {
            ...base,
            agent,
            path,
            method,
            headers: { Authorization: started.integrationKey, 'Content-Type': 'application/json' },
          },
          (res) => {
            res.resume();
            res.on('end', () => done({ status: res.statusCode, connection: res.headers.connection }));
          },
        );
        req.on('error', (error: NodeJS.ErrnoException) => done({ error: error.code }));
        req.end(body);
      });
    expect(await Promise.all([request('/health/live'), request('/health/live')])).toEqual([
      { status: 200, connection: 'keep-alive' },
      { status: 200, connection: 'keep-alive' },
    ]);

    const logged = (msg: string) => logLines(started.stdout).find((line) => line.msg === msg);
    started.child.kill('SIGTERM');
    const draining =
      'draining: new connections are refused; open ones are answered, each answer closing its connection';
    for (let waited = 0; !logged(draining); waited += 20) {
      if (waited > 30_000) throw new Error('no "draining" line after SIGTERM');
      await new Promise((done) => setTimeout(done, 20));
    }
    expect(logged(draining)).toMatchObject({ drainMs: 600000 });
    expect(await connectOutcome(started.port, '127.0.0.1')).toBe('ECONNREFUSED');
    expect(await request('/health/ready')).toEqual({ status: 503, connection: 'close' });
    const body = JSON.stringify({ customerSession: { cartItems: [{ sku: 'a', quantity: 1, price: 1 }] } });
    expect(await request('/v2/customer_sessions/while-draining', 'PUT', body)).toEqual({
      status: 200,
      connection: 'close',
    });
    expect(await started.exit).toEqual({ code: 0, signal: null });
    expect(logged('stopped')).toBeDefined();
    agent.destroy();
  });

  it('a second SIGTERM while the shutdown waits for a request in flight ends the process at once, exit 1', async () => {
    const started = await start(dataDir());
    // A request the server has accepted (it answered 100 Continue) and whose body never comes: the first
    // SIGTERM's shutdown waits for it.
    const socket = connect(started.port, '127.0.0.1');
    const interim = new Promise<string>((done) => socket.once('data', (chunk) => done(chunk.toString())));
    socket.write(
      'PUT /v2/customer_sessions/slow HTTP/1.1\r\nHost: x\r\n' +
        `Authorization: ${started.integrationKey}\r\nContent-Type: application/json\r\n` +
        'Content-Length: 100\r\nExpect: 100-continue\r\n\r\n',
    );
    expect(await interim).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    socket.write('{"customerSession":');
    const closed = new Promise((done) => socket.once('close', done));

    const logged = (msg: string) => started.stdout.some((line) => line.includes(`"msg":"${msg}"`));
    started.child.kill('SIGTERM');
    for (let waited = 0; !logged('shutting down'); waited += 20) {
      if (waited > 30_000) throw new Error('no "shutting down" line after SIGTERM');
      await new Promise((done) => setTimeout(done, 20));
    }
    expect(started.child.exitCode).toBeNull(); // waiting for the request
    started.child.kill('SIGTERM');
    expect(await started.exit).toEqual({ code: 1, signal: null });
    expect(logged('second signal: exiting without waiting for the shutdown to finish')).toBe(true);
    await closed;
  });

  it.each([
    [
      'PORT',
      (port: number) => `The API cannot listen on port ${port}: another process is using that port`,
      'set PORT to a free port',
    ],
    [
      'EMBEDDED_EVENTSTORE_PORT',
      (port: number) =>
        `The embedded event store cannot listen on 127.0.0.1:${port}: another process is using that port`,
      'set EMBEDDED_EVENTSTORE_PORT to a free port',
    ],
  ])(
    'a %s another process holds: one sentence naming the port and the setting, exit 1',
    async (name, says, remedy) => {
      const { port, server } = await heldPort();
      try {
        const ports = { PORT: '0', EMBEDDED_EVENTSTORE_PORT: '0', [name]: String(port) };
        const result = await startRefused({ DATA_DIR: dataDir(), ...ports });
        expect(result.code).toBe(1);
        const last = result.stderr[result.stderr.length - 1]!;
        expect(last).toContain(`session-api failed to start: ${says(port)}`);
        expect(last).toContain(remedy);
        // Every other line is the engine's JSON log (grpc-js's own "E No address added…" is not among them).
        for (const line of [...result.stdout, ...result.stderr.slice(0, -1)])
          if (line.trim() && !line.startsWith(' ') && !line.startsWith('Development keys'))
            expect(() => JSON.parse(line) as unknown).not.toThrow();
        expect(result.stderr.join('\n')).not.toContain('No address added');
      } finally {
        server.close();
      }
    },
  );
});

describe('npm start with a configuration problem', () => {
  it.each([
    [
      'only INTEGRATION_API_KEYS',
      { INTEGRATION_API_KEYS: 'checkout-key-0001=1' },
      'MANAGEMENT_API_KEYS: not set, while INTEGRATION_API_KEYS is; set both (or neither, for development keys of application 1 under DATA_DIR)',
    ],
    [
      'only MANAGEMENT_API_KEYS',
      { MANAGEMENT_API_KEYS: 'backoffice-key-0001=*' },
      'INTEGRATION_API_KEYS: not set, while MANAGEMENT_API_KEYS is; set both (or neither, for development keys of application 1 under DATA_DIR)',
    ],
    [
      'a malformed EVENTSTORE_CONNECTION_STRING',
      { EVENTSTORE_CONNECTION_STRING: 'esdb://127.0.0.1:abc?tls=false' },
      'EVENTSTORE_CONNECTION_STRING: "abc" in "127.0.0.1:abc" is not a port number (1..65535)',
    ],
    [
      'PORT equal to EMBEDDED_EVENTSTORE_PORT',
      { PORT: '43117', EMBEDDED_EVENTSTORE_PORT: '43117' },
      'PORT and EMBEDDED_EVENTSTORE_PORT are both 43117: the API and the embedded event store it starts (EVENTSTORE_CONNECTION_STRING unset) each listen on their own port, so the two must differ',
    ],
    [
      'an API_HOST that resolves to no address',
      { API_HOST: 'no-such-host.invalid' },
      'API_HOST: "no-such-host.invalid" does not resolve to an address (ENOTFOUND); set API_HOST to a host name or IP address of this machine (127.0.0.1, or 0.0.0.0 for every interface)',
    ],
  ])(
    '%s: stops before it starts anything, naming the variable, exit 2, no development key',
    async (_, env, says) => {
      const dir = dataDir();
      const result = await startRefused({ DATA_DIR: dir, PORT: '0', EMBEDDED_EVENTSTORE_PORT: '0', ...env });
      expect({ code: result.code, stdout: result.stdout, stderr: result.stderr }).toEqual({
        code: 2,
        stdout: [],
        stderr: ['Invalid configuration:', `  - ${says}`],
      });
      expect(readdirSync(dir)).toEqual([]); // no key file, no event store
    },
  );

  it.each([
    [
      'one one-character key for both APIs',
      '{"integrationKey":"a","managementKey":"a"}',
      '"integrationKey" must be 8..256 characters of A-Z a-z 0-9 . _ ~ + / - (a shorter one is too easy to guess to be a secret); ' +
        '"managementKey" must be 8..256 characters of A-Z a-z 0-9 . _ ~ + / - (a shorter one is too easy to guess to be a secret)',
    ],
    [
      'a misspelt field',
      '{"integrationKey":"checkout-key-0001","management_key":"backoffice-key-0001"}',
      'unknown field "management_key"; "managementKey" is missing',
    ],
    ['a file cut short', '{"integrationKey":"checkout-key-0', 'it is not valid JSON'],
  ])(
    'a development keys file with %s: stops before it starts anything, naming the file, exit 2, the file kept',
    async (_, content, why) => {
      const dir = dataDir();
      const file = join(dir, 'dev-api-keys.json');
      writeFileSync(file, content);
      const result = await startRefused({ DATA_DIR: dir, PORT: '0', EMBEDDED_EVENTSTORE_PORT: '0' });
      expect({ code: result.code, stdout: result.stdout, stderr: result.stderr }).toEqual({
        code: 2,
        stdout: [],
        stderr: [
          'Invalid configuration:',
          `  - The development keys file ${file} cannot be used: ${why}. It must hold {"integrationKey": "…", ` +
            '"managementKey": "…"}, two different keys, each 8..256 characters of A-Z a-z 0-9 . _ ~ + / -. ' +
            'Correct it, or delete it to have new keys made at the next start (clients then need the new keys).',
        ],
      });
      expect(readFileSync(file, 'utf8')).toBe(content);
      expect(readdirSync(dir)).toEqual(['dev-api-keys.json']); // no event store
    },
  );
});

describe('npm run start:projector', () => {
  it('a metrics port another process holds: one sentence naming the address and the setting, exit 1', async () => {
    const store = await startEmbeddedEventStore({ port: 0, dataDir: dataDir(), silent: true });
    const { port, server } = await heldPort();
    try {
      const result = await startRefused(
        {
          DATA_DIR: dataDir(),
          EVENTSTORE_CONNECTION_STRING: store.connectionString,
          PROJECTOR_METRICS_PORT: String(port),
          LOG_LEVEL: 'error',
        },
        'apps/projector/src/main.ts',
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toEqual([
        `projector: could not start: The projector’s metrics and health endpoint cannot listen on 127.0.0.1:${port}: ` +
          'another process is using that port. Stop it, or set PROJECTOR_METRICS_PORT to a free port (0 for none).',
      ]);
    } finally {
      server.close();
      await store.close();
    }
  });

  it('serves the process’s own metrics beside its projector_* ones (memory, CPU, event-loop lag, start time)', async () => {
    const store = await startEmbeddedEventStore({ port: 0, dataDir: dataDir(), silent: true });
    const port = await closedPort();
    const { child } = run(
      {
        DATA_DIR: dataDir(),
        EVENTSTORE_CONNECTION_STRING: store.connectionString,
        PROJECTOR_METRICS_PORT: String(port),
        LOG_LEVEL: 'error',
      },
      'apps/projector/src/main.ts',
    );
    const exit = exitOf(child);
    try {
      let text = '';
      for (const deadline = Date.now() + 30_000; !text.includes('projector_leader 1');) {
        if (child.exitCode !== null || Date.now() > deadline)
          throw new Error('no /metrics from the projector');
        text = await fetch(`http://127.0.0.1:${port}/metrics`)
          .then((response) => response.text())
          .catch(() => '');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      for (const name of [
        'process_start_time_seconds',
        'process_resident_memory_bytes',
        'process_cpu_seconds_total',
        'nodejs_eventloop_lag_seconds',
        'nodejs_heap_size_used_bytes',
      ])
        expect({ name, served: new RegExp(`^${name} `, 'm').test(text) }).toEqual({ name, served: true });
    } finally {
      child.kill('SIGTERM');
      await exit;
      await store.close();
    }
  });

  it('a second SIGTERM while the batch in hand cannot commit ends it at once, exit 1', async () => {
    const database = postgresTestDatabase();
    const store = await startEmbeddedEventStore({ port: 0, dataDir: dataDir(), silent: true });
    const client = EsdbClientAdapter.connect(store.connectionString);
    const { databaseUrl, schema } = database.options();
    const blocker = new Client({ connectionString: databaseUrl });
    try {
      const first = await appendHistories(client, workload(3));
      const { child, stdout } = run(
        {
          DATA_DIR: dataDir(),
          EVENTSTORE_CONNECTION_STRING: store.connectionString,
          DATABASE_URL: databaseUrl!,
          READ_MODEL_SCHEMA: schema!,
          PROJECTOR_METRICS_PORT: '0',
          LOG_LEVEL: 'info',
        },
        'apps/projector/src/main.ts',
      );
      const exit = exitOf(child);
      const until = async (what: string, done: () => Promise<boolean> | boolean) => {
        for (const deadline = Date.now() + 30_000; !(await done());) {
          if (child.exitCode !== null) throw new Error(`the projector exited before ${what}`);
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
      };
      const queries = async (sql: string) => (await blocker.query(sql)).rows as Record<string, unknown>[];
      await blocker.connect();
      await until('the first events to be projected', async () => {
        const rows = await queries(
          `select to_regclass('${schema}.projection_checkpoints') is not null as present`,
        ).catch(() => [{ present: false }]);
        if (rows[0]?.present !== true) return false;
        const positions = await queries(`select position from ${schema}.projection_checkpoints`);
        return positions.length > 0 && positions.every((row) => BigInt(String(row.position)) >= first);
      });
      // The next batch waits on a lock this test holds, and keeps waiting.
      await blocker.query(`begin; lock table ${schema}.sessions in access exclusive mode`);
      await appendHistories(client, workload(1, 3));
      await until('the projector to wait on the lock', async () => {
        const rows = await queries(
          'select 1 from pg_stat_activity where pg_backend_pid() = any(pg_blocking_pids(pid))',
        );
        return rows.length > 0;
      });
      const logged = (msg: string) => stdout.some((line) => line.includes(`"msg":"${msg}"`));
      child.kill('SIGTERM');
      await until('"projector shutting down"', () => logged('projector shutting down'));
      expect(child.exitCode).toBeNull(); // its batch cannot commit
      child.kill('SIGTERM');
      expect(await exit).toEqual({ code: 1, signal: null });
      expect(logged('second signal: exiting without waiting for the shutdown to finish')).toBe(true);
    } finally {
      await blocker.end().catch(() => undefined);
      await client.close();
      await store.close();
      await database.drop();
    }
  });
});
