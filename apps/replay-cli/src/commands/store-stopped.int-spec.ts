/**
 * An event store that stops in the middle of a command — stopped gracefully (its calls in flight end CANCELLED
 * after the server's grace) or killed (its connections cut: UNAVAILABLE) — ends every command, in every pass,
 * with one line saying so and exit 2, never `unexpected error: Error: 1 CANCELLED: Call cancelled` (verify) or
 * `… 14 UNAVAILABLE: Connection dropped` (export's first pass). Each command runs as its own process, reaching
 * the store through a relay the test hangs at the moment it wants — the command is then in the middle of a call —
 * before it stops the store behind it (`stop`) or cuts the connections as a killed process's are cut (`kill`).
 */
import { EsdbClientAdapter } from '@session-engine/event-store';
import { startHangingRelay, type HangingRelay } from '@session-engine/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedEventStore, type EmbeddedEventStore } from '../../../eventstore-embedded/src';
import { writeProjectedSessions } from '../testing/projected-sessions';
import { replayCli, spawnReplay, type ReplayChild } from '../testing/run-cli';

jest.setTimeout(90_000);

/** Polls `check` every 10 ms until it holds; fails after `ms`. */
async function until(what: string, check: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The CLI's variables for the store at `connectionString` (the read models under `DATA_DIR`). */
let env: (connectionString: string) => Record<string, string | undefined>;

/** A store on `dataDir` behind a relay; `env` points the CLI at the relay. */
async function storeBehindRelay(dataDir: string, base: Record<string, string | undefined>) {
  const store = await startEmbeddedEventStore({ port: 0, dataDir, silent: true, synchronous: 'NORMAL' });
  const relay = await startHangingRelay(store.port);
  return {
    store,
    relay,
    env: {
      ...base,
      EVENTSTORE_CONNECTION_STRING: `esdb://127.0.0.1:${relay.port}?tls=false`,
      // A progress line at every update: the test sees which pass the command is in.
      REPLAY_PROGRESS_INTERVAL_MS: '0',
    },
  };
}

/**
 * The command is in the middle of a call: the relay stops moving bytes, then the store stops — gracefully, or
 * killed (its connections cut, nothing answering afterwards).
 */
async function stopStore(how: 'stop' | 'kill', store: EmbeddedEventStore, relay: HangingRelay) {
  relay.hang();
  if (how === 'kill') relay.drop();
  await store.close();
  relay.resume();
}

/** What the command printed besides its progress lines. */
const messages = (stderr: string) =>
  stderr
    .split('\n')
    .filter((line) => line !== '' && !/^(verify|rebuild|import|export(: reading the log)?): \d/.test(line));

function expectOneLine(ended: Awaited<ReplayChild['done']>, relay: HangingRelay): string {
  const [line, ...more] = messages(ended.stderr);
  expect(more).toEqual([]);
  expect(line).not.toContain('unexpected error');
  expect(ended.stderr).not.toMatch(/\n\s+at /);
  expect(line).toMatch(
    new RegExp(
      `^session-replay: the event store at esdb://127\\.0\\.0\\.1:${relay.port}\\?tls=false stopped answering: .+\\.`,
    ),
  );
  expect(ended).toMatchObject({ code: 2, signal: null });
  return line;
}

describe('the event store stops in the middle of a command', () => {
  let dataDir: string;
  let storeDir: string;
  let exported: string;

  beforeAll(async () => {
    // The log and SQLite read models projected from it; each test starts a store of its own on them.
    dataDir = mkdtempSync(join(tmpdir(), 'replay-stopped-'));
    storeDir = join(dataDir, 'eventstore');
    env = (connectionString) => ({ EVENTSTORE_CONNECTION_STRING: connectionString, DATA_DIR: dataDir });
    const store = await startEmbeddedEventStore({
      port: 0,
      dataDir: storeDir,
      silent: true,
      synchronous: 'NORMAL',
    });
    const client = EsdbClientAdapter.connect(store.connectionString);
    try {
      // Enough events that each pass takes many calls, or a read longer than the server's flow-control window.
      await writeProjectedSessions(client, {
        connectionString: store.connectionString,
        dataDir,
        count: 1500,
      });
      exported = (await replayCli(env(store.connectionString))(['export'])).stdout;
    } finally {
      await client.close();
      await store.close();
    }
  });

  afterAll(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  it.each([
    ['verify', 'stopped', 'verify: '],
    ['verify', 'killed', 'verify: '],
    ['export', 'killed', 'export: reading the log: '],
    ['export', 'stopped', 'export: reading the log: '],
  ] as const)(
    '%s, the store %s during its read of the log: one line, exit 2',
    async (command, how, phase) => {
      const { store, relay, env } = await storeBehindRelay(storeDir, { DATA_DIR: dataDir });
      const run = spawnReplay(env, [command]);
      try {
        await until(`${command} reading the log`, () => seen(run, phase));
        await stopStore(how === 'stopped' ? 'stop' : 'kill', store, relay);
        const ended = await run.done;
        const line = expectOneLine(ended, relay);
        expect(line).toMatch(
          command === 'verify'
            ? /Run the command again once it answers\.$/
            : /The export stopped: nothing was written to stdout yet \(no header\), so it is no export: import refuses it as empty\. Run the export again once the store answers\.$/,
        );
        if (command === 'export') expect(ended.stdout).toBe('');
      } finally {
        await run.kill();
        await relay.close();
        await store.close();
      }
    },
  );

  it('export, the store killed while it writes the streams: one line saying the file is incomplete, exit 2', async () => {
    const { store, relay, env } = await storeBehindRelay(storeDir, { DATA_DIR: dataDir });
    const run = spawnReplay(env, ['export']);
    try {
      await until('export writing the streams', () => seen(run, 'export: 3/'));
      await stopStore('kill', store, relay);
      const ended = await run.done;
      const line = expectOneLine(ended, relay);
      const written = ended.stdout.split('\n').filter(Boolean);
      const header = JSON.parse(written[0]) as { streams: number };
      expect(line).toContain(
        `The export stopped: the export on stdout is incomplete: ${written.length - 1} of the ${header.streams} ` +
          'stream(s) its header announces were written (a last line may be cut), and import reports such a file ' +
          'as truncated (exit 1) after importing the streams it holds. Run the export again once the store answers.',
      );
    } finally {
      await run.kill();
      await relay.close();
      await store.close();
    }
  });

  it('rebuild, the store stopped while it builds: one line, its copy dropped, exit 2', async () => {
    const { store, relay, env } = await storeBehindRelay(storeDir, { DATA_DIR: dataDir });
    const run = spawnReplay(env, ['rebuild']);
    try {
      await until('rebuild reading the log', () => seen(run, 'rebuild: '));
      await stopStore('stop', store, relay);
      const ended = await run.done;
      const line = expectOneLine(ended, relay);
      expect(line).toMatch(
        / It stopped before its swap: the live read models are as they were\. Its copy was dropped and its lock released\. Run the rebuild again once the event store answers \(that is safe\)\.$/,
      );
    } finally {
      await run.kill();
      await relay.close();
      await store.close();
    }
  });

  it('import, the store stopped between two streams: the line, what was imported, safe to run again, exit 2', async () => {
    const targetDir = mkdtempSync(join(tmpdir(), 'replay-stopped-import-'));
    const { store, relay, env } = await storeBehindRelay(join(targetDir, 'eventstore'), {
      DATA_DIR: targetDir,
    });
    const lines = exported.split('\n');
    const run = spawnReplay(env, ['import'], { stdin: true });
    try {
      run.child.stdin!.write(`${lines.slice(0, 3).join('\n')}\n`);
      // Both stream lines imported (read back and counted): the next append is line 4's.
      await until('two streams imported', () => seen(run, 'import: 2/'));
      await stopStore('stop', store, relay);
      run.child.stdin!.end(`${lines[3]}\n`);
      const ended = await run.done;
      const [line, done, ...more] = messages(ended.stderr);
      expect(more).toEqual([]);
      expect(line).toMatch(
        /^session-replay: line 4 \(session-[^)]+\): the event store stopped answering \(.+\)$/,
      );
      expect(done).toMatch(/^Before line 4: 2 stream\(s\) imported .* run the same import again: it is safe/);
      expect(ended).toMatchObject({ code: 2, signal: null });
    } finally {
      await run.kill();
      await relay.close();
      await store.close();
      rmSync(targetDir, { recursive: true, force: true });
    }
  });
});

/** Whether the command has printed `text` on stderr so far. */
function seen(run: ReplayChild, text: string): boolean {
  return run.output().stderr.includes(text);
}
