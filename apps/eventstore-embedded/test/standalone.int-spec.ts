/**
 * `npm run start:eventstore` (src/main.ts) as an operator runs it: a refused setting names the flag or the
 * variable it came from and exits 2 before anything is opened; without `--data` the store lives where
 * `npm start` keeps its embedded store (`$DATA_DIR/eventstore`), so both open the same log. Everything it
 * writes is a JSON log line with `level` and `time`, as the API's and the projector's lines are.
 */
import Database from 'better-sqlite3';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';

// Each test starts the server as its own process (transpiling main.ts first): seconds on a loaded machine.
// Nothing here is timed; the timeout only bounds a hang.
jest.setTimeout(60_000);

const ROOT = path.resolve(__dirname, '../../..');
const MAIN = 'apps/eventstore-embedded/src/main.ts';
/** A file where a directory is expected (this very file). */
const FILE = __filename;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A log line as every service of the project writes it (apps/projector/src/logger.ts). */
function expectLogLine(text: string): Record<string, unknown> {
  const line = JSON.parse(text) as Record<string, unknown>;
  expect({ text, level: line.level, time: line.time, service: line.service }).toEqual({
    text,
    level: expect.stringMatching(/^(debug|info|warn|error)$/),
    time: expect.stringMatching(ISO_TIME),
    service: 'eventstore-embedded',
  });
  return line;
}

function runRefused(args: string[], env: Record<string, string> = {}) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'esdb-standalone-'));
  const result = spawnSync(process.execPath, ['-r', './tools/register.js', MAIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, DATA_DIR: dataDir, ...env },
    timeout: 30_000,
  });
  return { ...result, created: fs.readdirSync(dataDir) };
}

describe('the embedded event store run alone', () => {
  // A server a test started and did not stop (it failed, or timed out waiting for the start-up line) is
  // killed here: a child process left running keeps jest from exiting.
  let running: ChildProcess | undefined;
  afterEach(() => {
    if (running && running.exitCode === null && running.signalCode === null) running.kill('SIGKILL');
    running = undefined;
  });

  it.each([
    [['--port', 'abc'], {}, '--port: must be an integer from 0 to 65535 (got "abc")'],
    [['--port', '70000'], {}, '--port: must be an integer from 0 to 65535 (got "70000")'],
    [[], { EMBEDDED_EVENTSTORE_PORT: '21.5' }, 'EMBEDDED_EVENTSTORE_PORT: must be an integer'],
    [
      [],
      { EMBEDDED_EVENTSTORE_SYNCHRONOUS: 'fast' },
      'EMBEDDED_EVENTSTORE_SYNCHRONOUS: must be FULL or NORMAL',
    ],
    [['--synchronous', 'off'], {}, '--synchronous: must be FULL or NORMAL (got "off")'],
    [['--max-append-size', '0'], {}, '--max-append-size: must be an integer from 1'],
    [['--group-commit-window-ms', '-1'], {}, '--group-commit-window-ms: must be an integer from 0 to 1000'],
    [[], { EMBEDDED_EVENTSTORE_HOST: 'not a host' }, 'EMBEDDED_EVENTSTORE_HOST: must be a host name'],
    [
      [],
      { EMBEDDED_EVENTSTORE_SCAVENGE_INTERVAL_MS: '1000' },
      'EMBEDDED_EVENTSTORE_SCAVENGE_INTERVAL_MS: "1000" is not 0 (no scavenge) or a whole number of milliseconds from 60000 to 86400000',
    ],
    [['--scavenge-interval-ms', '1h'], {}, '--scavenge-interval-ms: "1h" is not 0 (no scavenge)'],
    [
      [],
      { EMBEDDED_EVENTSTORE_HOST: 'no-such-host.invalid' },
      'EMBEDDED_EVENTSTORE_HOST: "no-such-host.invalid" does not resolve to an address (ENOTFOUND); ' +
        'set EMBEDDED_EVENTSTORE_HOST to a host name or IP address of this machine (127.0.0.1, or 0.0.0.0 for every interface)',
    ],
    [
      // TEST-NET-1 (RFC 5737): an address no machine has.
      ['--host', '192.0.2.1'],
      {},
      '--host: "192.0.2.1" is not an address of this machine (no network interface has it); set --host to',
    ],
    [[], { DATA_DIR: FILE }, `DATA_DIR: ${FILE} is not a directory`],
    [[], { DATA_DIR: path.join(FILE, 'below') }, `DATA_DIR: ${path.join(FILE, 'below')} is not a directory`],
    [['--data', FILE], {}, `--data: ${FILE} is not a directory`],
  ])('refuses %j %j naming where the value came from', (args, env, message) => {
    const result = runRefused(args, env);
    expect(result.status).toBe(2);
    const line = expectLogLine(result.stderr.trim().split('\n').pop()!);
    expect(line.level).toBe('error');
    expect(line.msg).toContain(message);
    expect(result.created).toEqual([]);
  });

  it('says which port another process holds and how to choose another, in its JSON log only, exit 2', async () => {
    const holder = net.createServer();
    await new Promise<void>((done) => holder.listen(0, '127.0.0.1', done));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const result = runRefused(['--port', String(port)]);
      expect(result.status).toBe(2);
      const lines = result.stderr.trim().split('\n');
      // No bare line of grpc-js's ("E No address added out of total 1 resolved") among them.
      expect(lines).toHaveLength(1);
      expect(expectLogLine(lines[0]!)).toMatchObject({
        level: 'error',
        msg: `The event store cannot listen on 127.0.0.1:${port}: another process is using that port. Stop it, or set --port to a free port (0 picks one).`,
      });
    } finally {
      holder.close();
    }
  });

  it('writes only JSON log lines with level and time, from start-up (migrating an old log) to shutdown', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'esdb-standalone-'));
    // A log in the layout before the `wire` column: the start-up migrates it and says so.
    const old = new Database(path.join(dataDir, 'eventstore.sqlite'));
    old.exec(`CREATE TABLE events (
        position INTEGER PRIMARY KEY, stream TEXT NOT NULL, revision INTEGER NOT NULL, event_id TEXT NOT NULL,
        type TEXT NOT NULL, content_type TEXT NOT NULL, data BLOB NOT NULL, metadata BLOB NOT NULL,
        created INTEGER NOT NULL, UNIQUE (stream, revision))`);
    old.close();
    const child = spawn(
      process.execPath,
      ['-r', './tools/register.js', MAIN, '--port', '0', '--data', dataDir],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    running = child;
    const lines: { stream: string; text: string }[] = [];
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const listening = new Promise<void>((resolve, reject) => {
      void exited.then((code) => reject(new Error(`exited with ${code}`)));
      for (const stream of ['stdout', 'stderr'] as const) {
        readline.createInterface({ input: child[stream]! }).on('line', (text) => {
          lines.push({ stream, text });
          if (/listening on/.test(text)) resolve();
        });
      }
    });
    await listening;
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    // The pipes may still hold the last lines when the process has exited.
    await Promise.all(
      [child.stdout!, child.stderr!].map(
        (stream) =>
          new Promise((resolve) => (stream.readableEnded ? resolve(undefined) : stream.once('end', resolve))),
      ),
    );

    // Every line, on either stream, is a log line; in order within each stream.
    const logged = (stream: string) =>
      lines
        .filter((line) => line.stream === stream)
        .map(({ text }) => {
          const { level, msg } = expectLogLine(text);
          return { level, msg };
        });
    expect(logged('stderr')).toEqual([
      {
        level: 'warn',
        msg: expect.stringMatching(/^migrating 0 events in .* to the current storage layout/),
      },
    ]);
    expect(logged('stdout')).toEqual([
      { level: 'info', msg: expect.stringMatching(/^EventStoreDB-compatible server listening/) },
      { level: 'info', msg: 'SIGTERM received, shutting down' },
      { level: 'info', msg: 'EventStoreDB-compatible server stopped' },
    ]);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('keeps its log in $DATA_DIR/eventstore without --data, as npm start does', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'esdb-standalone-'));
    const child = spawn(process.execPath, ['-r', './tools/register.js', MAIN, '--port', '0'], {
      cwd: ROOT,
      env: { ...process.env, DATA_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    running = child;
    try {
      const started = await new Promise<{ dataDir: string; port: number }>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`exited with ${code}`)));
        readline.createInterface({ input: child.stdout! }).on('line', (line) => {
          const parsed = JSON.parse(line) as { dataDir?: string; port?: number };
          if (parsed.port) resolve(parsed as { dataDir: string; port: number });
        });
      });
      expect(started.dataDir).toBe(path.join(dataDir, 'eventstore'));
      expect(fs.readdirSync(path.join(dataDir, 'eventstore'))).toContain('eventstore.sqlite');
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  });
});
