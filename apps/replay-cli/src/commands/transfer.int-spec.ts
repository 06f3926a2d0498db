/**
 * export / import against embedded stores: the header is required and its counts are checked, only the
 * streams and event types the engine writes are accepted, a refusal mid-file says what was imported and that
 * running it again is safe, npm's banner is recognised, progress counts streams, and `export | head -1`
 * ends quietly. Export leaves out what import could not restore (deleted and truncated streams); import
 * refuses session streams the engine could not process and says when the file ends in the middle of a line.
 */
import { binaryEvent, EventStoreDBClient } from '@eventstore/db-client';
import { PROFILE_CLAIMED } from '@session-engine/event-store';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedEventStore, type EmbeddedEventStore } from '../../../eventstore-embedded/src';
import { generatedStream, writeGeneratedSessions } from '../testing/generated-sessions';
import { ReplaySystem } from '../testing/replay-system';
import { replayCli, type CliRun } from '../testing/run-cli';

jest.setTimeout(60_000);

const ROOT = join(__dirname, '../../../..');
const url = (id: string, suffix = '') => `/v2/customer_sessions/${encodeURIComponent(id)}${suffix}`;

let source: ReplaySystem;
let replay: (args: string[], stdin?: string) => Promise<CliRun>;
/** `export` of the source: header, then one line per stream. */
let exported: string;
let lines: string[];

beforeAll(async () => {
  source = await ReplaySystem.start({ backend: 'sqlite' });
  replay = replayCli(source.env());
  await source.command('PUT', url('cart-1'), {
    customerSession: { profileId: 'alice', cartItems: [{ sku: 'tee', quantity: 3, price: 19.99 }] },
  });
  await source.command('PUT', url('cart-1'), { customerSession: { couponCodes: ['SUMMER'] } });
  await source.command('POST', url('cart-1', '/close'));
  await source.command('PUT', url('cart-2'), { customerSession: { profileId: 'bob' } });
  exported = (await replay(['export'])).stdout;
  lines = exported.trimEnd().split('\n');
});

afterAll(async () => {
  await source?.stop();
});

/** A fresh, empty store to import into. */
async function target() {
  const dataDir = mkdtempSync(join(tmpdir(), 'replay-import-'));
  const store: EmbeddedEventStore = await startEmbeddedEventStore({
    port: 0,
    dataDir,
    silent: true,
    synchronous: 'NORMAL',
  });
  const env = { EVENTSTORE_CONNECTION_STRING: store.connectionString, DATA_DIR: dataDir };
  return {
    store,
    env,
    run: replayCli(env),
    tty: replayCli(env, { tty: true }),
    /** Plain progress lines at every update (stderr not a terminal). */
    plain: replayCli({ ...env, REPLAY_PROGRESS_INTERVAL_MS: '0' }),
    streams: async () => {
      const { EsdbClientAdapter } = await import('@session-engine/event-store');
      const client = EsdbClientAdapter.connect(store.connectionString);
      try {
        const names = new Set<string>();
        for await (const event of client.readAll()) names.add(event.streamName);
        return [...names];
      } finally {
        await client.close();
      }
    },
    close: async () => {
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Runs a command in a process group of its own and resolves with its exit code and output. Still running after
 * `ms`, the whole group is killed: npm's and bash's children too, which killing the command alone would leave
 * running (and jest waiting for them).
 */
function runGroup(
  file: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
  ms = 30_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...options, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      stderr += `\n(killed: still running after ${ms} ms)`;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, ms);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const streamLine = (name: string) => lines.find((l) => l.startsWith(`{"stream":"${name}"`))!;

describe('import: the header', () => {
  it('refuses an empty file, a file without its header and a blank first line (exit 2, nothing imported)', async () => {
    const into = await target();
    try {
      const empty = await into.run(['import'], '');
      expect(empty.code).toBe(2);
      expect(empty.stderr).toContain('empty input: not an export (no header line)');

      const headless = await into.run(['import'], `${lines.slice(1).join('\n')}\n`);
      expect(headless.code).toBe(2);
      expect(headless.stderr).toContain('line 1: not an export');
      expect(headless.stderr).toContain('the beginning of the file is missing');

      const blankFirst = await into.run(['import'], `\n${exported}`);
      expect(blankFirst.code).toBe(2);
      expect(blankFirst.stderr).toContain('line 1 is blank');

      expect(await into.streams()).toEqual([]);
    } finally {
      await into.close();
    }
  });

  it('checks the header’s stream and event counts at the end: a truncated export exits 1, and re-running is safe', async () => {
    const into = await target();
    try {
      const header = JSON.parse(lines[0]);
      expect(header.streams).toBe(lines.length - 1);
      const truncated = `${lines.slice(0, -1).join('\n')}\n`;
      const run = await into.run(['import', '--json'], truncated);
      expect(run.code).toBe(1);
      expect(run.json()).toMatchObject({
        ok: false,
        streams: header.streams - 1,
        expectedStreams: header.streams,
      });
      expect(run.stderr).toContain(
        `the export is truncated or damaged: ${header.streams} stream(s) announced, ${header.streams - 1} found`,
      );
      expect(run.stderr).toContain('safe to run again');

      // The complete file afterwards: what the truncated one appended is skipped, the rest imported.
      const again = await into.run(['import', '--json'], exported);
      expect(again.code).toBe(0);
      expect(again.json()).toMatchObject({ ok: true, imported: 1, alreadyPresent: header.streams - 1 });

      // A header with an event count is held to it too.
      const withEvents = [JSON.stringify({ ...header, events: 999 }), ...lines.slice(1)].join('\n');
      const counted = await into.run(['import'], withEvents);
      expect(counted.code).toBe(1);
      expect(counted.stderr).toMatch(/999 event\(s\) announced, \d+ found/);
    } finally {
      await into.close();
    }
  });

  it('recognises npm’s banner (written through `npm run` without -s) and says how to export again', async () => {
    const npm = async (silent: boolean) => {
      const { code, stdout, stderr } = await runGroup(
        'npm',
        ['run', ...(silent ? ['-s'] : []), 'replay', '--', 'export'],
        { cwd: ROOT, env: { ...process.env, ...source.env() } },
      );
      if (code !== 0) throw new Error(`npm run replay -- export: exit ${code}\n${stderr}`);
      return stdout;
    };
    const into = await target();
    try {
      const banner = await npm(false);
      expect(banner).toMatch(/^\n> session-engine@[^\n]* replay\n> /);
      const refused = await into.run(['import'], banner);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain("is npm's banner");
      expect(refused.stderr).toContain('without `-s`');
      expect(refused.stderr).toContain('npm run -s replay -- export > sessions.ndjson');
      expect(await into.streams()).toEqual([]);

      // What the docs say to run instead imports.
      const clean = await npm(true);
      expect(clean.split('\n')[0]).toMatch(/^\{"format":"session-engine\/streams"/);
      const imported = await into.run(['import', '--json'], clean);
      expect(imported.code).toBe(0);
      expect(imported.json()).toMatchObject({ ok: true, imported: lines.length - 1 });
    } finally {
      await into.close();
    }
  });
});

describe('import: what it accepts', () => {
  const event = (type: string, data: object = {}, metadata: object = {}) => ({
    revision: 0,
    id: randomUUID(),
    type,
    data,
    metadata,
  });
  /** The data of a claim of profile `p` of application 1, without `kind` (v1's shape). */
  const claimOfP = () => ({
    at: '2025-04-01T08:00:00.000Z',
    applicationId: 1,
    profileId: 'p',
    sessionIntegrationId: 'cart-p',
    sessionId: 7,
  });

  it.each([
    [
      'a stream export does not write',
      { stream: '$settings-foo', events: [event('Whatever')] },
      '"$settings-foo"',
    ],
    [
      'an idempotency record',
      { stream: 'idempotency-1-k', events: [event('SessionCreated')] },
      'idempotency-1-k',
    ],
    ['an unknown event type', { stream: 'session-1-x', events: [event('Whatever')] }, 'type "Whatever"'],
    [
      'a session event in a profile stream',
      { stream: 'profile-1-p', events: [event('SessionCreated')] },
      'type "SessionCreated"',
    ],
    [
      'a schema version this engine cannot read',
      { stream: 'session-1-y', events: [event('SessionCreated', {}, { schemaVersion: 9 })] },
      'schema version 9',
    ],
    [
      'an unknown event type in a profile stream',
      { stream: 'profile-1-p', events: [event('ProfileMerged', claimOfP())] },
      'type "ProfileMerged"',
    ],
    [
      'a profile claim of a schema version this engine cannot read',
      { stream: 'profile-1-p', events: [event(PROFILE_CLAIMED, claimOfP(), { schemaVersion: 3 })] },
      `event 0 (${PROFILE_CLAIMED}) has schema version 3; this engine reads versions 1..2`,
    ],
    [
      'a v2 profile claim without its kind',
      { stream: 'profile-1-p', events: [event(PROFILE_CLAIMED, claimOfP(), { schemaVersion: 2 })] },
      `(profile-1-p): revision 0: ${PROFILE_CLAIMED} v2 in profile-1-p has no kind, not one of first, takeover, confirmed`,
    ],
    [
      'a v2 profile claim of an unknown kind',
      {
        stream: 'profile-1-p',
        events: [event(PROFILE_CLAIMED, { ...claimOfP(), kind: 'merged' }, { schemaVersion: 2 })],
      },
      `${PROFILE_CLAIMED} v2 in profile-1-p has the kind "merged"`,
    ],
    [
      'a profile claim naming no session',
      {
        stream: 'profile-1-p',
        events: [
          event(
            PROFILE_CLAIMED,
            { ...claimOfP(), sessionIntegrationId: 7, kind: 'first' },
            { schemaVersion: 2 },
          ),
        ],
      },
      `revision 0: ${PROFILE_CLAIMED} v2 in profile-1-p names no session`,
    ],
  ])('refuses %s with exit 2 naming the line, before appending anything of it', async (_what, bad, named) => {
    const into = await target();
    try {
      const file = [
        JSON.stringify({ ...JSON.parse(lines[0]), streams: 2 }),
        streamLine('session-1-cart-2'),
        JSON.stringify(bad),
      ].join('\n');
      const run = await into.run(['import'], file);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('line 3');
      expect(run.stderr).toContain(named);
      expect(await into.streams()).toEqual(['session-1-cart-2']);
      expect(run.stderr).toContain('Before line 3: 1 stream(s) imported');
    } finally {
      await into.close();
    }
  });

  it('accepts the stored profile claim and every session event type', async () => {
    const into = await target();
    try {
      const run = await into.run(['import', '--json'], exported);
      expect(run.code).toBe(0);
      expect((await into.streams()).sort()).toEqual(
        ['profile-1-alice', 'profile-1-bob', 'session-1-cart-1', 'session-1-cart-2'].sort(),
      );
    } finally {
      await into.close();
    }
  });

  describe('a profile stream with more than one claim event (a stale claim taken over, then confirmed)', () => {
    const claim = (revision: number, sessionIntegrationId: string, v2: object, profileId = 'carol') => ({
      ...event(
        PROFILE_CLAIMED,
        {
          at: '2025-04-01T08:00:00.000Z',
          applicationId: 1,
          profileId,
          sessionIntegrationId,
          sessionId: 7,
          ...v2,
        },
        Object.keys(v2).length === 0 ? { commandId: 'c' } : { schemaVersion: 2, commandId: 'c' },
      ),
      revision,
    });
    const file = (events: object[]) =>
      [
        JSON.stringify({ ...JSON.parse(lines[0]), streams: 1 }),
        JSON.stringify({ stream: 'profile-1-carol', events }),
      ].join('\n');
    const takenOver = [
      claim(0, 'cart-crashed', {}),
      claim(1, 'cart-later', {
        kind: 'takeover',
        replaces: { sessionIntegrationId: 'cart-crashed', revision: 0 },
      }),
      claim(2, 'cart-later', { kind: 'confirmed' }),
    ];

    it('is imported whole', async () => {
      const into = await target();
      const { EsdbClientAdapter } = await import('@session-engine/event-store');
      const client = EsdbClientAdapter.connect(into.store.connectionString);
      try {
        const run = await into.run(['import', '--json'], file(takenOver));
        expect(run.code).toBe(0);
        const stored = await client.readStream('profile-1-carol');
        expect(stored.map((e) => [e.data.sessionIntegrationId, e.data.kind])).toEqual([
          ['cart-crashed', undefined],
          ['cart-later', 'takeover'],
          ['cart-later', 'confirmed'],
        ]);
      } finally {
        await client.close();
        await into.close();
      }
    });

    it('is refused when a later claim names another profile', async () => {
      const into = await target();
      try {
        const run = await into.run(['import'], file([...takenOver.slice(0, 2), claim(2, 'x', {}, 'dave')]));
        expect(run.code).toBe(2);
        expect(run.stderr).toContain('revision 2: the claim is of application 1, profile "dave"');
        expect(await into.streams()).toEqual([]);
      } finally {
        await into.close();
      }
    });
  });
});

describe('import: stopping mid-file', () => {
  it('says what was imported before the bad line and that running it again is safe', async () => {
    const into = await target();
    try {
      const broken = [...lines.slice(0, 3), '{"stream": not json', ...lines.slice(3)].join('\n');
      const run = await into.run(['import'], broken);
      expect(run.code).toBe(2);
      const appended = lines
        .slice(1, 3)
        .reduce((n, l) => n + (JSON.parse(l) as { events: unknown[] }).events.length, 0);
      expect(run.stderr).toContain('line 4: not JSON');
      expect(run.stderr).toContain(
        `Before line 4: 2 stream(s) imported (${appended} event(s) appended), 0 already present`,
      );
      expect(run.stderr).toContain('run the same import again: it is safe');

      const fixed = await into.run(['import', '--json'], exported);
      expect(fixed.code).toBe(0);
      expect(fixed.json()).toMatchObject({ imported: lines.length - 3, alreadyPresent: 2 });
    } finally {
      await into.close();
    }
  });

  it('finishes a stream an interrupted import left half-appended', async () => {
    const into = await target();
    const { EsdbClientAdapter } = await import('@session-engine/event-store');
    const client = EsdbClientAdapter.connect(into.store.connectionString);
    try {
      const cart = JSON.parse(streamLine('session-1-cart-1')) as {
        events: { id: string; type: string; data: object; metadata: object }[];
      };
      expect(cart.events.length).toBeGreaterThan(2);
      await client.appendToStream(
        'session-1-cart-1',
        cart.events
          .slice(0, 2)
          .map((e) => ({ id: e.id, type: e.type, data: e.data as never, metadata: e.metadata as never })),
        'no_stream',
      );
      const run = await into.run(['import', '--json'], exported);
      expect(run.code).toBe(0);
      expect(run.json()).toMatchObject({ ok: true, imported: lines.length - 1, conflicts: [] });
      const digest = async (run: typeof replay) =>
        (await run(['digest', 'cart-1', '-a', '1', '--json'])).json();
      expect(await digest(into.run)).toEqual(await digest(replay));
    } finally {
      await client.close();
      await into.close();
    }
  });
});

describe('progress', () => {
  it('import counts streams (not lines with the header) and clears its bar; export counts streams', async () => {
    const into = await target();
    try {
      const streams = lines.length - 1;
      const run = await into.tty(['import'], exported);
      expect(run.code).toBe(0);
      expect(run.stderr).not.toContain('line(s) read');
      expect(run.stderr).toContain(`| ${streams}/${streams} streams`);
      expect(run.stderr.endsWith('\x1b[2K')).toBe(true); // the bar's line is cleared, nothing left on screen

      const exportRun = await replayCli(source.env(), { tty: true })(['export']);
      const exportedStreams = JSON.parse(exportRun.stdout.split('\n')[0]).streams;
      expect(exportRun.stderr).toContain(`| ${exportedStreams}/${exportedStreams} streams`);
      expect(exportRun.stderr).toContain(`exported ${exportedStreams} stream(s)`);
    } finally {
      await into.close();
    }
  });
});

describe('a reader that goes away', () => {
  it('`export | head -1` ends quietly with exit 0, without an EPIPE stack trace', async () => {
    // More than a pipe's buffer (64 KiB) after the first line, so the export is still writing when head exits.
    for (let i = 0; i < 8; i++)
      await source.command('PUT', url(`big-${i}`), {
        customerSession: { attributes: { note: 'x'.repeat(60_000) } },
      });
    const script =
      'set -o pipefail; node -r ./tools/register.js apps/replay-cli/src/main.ts export | head -1 > "$OUT"; echo "exit ${PIPESTATUS[0]}" >&2';
    const outDir = mkdtempSync(join(tmpdir(), 'replay-epipe-'));
    try {
      const result = await runGroup('bash', ['-c', script], {
        cwd: ROOT,
        env: { ...process.env, ...source.env(), OUT: join(outDir, 'first') },
      });
      expect(result.stderr).not.toMatch(/EPIPE|Unhandled|at /);
      expect(result.stderr.trim()).toBe('exit 0');
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  });
});

describe('export: only what import can restore', () => {
  /** A store holding sessions 0–4 (generated-sessions), bench-0 truncated, bench-1 deleted, bench-4 tombstoned. */
  async function damagedSource() {
    const from = await target();
    const raw = EventStoreDBClient.connectionString(from.store.connectionString);
    const { EsdbClientAdapter } = await import('@session-engine/event-store');
    const client = EsdbClientAdapter.connect(from.store.connectionString);
    try {
      for (let i = 0; i < 5; i++) await writeGeneratedSessions(client, 1, i); // in this order in the log
      await raw.setStreamMetadata(generatedStream(0), { truncateBefore: 2 });
      await raw.deleteStream(generatedStream(1));
      await raw.tombstoneStream(generatedStream(4));
    } finally {
      await client.close();
      await raw.dispose();
    }
    return from;
  }

  it('leaves out deleted and truncated streams, one line each, counts them, and exits 1 for the truncated one', async () => {
    const from = await damagedSource();
    const into = await target();
    try {
      const run = await from.run(['export']);
      expect(run.code).toBe(1);
      const written = run.stdout.trimEnd().split('\n');
      expect(JSON.parse(written[0]).streams).toBe(2);
      expect(written.slice(1).map((l) => JSON.parse(l).stream)).toEqual([
        generatedStream(2),
        generatedStream(3),
      ]);
      const messages = run.stderr.trimEnd().split('\n');
      expect(messages).toEqual([
        expect.stringMatching(
          /^session-replay: export: session-1-bench-0 was left out: it starts at revision 2: its earlier events are gone \(truncated by its stream metadata/,
        ),
        expect.stringMatching(
          /^session-replay: export: session-2-bench-1 was left out: the stream is deleted \(/,
        ),
        'session-replay: export: session-1-bench-4 was left out: the stream is deleted for good (tombstoned)',
        'exported 2 stream(s), 10 event(s); left out 3 stream(s) import could not restore (2 deleted, 1 truncated — see above)',
      ]);

      // What it wrote, import restores: every line, nothing refused.
      const imported = await into.run(['import', '--json'], run.stdout);
      expect(imported.stderr).toBe('');
      expect(imported.code).toBe(0);
      expect(imported.json()).toMatchObject({ ok: true, imported: 2, streams: 2, expectedStreams: 2 });
    } finally {
      await into.close();
      await from.close();
    }
  });

  it('leaves out (exit 1) a session stream holding an event that is no JSON, naming it, rather than writing {}', async () => {
    const from = await target();
    const into = await target();
    const raw = EventStoreDBClient.connectionString(from.store.connectionString);
    const { EsdbClientAdapter } = await import('@session-engine/event-store');
    const client = EsdbClientAdapter.connect(from.store.connectionString);
    try {
      for (let i = 0; i < 2; i++) await writeGeneratedSessions(client, 1, i);
      await raw.appendToStream(generatedStream(0), [
        binaryEvent({ type: 'CouponCodesChanged', data: Buffer.from('{"couponCodes":["X"]') }),
      ]);
      const run = await from.run(['export']);
      expect(run.code).toBe(1);
      expect(run.stderr.trimEnd().split('\n')).toEqual([
        `session-replay: export: ${generatedStream(0)} was left out: import would refuse it — event 5 ` +
          '(CouponCodesChanged) is not JSON the engine wrote: its content type is not application/json; export ' +
          'copies JSON events only (import stops at such a line: no stream after it would be restored)',
        'exported 1 stream(s), 5 event(s); left out 1 stream(s) import could not restore (0 deleted, 0 truncated, ' +
          '1 that import would refuse — see above)',
      ]);
      const written = run.stdout.trimEnd().split('\n');
      expect(JSON.parse(written[0]).streams).toBe(1);
      expect(written.slice(1).map((l) => JSON.parse(l).stream)).toEqual([generatedStream(1)]);
      const imported = await into.run(['import', '--json'], run.stdout);
      expect({ code: imported.code, stderr: imported.stderr }).toEqual({ code: 0, stderr: '' });
    } finally {
      await client.close();
      await raw.dispose();
      await into.close();
      await from.close();
    }
  });

  it('leaves out (exit 1) a stream import would refuse — unknown type, newer schema version, an event it cannot fold — and what it wrote restores', async () => {
    const from = await target();
    const into = await target();
    const { EsdbClientAdapter } = await import('@session-engine/event-store');
    const client = EsdbClientAdapter.connect(from.store.connectionString);
    const later = '2025-02-01T00:00:00.000Z';
    const append = (i: number, type: string, data: object, metadata: object) =>
      client.appendToStream(
        generatedStream(i),
        [{ id: randomUUID(), type, data: { at: later, commandId: 'c-x', ...data }, metadata } as never],
        4n,
      );
    try {
      for (let i = 0; i < 5; i++) await writeGeneratedSessions(client, 1, i); // in this order in the log
      await append(0, 'SessionTeleported', {}, { schemaVersion: 1 });
      await append(2, 'CouponCodesChanged', { couponCodes: ['X'] }, { schemaVersion: 99 });
      await append(3, 'CouponCodesChanged', { couponCodes: ['X'], at: 'yesterday' }, { schemaVersion: 1 });

      const all = await from.run(['export']);
      expect(all.code).toBe(1);
      const teleported =
        `session-replay: export: ${generatedStream(0)} was left out: import would refuse it — event 5 has type ` +
        '"SessionTeleported", which is not an event of session-{applicationId}-{integrationId} streams (';
      const newer =
        `session-replay: export: ${generatedStream(2)} was left out: import would refuse it — event 5 ` +
        '(CouponCodesChanged) has schema version 99; this engine reads versions 1..1 (written by a newer version?) ' +
        '(import stops at such a line: no stream after it would be restored)';
      expect(all.stderr.trimEnd().split('\n')).toEqual([
        expect.stringContaining(teleported),
        newer,
        `session-replay: export: ${generatedStream(3)} was left out: import would refuse it — revision 5: ` +
          'CouponCodesChanged has no valid time "at" (a UTC time as the engine writes it, such as ' +
          '2026-03-01T12:00:00.000Z): "yesterday" (import stops at such a line: no stream after it would be ' +
          'restored) — found while writing the streams, after the header counted it, so import will report this ' +
          'file as incomplete (exit 1) once it has restored every other stream',
        'exported 2 stream(s), 10 event(s); left out 3 stream(s) import could not restore (0 deleted, 0 truncated, ' +
          '3 that import would refuse — see above)',
      ]);
      const written = all.stdout.trimEnd().split('\n');
      expect(JSON.parse(written[0]).streams).toBe(3); // bench-3 was found after the header
      expect(written.slice(1).map((l) => JSON.parse(l).stream)).toEqual([
        generatedStream(1),
        generatedStream(4),
      ]);

      const json = await from.run(['export', '--json']);
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stderr)).toEqual({
        ok: false,
        streams: 2,
        events: 10,
        leftOut: [
          {
            stream: generatedStream(0),
            reason: 'refused',
            why: expect.stringContaining('"SessionTeleported"'),
          },
          {
            stream: generatedStream(2),
            reason: 'refused',
            why: expect.stringContaining('schema version 99'),
          },
          {
            stream: generatedStream(3),
            reason: 'refused',
            why: expect.stringContaining('no valid time'),
            countedInHeader: true,
          },
        ],
      });

      // Streams found by one event are left out before the header counts them: the file restores, exit 0.
      const app1 = await from.run(['export', '--application', '1']);
      expect(app1.code).toBe(1);
      expect(JSON.parse(app1.stdout.split('\n')[0]).streams).toBe(1);
      const imported = await into.run(['import', '--json'], app1.stdout);
      expect({ code: imported.code, stderr: imported.stderr }).toEqual({ code: 0, stderr: '' });
      expect(imported.json()).toMatchObject({ ok: true, imported: 1 });
      // The whole export restores every stream it holds; import then says the header announced one more (exit 1).
      const rest = await into.run(['import', '--json'], all.stdout);
      expect(rest.code).toBe(1);
      expect(rest.json()).toMatchObject({ imported: 1, expectedStreams: 3, streams: 2 });
      expect((await into.streams()).sort()).toEqual([generatedStream(1), generatedStream(4)].sort());
    } finally {
      await client.close();
      await into.close();
      await from.close();
    }
  });

  it('exits 0 when only deleted streams were left out; --json puts the summary on stderr as one JSON line', async () => {
    const from = await damagedSource();
    try {
      const run = await from.run(['export', '--application', '2']);
      expect(run.code).toBe(0);
      expect(run.stderr).toMatch(
        /^session-replay: export: session-2-bench-1 was left out: the stream is deleted/,
      );
      expect(run.stderr).toContain('exported 1 stream(s), 5 event(s); left out 1 stream(s)');

      const json = await from.run(['export', '--application', '2', '--json']);
      expect(json.code).toBe(0);
      expect(json.stdout).toBe(
        run.stdout.replace(/"exportedAt":"[^"]+"/, json.stdout.match(/"exportedAt":"[^"]+"/)![0]),
      );
      expect(json.stderr.endsWith('\n')).toBe(true);
      expect(JSON.parse(json.stderr)).toEqual({
        ok: true,
        streams: 1,
        events: 5,
        leftOut: [{ stream: generatedStream(1), reason: 'deleted' }],
      });

      const truncated = await from.run(['export', '--application', '1', '--json']);
      expect(truncated.code).toBe(1);
      expect(JSON.parse(truncated.stderr)).toMatchObject({
        ok: false,
        leftOut: [
          { stream: generatedStream(0), reason: 'truncated', firstRevision: 2 },
          { stream: generatedStream(4), reason: 'tombstoned' },
        ],
      });
    } finally {
      await from.close();
    }
  });

  it('import skips a line without events (an older export wrote deleted streams so) with a warning', async () => {
    const into = await target();
    try {
      const file = [
        JSON.stringify({ ...JSON.parse(lines[0]), streams: 3 }),
        streamLine('session-1-cart-2'),
        '{"stream":"session-1-gone","events":[]}',
        streamLine('profile-1-bob'),
      ].join('\n');
      const run = await into.run(['import', '--json'], `${file}\n`);
      expect(run.code).toBe(0);
      expect(run.stderr).toBe(
        'session-replay: line 3: session-1-gone has no events (an older export wrote a deleted stream so): skipped\n',
      );
      expect(run.json()).toMatchObject({
        ok: true,
        imported: 2,
        withoutEvents: ['session-1-gone'],
        streams: 3,
      });
      expect((await into.streams()).sort()).toEqual(['profile-1-bob', 'session-1-cart-2']);
    } finally {
      await into.close();
    }
  });
});

describe('import: only streams the engine can process', () => {
  interface Line {
    stream: string;
    digest?: unknown;
    events: { revision: number; id: string; type: string; data: Record<string, unknown>; metadata: object }[];
  }
  const cart2 = () => JSON.parse(streamLine('session-1-cart-2')) as Line;
  const created = () => cart2().events[0];
  const renamed = (stream: string, data: Record<string, unknown> = {}): Line => ({
    stream,
    events: [{ ...created(), id: randomUUID(), data: { ...created().data, ...data } }],
  });

  // Lines made once the source has been exported (the table is built before `beforeAll` runs).
  it.each<[string, () => Line, string]>([
    [
      'a SessionCreated without data (the reviewer’s line)',
      () => ({
        stream: 'session-1-zz',
        events: [
          {
            revision: 0,
            id: '0b3c1a52-1111-4111-8111-111111111112',
            type: 'SessionCreated',
            data: {},
            metadata: {},
          },
        ],
      }),
      'line 3 (session-1-zz): revision 0: SessionCreated has no valid time "at" (a UTC time as the engine writes it, such as 2026-03-01T12:00:00.000Z): none; nothing of this stream was appended',
    ],
    ...(
      [
        ['without a zone', '2026-03-07T22:30:00'],
        ['with an offset', '2026-03-05T23:30:00.000-02:00'],
        ['with seven fraction digits', '2026-03-05T23:59:59.9999999Z'],
        ['on a day that does not exist', '2026-02-30T10:00:00.000Z'],
      ] as const
    ).map(([what, at]): [string, () => Line, string] => [
      `a SessionCreated whose time is ${what}, not the engine's form`,
      () => renamed('session-1-zz', { at, integrationId: 'zz' }),
      `line 3 (session-1-zz): revision 0: SessionCreated has no valid time "at" (a UTC time as the engine writes it, such as 2026-03-01T12:00:00.000Z): "${at}"; nothing of this stream was appended`,
    ]),
    [
      'a SessionCreated with its time but nothing else',
      () => ({
        stream: 'session-1-zz',
        events: [{ ...created(), data: { at: created().data.at, commandId: 'c' } }],
      }),
      'line 3 (session-1-zz): revision 0: The data of SessionCreated v1 does not have the shape of its type: sessionId is missing (a whole number)',
    ],
    [
      'a stream starting with CartItemsAdded',
      () => ({
        stream: 'session-1-items',
        events: [
          {
            revision: 0,
            id: randomUUID(),
            type: 'CartItemsAdded',
            data: {
              at: created().data.at,
              commandId: 'c',
              firstPosition: 0,
              cartItems: [{ sku: 'a', quantity: 1, price: '1' }],
            },
            metadata: { schemaVersion: 2 },
          },
        ],
      }),
      'line 3 (session-1-items): revision 0: CartItemsAdded before SessionCreated: a session stream starts with SessionCreated, so this one cannot be folded; nothing of this stream was appended',
    ],
    [
      'a copy of a stream under another name',
      () => renamed('session-1-copy'),
      'line 3 (session-1-copy): revision 0: SessionCreated is of application 1, session "cart-2", but the stream is session-1-copy (application 1, session "copy")',
    ],
    [
      'a copy whose integration id was changed too (so it carries the session id of another stream)',
      () => renamed('session-1-copy', { integrationId: 'copy' }),
      'line 3 (session-1-copy): revision 0: SessionCreated carries the session id',
    ],
    [
      'an event id that is not a UUID',
      () => ({ stream: 'session-1-zz', events: [{ ...created(), id: 'not-a-uuid' }] }),
      'line 3 (session-1-zz): event 0 has the id "not-a-uuid", which is not an event id as the store returns them',
    ],
  ])(
    'refuses %s with exit 2 naming line, stream, revision and reason, appending nothing of it',
    async (_what, bad, message) => {
      const into = await target();
      try {
        const file = [
          JSON.stringify({ ...JSON.parse(lines[0]), streams: 2 }),
          streamLine('session-1-cart-2'),
          JSON.stringify(bad()),
        ].join('\n');
        const run = await into.run(['import'], `${file}\n`);
        expect(run.code).toBe(2);
        expect(run.stderr).toContain(`session-replay: ${message}`);
        expect(run.stderr).toContain('Before line 3: 1 stream(s) imported');
        expect(run.stderr).not.toMatch(/\n\s+at /);
        expect(await into.streams()).toEqual(['session-1-cart-2']);
      } finally {
        await into.close();
      }
    },
  );

  it('refuses a close the read-model projections could not count (no total, no items), naming the field', async () => {
    const into = await target();
    try {
      const line = cart2();
      line.digest = undefined;
      line.events.push({
        revision: line.events.length,
        id: randomUUID(),
        type: 'SessionClosed',
        data: { at: created().data.at, commandId: 'close', profileId: 'bob' },
        metadata: { schemaVersion: 1 },
      });
      const file = [JSON.stringify({ ...JSON.parse(lines[0]), streams: 1 }), JSON.stringify(line)].join('\n');
      const run = await into.run(['import'], `${file}\n`);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(
        `session-replay: line 2 (session-1-cart-2): revision ${line.events.length - 1}: The data of SessionClosed v1 does not have the shape of its type: total is missing (a decimal string)`,
      );
      expect(await into.streams()).toEqual([]);
    } finally {
      await into.close();
    }
  });
});

describe('import: a file cut in the middle of a line', () => {
  it('says it ends in the middle of line N, is truncated, and exits 1; what came before is imported', async () => {
    const into = await target();
    try {
      const third = exported.indexOf('\n', exported.indexOf('\n') + 1) + 1; // where line 3 starts
      const cut = exported.slice(0, third + 40);
      const run = await into.run(['import', '--json'], cut);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(
        /^session-replay: the file ends in the middle of line 3: it is truncated \(a failed copy, a full disk\?\); \d+ stream\(s\) announced, 1 found\. The 1 stream line\(s\) before it were processed, line 3 was not imported; what was appended stays; the import is safe to run again/,
      );
      expect(run.json()).toMatchObject({ ok: false, imported: 1, truncatedAtLine: 3 });
      expect(await into.streams()).toEqual([JSON.parse(lines[1]).stream]);

      const header = await into.run(['import'], exported.slice(0, 20));
      expect(header.code).toBe(1);
      expect(header.stderr).toBe(
        'session-replay: the file ends in the middle of line 1, its header: it is truncated (a failed copy, a full disk?); nothing was imported. Import a complete export.\n',
      );
    } finally {
      await into.close();
    }
  });

  it('takes a complete last line without its newline', async () => {
    const into = await target();
    try {
      const run = await into.run(['import', '--json'], exported.trimEnd());
      expect(run.code).toBe(0);
      expect(run.json()).toMatchObject({ ok: true, imported: lines.length - 1 });
    } finally {
      await into.close();
    }
  });
});

describe('progress without a terminal', () => {
  it('prints plain lines (no control characters) for export — its pass over the log too — and import', async () => {
    const into = await target();
    try {
      const streams = lines.length - 1;
      const exportRun = await replayCli({ ...source.env(), REPLAY_PROGRESS_INTERVAL_MS: '0' })(['export']);
      expect(exportRun.code).toBe(0);
      expect(exportRun.stderr).not.toContain('\x1b');
      expect(exportRun.stderr).not.toContain('\r');
      expect(exportRun.stderr).toMatch(/^export: reading the log: 1 events\n/m);
      const exportedStreams = JSON.parse(exportRun.stdout.split('\n')[0]).streams;
      expect(exportRun.stderr).toContain(`export: ${exportedStreams}/${exportedStreams} streams (100%)\n`);

      const run = await into.plain(['import'], exported);
      expect(run.code).toBe(0);
      expect(run.stderr).toBe(
        Array.from(
          { length: streams },
          (_, i) => `import: ${i + 1}/${streams} streams (${Math.floor((100 * (i + 1)) / streams)}%)\n`,
        ).join(''),
      );

      // On a terminal, export's pass over the log is counted too (and its line cleared).
      const tty = await replayCli(source.env(), { tty: true })(['export']);
      expect(tty.stderr).toContain('export: reading the log: ');
    } finally {
      await into.close();
    }
  });

  it('export --json: stderr holds the summary alone, one line of JSON (`2> summary.json` parses)', async () => {
    const run = await replayCli({ ...source.env(), REPLAY_PROGRESS_INTERVAL_MS: '0' })(['export', '--json']);
    expect(run.code).toBe(0);
    const streams = JSON.parse(run.stdout.split('\n')[0]).streams;
    expect(run.stderr.split('\n')).toHaveLength(2); // one line and its newline
    expect(JSON.parse(run.stderr)).toEqual({ ok: true, streams, events: expect.any(Number), leftOut: [] });
    // On a terminal the progress is drawn (and cleared) as without --json.
    const tty = await replayCli(source.env(), { tty: true })(['export', '--json']);
    expect(tty.stderr).toContain('export: reading the log: ');
  });
});

describe('import: a store ahead of the file', () => {
  it('skips a stream whose first events are the line’s, the store holding more: counted as ahead, exit 0', async () => {
    const into = await target();
    const { EsdbClientAdapter } = await import('@session-engine/event-store');
    const client = EsdbClientAdapter.connect(into.store.connectionString);
    try {
      expect((await into.run(['import'], exported)).code).toBe(0);
      // The store goes on after the export: two more events on cart-1 (its history as the engine wrote it).
      const cart = JSON.parse(streamLine('session-1-cart-1')) as {
        events: { type: string; data: Record<string, unknown>; metadata: object }[];
      };
      const fileEvents = cart.events.length;
      const coupon = cart.events.find((e) => e.type === 'CouponCodesChanged')!;
      await client.appendToStream(
        'session-1-cart-1',
        ['A', 'B'].map((code) => ({
          id: randomUUID(),
          type: coupon.type,
          data: { ...coupon.data, commandId: randomUUID(), couponCodes: [code] } as never,
          metadata: coupon.metadata as never,
        })),
        BigInt(fileEvents - 1),
      );

      const run = await into.run(['import'], exported);
      expect(run.code).toBe(0);
      expect(run.stdout).toContain(
        `store ahead: session-1-cart-1 has ${fileEvents + 2} event(s) in the store, and the file's ${fileEvents} ` +
          `are its first ${fileEvents}: nothing to import (skipped; the store went on after the export)\n`,
      );
      expect(run.stdout).not.toContain('conflict: ');
      const json = await into.run(['import', '--json'], exported);
      expect(json.code).toBe(0);
      expect(json.json()).toMatchObject({
        ok: true,
        imported: 0,
        alreadyPresent: lines.length - 2,
        storeAhead: [{ stream: 'session-1-cart-1', storeEvents: fileEvents + 2, fileEvents }],
        conflicts: [],
      });
    } finally {
      await client.close();
      await into.close();
    }
  });
});

describe("import: a line's digest is its events'", () => {
  it.each([
    ['stream', 'session-1-elsewhere'],
    ['revision', 99],
    ['events', 0],
    ['scheme', 'session-engine/stream-digest/v0'],
  ] as const)(
    'refuses a digest whose %s is not the line’s (a digest mismatch, exit 1)',
    async (field, value) => {
      const into = await target();
      try {
        const line = JSON.parse(streamLine('session-1-cart-1')) as { digest: Record<string, unknown> };
        line.digest[field] = value;
        const edited = lines.map((l) =>
          l.startsWith('{"stream":"session-1-cart-1"') ? JSON.stringify(line) : l,
        );
        const run = await into.run(['import'], `${edited.join('\n')}\n`);
        expect(run.code).toBe(1);
        expect(run.stdout).toContain(
          `digest mismatch: session-1-cart-1 (its digest's ${field} is ${JSON.stringify(value)}, but the line's events give `,
        );
        expect(await into.streams()).not.toContain('session-1-cart-1');
      } finally {
        await into.close();
      }
    },
  );
});
