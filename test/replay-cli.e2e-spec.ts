/**
 * The replay CLI against a store written through the HTTP API: history (also of an event stored with an
 * older schema), state now / at a revision / at a time between two events, digests, export → import into
 * a fresh store, and the exit codes of unknown sessions, bad flags and unreachable stores; its help, and
 * what it says to run when there are no read models.
 */
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedEventStore } from '../apps/eventstore-embedded/src';
import { digestOf } from '../apps/replay-cli/src/stream-digest';
import { replayCli, type CliRun } from '../apps/replay-cli/src/testing/run-cli';
import { INTEGRATION_KEY, ReplaySystem } from '../apps/replay-cli/src/testing/replay-system';

jest.setTimeout(60_000);

let system: ReplaySystem;
let replay: (args: string[], stdin?: string) => Promise<CliRun>;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const url = (id: string, suffix = '') => `/v2/customer_sessions/${encodeURIComponent(id)}${suffix}`;

beforeAll(async () => {
  system = await ReplaySystem.start({ backend: 'sqlite' });
  replay = replayCli(system.env());

  await system.command('PUT', url('cart-1'), {
    customerSession: { profileId: 'alice', cartItems: [{ sku: 'tee', quantity: 3, price: 19.99 }] },
  });
  await pause(30);
  await system.command('PUT', url('cart-1'), {
    customerSession: { couponCodes: ['SUMMER'], additionalCosts: { shipping: { price: 0.1 } } },
  });
  await pause(30);
  await system.command('POST', url('cart-1', '/close'));
  await system.command('POST', url('cart-1', '/returns'), {
    return: { returnedCartItems: [{ position: 0, quantity: 1 }] },
  });
  await system.command('PUT', url('cart-2'), { customerSession: { profileId: 'alice', cartItems: [] } });
  await system.command('PUT', url('other-app'), { customerSession: {} }, 'replay-int-key-app2');

  // An event as an older version of the engine stored it: CartItemsAdded v1 carried prices as JSON numbers.
  const stream = 'session-1-cart-2';
  const [created] = await system.adapter.readStream(stream);
  await system.adapter.appendToStream(
    stream,
    [
      {
        id: randomUUID(),
        type: 'CartItemsAdded',
        data: {
          at: new Date(Date.parse(String(created.data.at)) + 1000).toISOString(),
          commandId: randomUUID(),
          firstPosition: 0,
          cartItems: [{ sku: 'mug', quantity: 2, price: 4.35, additionalCosts: { wrap: { price: 0.5 } } }],
        },
        metadata: { schemaVersion: 1, commandId: 'legacy', correlationId: 'legacy', actor: 'legacy' },
      },
    ],
    0n,
  );
});

afterAll(async () => {
  await system?.stop();
});

describe('history', () => {
  it('lists every event with its revision, type, the fields it changed and the totals after it', async () => {
    const run = await replay(['history', 'cart-1', '--application', '1', '--json']);
    expect(run.code).toBe(0);
    const { events } = run.json();
    expect(events.map((e: { revision: number; type: string }) => [e.revision, e.type])).toEqual([
      [0, 'SessionCreated'],
      [1, 'CouponCodesChanged'],
      [2, 'AdditionalCostsChanged'],
      [3, 'SessionClosed'],
      [4, 'CartItemsReturned'],
    ]);
    expect(events[1].changes).toContainEqual({ field: 'couponCodes', from: [], to: ['SUMMER'] });
    expect(events[1].changes).toContainEqual({ field: 'updateCount', from: 1, to: 2 });
    expect(events[2].totals).toEqual({
      total: 60.07,
      cartItemTotal: 59.97,
      cartItemAdditionalCostTotal: 0,
      additionalCostTotal: 0.1,
    });
    expect(events[3].changes).toContainEqual({ field: 'state', from: 'open', to: 'closed' });
    expect(events[4].changes).toEqual(
      expect.arrayContaining([
        { field: 'state', from: 'closed', to: 'partially_returned' },
        { field: 'cartItems[0].returnedQuantity', from: 0, to: 1 },
        { field: 'cartItems[0].remainingQuantity', from: 3, to: 2 },
      ]),
    );
    expect(events[0].changes).toContainEqual({ field: 'profileId', from: undefined, to: 'alice' });
  });

  it('reads an event stored with an older schema through the upcaster and says so', async () => {
    const run = await replay(['history', 'cart-2', '-a', '1', '--json']);
    const legacy = run.json().events[1];
    expect(legacy).toMatchObject({ type: 'CartItemsAdded', schemaVersion: 1, upcastTo: 2 });
    expect(legacy.changes).toContainEqual({
      field: 'cartItems[0]',
      from: undefined,
      to: expect.objectContaining({
        sku: 'mug',
        quantity: 2,
        price: 4.35,
        additionalCosts: { wrap: { price: 0.5 } },
      }),
    });
    expect(legacy.totals).toMatchObject({ cartItemTotal: 8.7, cartItemAdditionalCostTotal: 1, total: 9.7 });

    const table = await replay(['history', 'cart-2', '-a', '1']);
    expect(table.stdout).toContain('stored v1, read as v2');
    expect(table.stdout).toMatch(/total 9\.7/);
  });
});

describe('state', () => {
  it('prints {"customerSession"} exactly as GET returns it: same fields, same order', async () => {
    for (const id of ['cart-1', 'cart-2']) {
      const get = await system.send('GET', url(id), `ApiKey-v1 ${INTEGRATION_KEY}`);
      const run = await replay(['state', id, '-a', '1', '--json']);
      expect(run.code).toBe(0);
      expect(run.stdout.trim()).toBe(JSON.stringify({ customerSession: get.body.customerSession }));
    }
  });

  it('shows the session as it was at a revision and at a time between two events', async () => {
    const history = (await replay(['history', 'cart-1', '-a', '1', '--json'])).json().events;
    const first = Date.parse(history[0].time);
    const second = Date.parse(history[1].time);
    expect(second - first).toBeGreaterThan(2);
    const between = new Date(Math.floor((first + second) / 2)).toISOString();

    const atTime = (await replay(['state', 'cart-1', '-a', '1', '--at', between, '--json'])).json()
      .customerSession;
    const atRevision = (await replay(['state', 'cart-1', '-a', '1', '--at-revision', '0', '--json'])).json()
      .customerSession;
    expect(atTime).toEqual(atRevision);
    expect(atTime).toMatchObject({
      couponCodes: [],
      state: 'open',
      updateCount: 1,
      updated: history[0].time,
    });

    const table = await replay(['state', 'cart-1', '-a', '1', '--at-revision', '3']);
    expect(table.stdout).toContain('at revision 3 of 4');
    expect(table.stdout).toMatch(/state\s*│\s*closed/);
  });

  it('exits 2 with a message for an unknown session, a revision beyond the stream or a time before it', async () => {
    const unknown = await replay(['state', 'nope', '-a', '1']);
    expect(unknown).toMatchObject({ code: 2, stdout: '' });
    expect(unknown.stderr).toContain('No customer session "nope" in application 1');
    // Another application's session is unknown here too.
    expect((await replay(['history', 'other-app', '-a', '1'])).code).toBe(2);
    expect((await replay(['history', 'other-app', '-a', '2'])).code).toBe(0);
    expect((await replay(['state', 'cart-1', '-a', '1', '--at-revision', '9'])).stderr).toContain(
      'revisions 0..4',
    );
    expect((await replay(['state', 'cart-1', '-a', '1', '--at', '2001-01-01T00:00:00Z'])).code).toBe(2);
  });

  it('exits 2 on bad flags', async () => {
    expect((await replay(['state', 'cart-1'])).code).toBe(2);
    expect((await replay(['state', 'cart-1', '-a', 'x'])).code).toBe(2);
    // As the API reads an application id: no leading zero (`01` would be a second spelling of application 1).
    const padded = await replay(['state', 'cart-1', '-a', '01']);
    expect({ code: padded.code, stderr: padded.stderr }).toEqual({
      code: 2,
      stderr: expect.stringContaining('--application must be a positive integer without leading zeros'),
    });
    expect((await replay(['state', 'cart-1', '-a', '1', '--at', 'yesterday'])).code).toBe(2);
    expect((await replay(['rebuild', '--projection', 'nope'])).stderr).toContain('Unknown projection "nope"');
    expect((await replay(['frobnicate'])).code).toBe(2);
  });
});

describe('digest', () => {
  it('is the documented hash chain over the stored events, and covers a prefix with --at-revision', async () => {
    const stored = await system.adapter.readStream('session-1-cart-1');
    const run = await replay(['digest', 'cart-1', '-a', '1', '--json']);
    expect(run.json()).toEqual(digestOf('session-1-cart-1', stored));
    expect(run.json()).toMatchObject({ revision: 4, events: 5 });
    const prefix = (await replay(['digest', 'cart-1', '-a', '1', '--at-revision', '1', '--json'])).json();
    expect(prefix).toEqual(digestOf('session-1-cart-1', stored.slice(0, 2)));
  });
});

describe('export and import', () => {
  it('moves every stream to a fresh store with the same event ids and equal digests', async () => {
    const exported = await replay(['export']);
    expect(exported.code).toBe(0);
    const lines = exported.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ format: 'session-engine/streams', version: 1 });
    const streams = lines.slice(1).map((l: { stream: string }) => l.stream);
    expect(streams).toEqual(
      expect.arrayContaining([
        'session-1-cart-1',
        'session-1-cart-2',
        'session-2-other-app',
        'profile-1-alice',
      ]),
    );

    const appOnly = await replay(['export', '--application', '2']);
    expect(
      appOnly.stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => JSON.parse(l).stream),
    ).toEqual(['session-2-other-app']);

    const dataDir = mkdtempSync(join(tmpdir(), 'replay-import-'));
    const target = await startEmbeddedEventStore({ port: 0, dataDir, silent: true, synchronous: 'NORMAL' });
    try {
      const importInto = replayCli({
        EVENTSTORE_CONNECTION_STRING: target.connectionString,
        DATA_DIR: dataDir,
      });
      const imported = await importInto(['import', '--json'], exported.stdout);
      expect(imported.code).toBe(0);
      expect(imported.json()).toMatchObject({
        ok: true,
        imported: streams.length,
        conflicts: [],
        digestMismatches: [],
      });

      for (const [id, app] of [
        ['cart-1', '1'],
        ['cart-2', '1'],
        ['other-app', '2'],
      ]) {
        const before = (await replay(['digest', id, '-a', app, '--json'])).json();
        const after = (await importInto(['digest', id, '-a', app, '--json'])).json();
        expect(after).toEqual(before);
      }
      const state = await importInto(['state', 'cart-2', '-a', '1', '--json']);
      expect(state.stdout).toBe((await replay(['state', 'cart-2', '-a', '1', '--json'])).stdout);

      // Importing the same file again changes nothing; a stream with another history is a conflict.
      expect((await importInto(['import', '--json'], exported.stdout)).json()).toMatchObject({
        ok: true,
        imported: 0,
        alreadyPresent: streams.length,
      });
      const edited = exported.stdout.replace('"SUMMER"', '"WINTER"');
      const refused = await importInto(['import', '--json'], edited);
      expect(refused.code).toBe(1);
      expect(refused.json().digestMismatches).toEqual(['session-1-cart-1']);
      const rewritten = edited
        .split('\n')
        .map((l) => (l.includes('"WINTER"') ? JSON.stringify({ ...JSON.parse(l), digest: undefined }) : l))
        .join('\n');
      const conflict = await importInto(['import', '--json'], rewritten);
      expect(conflict.code).toBe(1);
      expect(conflict.json().conflicts).toEqual(['session-1-cart-1']);
    } finally {
      await target.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('npm run replay', () => {
  it('exits 2 and says to run npm start when no event store listens', async () => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['-r', './tools/register.js', 'apps/replay-cli/src/main.ts', 'history', 'x', '--application', '1'],
        {
          cwd: join(__dirname, '..'),
          env: { ...process.env, EVENTSTORE_CONNECTION_STRING: '', EMBEDDED_EVENTSTORE_PORT: '1' },
          // One that kept trying would otherwise outlive the test and keep jest from exiting.
          timeout: 30_000,
          killSignal: 'SIGKILL',
        },
        (error, _stdout, stderr) => resolve({ code: error ? (error.code as number) : 0, stderr }),
      );
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('npm start');
  });

  it('exits 2 on a bad configuration, naming every bad variable, before it connects anywhere', async () => {
    const run = replayCli({
      EVENTSTORE_CONNECTION_STRING: 'http://store:2113',
      DATABASE_URL: 'mysql://db',
      READ_MODEL_SCHEMA: 'Read-Models',
    });
    const result = await run(['verify']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'session-replay: invalid configuration:\n' +
        '  - EVENTSTORE_CONNECTION_STRING: must look like esdb://host:2113?tls=false or esdb+discover://… (got a value starting "http://store")\n' +
        '  - DATABASE_URL: must be a postgres:// or postgresql:// URL\n' +
        '  - READ_MODEL_SCHEMA: "Read-Models" is not a schema name (lower-case letters, digits and _, at most 63)\n',
    );
  });
});

describe('help', () => {
  it('`help`, `help <command>` and --help print on stdout and exit 0, with how it connects and the exit codes', async () => {
    for (const args of [['help'], ['help', 'verify'], ['--help'], ['export', '--help']]) {
      const run = await replay(args);
      expect({ args, code: run.code, stderr: run.stderr }).toEqual({ args, code: 0, stderr: '' });
      expect(run.stdout).toContain('Usage: session-replay');
      for (const variable of [
        'EVENTSTORE_CONNECTION_STRING',
        'EMBEDDED_EVENTSTORE_PORT',
        'DATABASE_URL',
        'READ_MODEL_SCHEMA',
        'DATA_DIR',
      ])
        expect(run.stdout).toContain(variable);
      expect(run.stdout).toMatch(/Exit codes:\n {2}0 +fine\n {2}1 +the audit found something/);
      expect(run.stdout).toContain('130/143');
    }
    expect((await replay(['help', 'verify'])).stdout).toContain('Usage: session-replay verify');
    expect((await replay(['export', '--help'])).stdout).toContain('--json');
  });

  it('no command at all is a usage error: the help on stderr, exit 2', async () => {
    const run = await replay([]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('Usage: session-replay');
  });
});

describe('no read models', () => {
  it('says to start the projector when the event store already runs alone on DATA_DIR, `npm start` when nothing runs', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'replay-no-read-models-'));
    // As `npm run start:eventstore` runs it: the default address's port, its data under DATA_DIR/eventstore.
    const store = await startEmbeddedEventStore({
      port: 0,
      dataDir: join(dataDir, 'eventstore'),
      silent: true,
      synchronous: 'NORMAL',
    });
    let running = true;
    try {
      const cli = replayCli({ DATA_DIR: dataDir, EMBEDDED_EVENTSTORE_PORT: String(store.port) });
      const file = join(dataDir, 'read-models.sqlite');
      for (const command of ['verify', 'rebuild']) {
        const run = await cli([command]);
        expect(run.code).toBe(2);
        expect(run.stderr).toBe(
          `session-replay: No read models at ${file}: the event store runs on ${dataDir} without the projector ` +
            '(`npm run start:eventstore`; `npm start` would stop there, the directory being in use). Start the ' +
            'projector beside it — `npm run start:projector` with the same DATA_DIR — and let it catch up, or set ' +
            'DATA_DIR or DATABASE_URL to where they are.\n',
        );
      }
      await store.close();
      running = false;
      const stopped = await cli(['verify']);
      expect(stopped.code).toBe(2);
      expect(stopped.stderr).toBe(
        `session-replay: No read models at ${file}: run \`npm start\` once (the event store and the projector, ` +
          'which creates them), or set DATA_DIR or DATABASE_URL to where they are.\n',
      );
    } finally {
      if (running) await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
