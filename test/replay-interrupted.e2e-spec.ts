/**
 * The replay CLI interrupted (SIGINT — Ctrl-C —, SIGTERM) while a command with nothing to clean up runs: it ends
 * at once, as before, but first
 * - gives the terminal back its cursor and line wrap, which its progress bar took (ESC[?25l, ESC[?7l): Ctrl-C
 *   on a real terminal (a pty, through `script`) during verify and import;
 * - says what it had done: import how many streams and events it wrote, that the stream it was appending may
 *   be partly imported, and that the same import again is safe — and it is: it completes that stream and skips
 *   the others; export that the file is incomplete (before its header: empty) and what import says of it.
 *
 * The commands reach the store through a relay that the store hangs from inside a call (`onRpc`): the command is
 * then waiting in the middle of that call, at a known point, when the signal comes.
 */
import { EsdbClientAdapter } from '@session-engine/event-store';
import { startHangingRelay, type HangingRelay } from '@session-engine/testing';
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedEventStore, startInThisThread } from '../apps/eventstore-embedded/src';
import { writeProjectedSessions } from '../apps/replay-cli/src/testing/projected-sessions';
import { replayCli, spawnReplay } from '../apps/replay-cli/src/testing/run-cli';

jest.setTimeout(90_000);

const ROOT = join(__dirname, '..');

/** Polls `check` every 10 ms until it holds; fails after `ms`. */
async function until(what: string, check: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * A store in this thread behind a relay. `hangAt(rpc, n)`: the relay hangs when the store receives its `n`-th
 * next call of `rpc` (`Streams.Read`, `Streams.BatchAppend`), before it answers it.
 */
async function storeBehindRelay(dataDir: string) {
  let trap: { rpc: string; left: number; hung: () => void } | undefined;
  // eslint-disable-next-line prefer-const
  let relay: HangingRelay;
  const store = await startInThisThread({ port: 0, dataDir, silent: true, synchronous: 'NORMAL' }, (rpc) => {
    if (trap?.rpc === rpc && --trap.left === 0) {
      relay.hang();
      trap.hung();
      trap = undefined;
    }
  });
  relay = await startHangingRelay(store.port);
  return {
    store,
    relay,
    connectionString: `esdb://127.0.0.1:${relay.port}?tls=false`,
    /** Resolves once the relay hung at that call. */
    hangAt: (rpc: string, n: number) => new Promise<void>((hung) => (trap = { rpc, left: n, hung })),
    close: async () => {
      await relay.close();
      await store.close();
    },
  };
}

const ESC_HIDE = '\x1b[?25l';
const ESC_SHOW = '\x1b[?25h';
const ESC_NOWRAP = '\x1b[?7l';
const ESC_WRAP = '\x1b[?7h';

/** The terminal is left as it was: every cursor hidden is shown again after, every wrap turned off is on again. */
function expectTerminalRestored(output: string): void {
  expect(output).toContain(ESC_HIDE); // the bar was drawn
  expect(output.lastIndexOf(ESC_SHOW)).toBeGreaterThan(output.lastIndexOf(ESC_HIDE));
  expect(output.lastIndexOf(ESC_WRAP)).toBeGreaterThan(output.lastIndexOf(ESC_NOWRAP));
}

/**
 * Runs `command` (a shell command line) on a pseudo-terminal (`script`), as at a terminal: stderr and stdout
 * are the terminal; `ctrlC()` types Ctrl-C (the terminal sends SIGINT to the command).
 */
function onTerminal(command: string, env: Record<string, string | undefined>) {
  const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], {
    cwd: ROOT,
    env: { ...process.env, ...env, TERM: 'xterm' },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const done = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    output: () => output,
    ctrlC: () => child.stdin.write('\x03'),
    done,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          // gone
        }
        await done;
      }
    },
  };
}

const CLI = `"${process.execPath}" -r ./tools/register.js apps/replay-cli/src/main.ts`;

describe('the replay CLI interrupted', () => {
  let dataDir: string;
  let exported: string;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'replay-interrupted-'));
    const store = await startEmbeddedEventStore({
      port: 0,
      dataDir: join(dataDir, 'eventstore'),
      silent: true,
      synchronous: 'NORMAL',
    });
    const client = EsdbClientAdapter.connect(store.connectionString);
    try {
      await writeProjectedSessions(client, { connectionString: store.connectionString, dataDir, count: 300 });
      const run = await replayCli({
        EVENTSTORE_CONNECTION_STRING: store.connectionString,
        DATA_DIR: dataDir,
      })(['export']);
      expect(run.code).toBe(0);
      exported = run.stdout;
    } finally {
      await client.close();
      await store.close();
    }
  });

  afterAll(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  describe('Ctrl-C on a terminal', () => {
    it('during verify: the terminal gets its cursor and line wrap back', async () => {
      const source = await storeBehindRelay(join(dataDir, 'eventstore'));
      // The reachability probe, then verify's read of the log: it waits there, its bar drawn.
      const hung = source.hangAt('Streams.Read', 2);
      const verify = onTerminal(`${CLI} verify`, {
        EVENTSTORE_CONNECTION_STRING: source.connectionString,
        DATA_DIR: dataDir,
      });
      try {
        await hung;
        await until('the bar', () => verify.output().includes(ESC_HIDE));
        verify.ctrlC();
        expect(await verify.done).toBe(130);
        expectTerminalRestored(verify.output());
      } finally {
        await verify.kill();
        await source.close();
      }
    });

    it('during import: the terminal gets its cursor and line wrap back, and import says what it did', async () => {
      const target = mkdtempSync(join(tmpdir(), 'replay-interrupted-target-'));
      const into = await storeBehindRelay(join(target, 'eventstore'));
      const fifo = join(target, 'input');
      execFileSync('mkfifo', [fifo]);
      const lines = exported.split('\n');
      const importing = onTerminal(`${CLI} import < ${fifo}`, {
        EVENTSTORE_CONNECTION_STRING: into.connectionString,
        DATA_DIR: target,
      });
      // The header and one stream line; the rest of the file does not come (a slow copy): import waits.
      const input = createWriteStream(fifo);
      try {
        input.write(`${lines.slice(0, 2).join('\n')}\n`);
        await until('the first stream imported', () => /import \[.*\] \d+% \| 1\//.test(importing.output()));
        importing.ctrlC();
        expect(await importing.done).toBe(130);
        const output = importing.output();
        expectTerminalRestored(output);
        expect(output.replace(/\r/g, '')).toContain(
          'session-replay: interrupted by SIGINT: import stopped after 1 stream line(s) — 1 stream(s) imported, ' +
            '5 event(s) appended, 0 already present. Running the same import again is safe: it skips the streams ' +
            'already present and completes one partly imported.\n',
        );
      } finally {
        input.destroy();
        await importing.kill();
        await into.close();
        rmSync(target, { recursive: true, force: true });
      }
    });
  });

  it('import, SIGTERM while it appends a stream: says what it did; the same import again completes the file', async () => {
    const target = mkdtempSync(join(tmpdir(), 'replay-interrupted-target-'));
    const into = await storeBehindRelay(join(target, 'eventstore'));
    const env = { EVENTSTORE_CONNECTION_STRING: into.connectionString, DATA_DIR: target };
    const lines = exported.split('\n');
    const run = spawnReplay(env, ['--no-progress', 'import'], { stdin: true });
    try {
      // The reachability probe; lines 2 and 3 each read before and after their appends; line 4's first read:
      // it hangs there, line 4's stream begun.
      const hung = into.hangAt('Streams.Read', 6);
      run.child.stdin!.write(`${lines.slice(0, 5).join('\n')}\n`);
      await hung;
      run.child.kill('SIGTERM');
      const ended = await run.done;
      const fourth = (JSON.parse(lines[3]) as { stream: string }).stream;
      expect(ended).toMatchObject({ code: null, signal: 'SIGTERM', stdout: '' });
      expect(ended.stderr).toBe(
        'session-replay: interrupted by SIGTERM: import stopped after 2 stream line(s) — 2 stream(s) imported, ' +
          `10 event(s) appended, 0 already present. The stream of line 4 (${fourth}) was being appended: it may ` +
          'be partly imported. Running the same import again is safe: it skips the streams already present and ' +
          'completes one partly imported.\n',
      );
      // The same import, of the whole file this time (straight to the store), imports the rest.
      const again = await replayCli({ ...env, EVENTSTORE_CONNECTION_STRING: into.store.connectionString })(
        ['import', '--json'],
        exported,
      );
      expect(again.code).toBe(0);
      const header = JSON.parse(lines[0]) as { streams: number };
      expect(again.json()).toMatchObject({ ok: true, alreadyPresent: 2, imported: header.streams - 2 });
    } finally {
      await run.kill();
      await into.close();
      rmSync(target, { recursive: true, force: true });
    }
  });

  it.each([
    ['its first pass', 'SIGTERM'],
    ['writing the streams', 'SIGINT'],
  ] as const)('export, interrupted during %s: says what the file is', async (when, signal) => {
    const source = await storeBehindRelay(join(dataDir, 'eventstore'));
    const streams = (JSON.parse(exported.split('\n')[0]) as { streams: number }).streams;
    // The reachability probe, then the first pass's read of the log (and one probe per stream), then one read
    // per stream: it hangs in the first pass, or reading the fourth stream (three written).
    const hung = source.hangAt('Streams.Read', when === 'its first pass' ? 2 : 2 + streams + 4);
    const run = spawnReplay({ EVENTSTORE_CONNECTION_STRING: source.connectionString, DATA_DIR: dataDir }, [
      '--no-progress',
      'export',
    ]);
    try {
      await hung;
      run.child.kill(signal);
      const ended = await run.done;
      expect(ended).toMatchObject({ code: null, signal });
      if (when === 'its first pass') {
        expect(ended.stdout).toBe('');
        expect(ended.stderr).toBe(
          `session-replay: interrupted by ${signal}: nothing was written to stdout yet (no header), so it is no ` +
            'export: import refuses it as empty. Run the export again.\n',
        );
      } else {
        expect(ended.stdout.split('\n').filter(Boolean)).toHaveLength(4);
        expect(ended.stderr).toBe(
          `session-replay: interrupted by ${signal}: the export on stdout is incomplete: 3 of the ${streams} ` +
            'stream(s) its header announces were written (a last line may be cut), and import reports such a ' +
            'file as truncated (exit 1) after importing the streams it holds. Run the export again.\n',
        );
      }
    } finally {
      await run.kill();
      await source.close();
    }
  });
});
