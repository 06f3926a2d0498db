/**
 * rebuild while the read models are behind the log (the projector stopped, or not caught up yet): it rebuilds
 * them up to their checkpoints, never beyond, and the command returns with its result. It runs in this process
 * on purpose: the CLI's own process leaves even when the command never returns, once nothing else keeps it
 * alive (on PostgreSQL 10 s later, when the pool's idle connections close), with exit code 0 whatever the
 * result — which is how a rebuild stuck closing its event-store client went unnoticed.
 *
 * Also: read models never projected (no tables, no checkpoints, a mistyped READ_MODEL_SCHEMA) are refused
 * without creating anything, an empty --projection list is a usage error, and a rebuild process interrupted
 * by SIGINT / SIGTERM drops its copy and releases its lock before it exits.
 */
import { advisoryLockKey } from '@session-engine/read-models/projector-lock';
import { openReadModelDatabase } from '@session-engine/read-models';
import { sql } from 'kysely';
import { TEST_DATABASE_URL } from '@session-engine/read-models/testing/test-databases';
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { startEmbeddedEventStore } from '../../../eventstore-embedded/src';
import { writeGeneratedSessions } from '../testing/generated-sessions';
import { ReplaySystem } from '../testing/replay-system';
import { replayCli, spawnReplay, type CliRun } from '../testing/run-cli';

jest.setTimeout(60_000);

const url = (id: string, suffix = '') => `/v2/customer_sessions/${encodeURIComponent(id)}${suffix}`;

/** The run, or a failure saying it did not return (instead of the suite's timeout). */
async function within(ms: number, run: Promise<CliRun>): Promise<CliRun> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`replay rebuild did not return within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([run, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe.each(['sqlite', 'postgres'] as const)(
  'rebuild while the read models are behind the log (%s)',
  (backend) => {
    let system: ReplaySystem;
    let checkpoint: string;

    beforeAll(async () => {
      system = await ReplaySystem.start({ backend, projector: true });
      let last: string | null = null;
      for (let i = 0; i < 3; i++) {
        await system.command('PUT', url(`a${i}`), {
          customerSession: { profileId: 'p0', cartItems: [{ sku: 'tee', quantity: 1, price: 10 }] },
        });
        last = (await system.command('POST', url(`a${i}`, '/close'))).position;
      }
      await system.settle(last);
      checkpoint = last!;
      await system.projector!.stop();
      // Three events the read models have not seen: the log is ahead of every checkpoint.
      for (let i = 0; i < 3; i++) {
        await system.command('PUT', url(`b${i}`), {
          customerSession: { profileId: 'p1', cartItems: [{ sku: 'cap', quantity: 2, price: 5 }] },
        });
      }
    });

    afterAll(async () => {
      await system?.stop();
    });

    it('rebuilds up to the checkpoints, returns, and leaves them consistent and as far behind as before', async () => {
      const replay = replayCli(system.env());
      const run = await within(20_000, replay(['rebuild', '--json']));
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.json()).toMatchObject({
        events: 6,
        caughtUpUnderLock: 0,
        checkpoints: {
          sessions: checkpoint,
          customer_profiles: checkpoint,
          daily_analytics: checkpoint,
          sku_analytics: checkpoint,
        },
      });

      const verify = await within(20_000, replay(['verify', '--json']));
      expect(verify.code).toBe(0);
      expect(verify.json()).toMatchObject({
        ok: true,
        mismatches: [],
        behind: { sessions: 3, customer_profiles: 3, daily_analytics: 3, sku_analytics: 3 },
      });
    });

    it('a second rebuild returns too (the first one released its lock and closed its reads)', async () => {
      const run = await within(20_000, replayCli(system.env())(['rebuild', '--projection', 'sku_analytics']));
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toContain('sku_analytics');
    });
  },
);

describe('rebuild refuses read models that were never projected, creating nothing', () => {
  let store: Awaited<ReturnType<typeof startEmbeddedEventStore>>;
  let dataDir: string;
  let pg: Client;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'replay-never-'));
    store = await startEmbeddedEventStore({
      port: 0,
      dataDir: join(dataDir, 'eventstore'),
      silent: true,
      synchronous: 'NORMAL',
    });
    const { EsdbClientAdapter } = await import('@session-engine/event-store');
    const client = EsdbClientAdapter.connect(store.connectionString);
    try {
      await writeGeneratedSessions(client, 20); // the log holds session events
    } finally {
      await client.close();
    }
    pg = new Client({ connectionString: TEST_DATABASE_URL });
    await pg.connect();
  });

  afterAll(async () => {
    await pg?.end();
    await store?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const env = (extra: Record<string, string>) => ({
    EVENTSTORE_CONNECTION_STRING: store.connectionString,
    DATA_DIR: dataDir,
    ...extra,
  });
  const schemaExists = async (name: string) =>
    (await pg.query('select 1 from information_schema.schemata where schema_name = $1', [name])).rowCount ===
    1;
  const tablesIn = async (name: string) =>
    (await pg.query('select table_name from information_schema.tables where table_schema = $1', [name]))
      .rowCount;

  it.each([[''], [','], [' , ']])('--projection %j is a usage error (exit 2)', async (value) => {
    const run = await replayCli({ EVENTSTORE_CONNECTION_STRING: 'esdb://127.0.0.1:1?tls=false' })([
      'rebuild',
      '--projection',
      value,
    ]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      `session-replay: --projection ${JSON.stringify(value)} names no projection: give one or more of sessions, ` +
        'customer_profiles, daily_analytics, sku_analytics, or leave --projection out to rebuild them all.\n',
    );
  });

  it('SQLite: a read-model file without tables, then one without checkpoints — exit 2, nothing created', async () => {
    const file = join(dataDir, 'read-models.sqlite');
    writeFileSync(file, '');
    try {
      const run = await replayCli(env({}))(['rebuild']);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toBe(
        `session-replay: The read models at ${file} have never been projected (no read-model tables), so there ` +
          'is nothing to rebuild (a rebuild replaces read models a projector keeps, up to its checkpoints): start ' +
          'the projector (`npm start`, or `npm run start:projector`), let it catch up, then run rebuild again.\n',
      );
      const sqlite = new Database(file, { readonly: true });
      try {
        expect(sqlite.prepare('select name from sqlite_master').all()).toEqual([]);
      } finally {
        sqlite.close();
      }

      // Migrated (tables) but never projected (no checkpoint).
      await (await openReadModelDatabase({ dataDir })).close();
      const migrated = await replayCli(env({}))(['rebuild', '--projection', 'sessions']);
      expect(migrated.code).toBe(2);
      expect(migrated.stderr).toContain('have never been projected (no checkpoint for sessions)');
    } finally {
      rmSync(file, { force: true });
    }
  });

  it('PostgreSQL: an empty schema and a mistyped READ_MODEL_SCHEMA — exit 2, no schema or table created', async () => {
    const empty = `rp_never_${randomBytes(5).toString('hex')}`;
    const nosuch = `rp_nosuch_${randomBytes(5).toString('hex')}`;
    await pg.query(`create schema ${empty}`);
    try {
      for (const schema of [empty, nosuch]) {
        const run = await replayCli(env({ DATABASE_URL: TEST_DATABASE_URL, READ_MODEL_SCHEMA: schema }))([
          'rebuild',
        ]);
        expect(run.code).toBe(2);
        expect(run.stderr).toContain(
          `session-replay: The read models at DATABASE_URL (schema ${schema}) have never been projected (no read-model tables)`,
        );
      }
      expect(await tablesIn(empty)).toBe(0);
      expect(await schemaExists(nosuch)).toBe(false);
      expect(await schemaExists(`${empty}_rebuild`)).toBe(false);
      expect(await schemaExists(`${nosuch}_rebuild`)).toBe(false);
    } finally {
      for (const schema of [empty, nosuch])
        for (const suffix of ['', '_rebuild', '_retired'])
          await pg.query(`drop schema if exists ${schema}${suffix} cascade`);
    }
  });
});

/** `work`'s result, or a failure naming what did not happen within `ms` (its timer cleared either way). */
async function inTime<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`waited ${ms} ms for ${what}`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` every 10 ms until it holds; fails after `ms`. */
async function until(what: string, check: () => Promise<boolean> | boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe.each([
  ['sqlite', 'SIGINT', 130],
  ['postgres', 'SIGTERM', 143],
] as const)('a rebuild interrupted (%s, %s)', (backend, signal, exitCode) => {
  let system: ReplaySystem;

  beforeAll(async () => {
    system = await ReplaySystem.start({ backend, projector: true });
    // Enough events that the rebuild is still folding them when the signal comes.
    await writeGeneratedSessions(system.adapter, 4000);
    const last = (await system.command('PUT', url('last'), { customerSession: {} })).position;
    if (!(await system.projector!.waitForPosition(BigInt(last!), 60_000)))
      throw new Error('the projector did not catch up');
    await system.projector!.stop();
  });

  afterAll(async () => {
    await system?.stop();
  });

  it('drops its copy, releases its lock and exits 128 + the signal, leaving the live read models as they were', async () => {
    const database = await openReadModelDatabase({
      databaseUrl: system.databaseUrl,
      dataDir: system.dataDir,
      migrate: false,
    });
    const rows = async (query: string) =>
      (await sql.raw<{ name: string | null }>(query).execute(database.db)).rows;
    const copy = () =>
      backend === 'sqlite'
        ? rows(`select name from sqlite_master where name like 'rebuild\\_%' escape '\\'`)
        : rows(
            `select nspname as name from pg_namespace where nspname in ('${system.schema}_rebuild', '${system.schema}_retired')`,
          );
    // PostgreSQL: this schema's rebuild lock only (the advisory lock of its key): another spec's rebuild may
    // hold its own at the same moment on the same server.
    const key = advisoryLockKey(system.schema ?? 'public', 'rebuild');
    const lock = () =>
      backend === 'sqlite'
        ? rows(`select name from projector_lock where name = 'rebuild'`)
        : rows(
            `select a.application_name as name from pg_locks l join pg_stat_activity a on a.pid = l.pid
             where l.granted and l.locktype = 'advisory' and l.objsubid = 1
             and l.classid = ${(key >> 32n) & 0xffffffffn}::bigint::oid and l.objid = ${key & 0xffffffffn}::bigint::oid
             and a.application_name = 'session-engine-rebuild-lock'`,
          );
    const rebuild = spawnReplay(system.env(), ['rebuild']);
    try {
      // The copy is there and being filled: interrupt it.
      await until('the rebuild copy', async () =>
        backend === 'sqlite'
          ? (await rows(`select name from sqlite_master where name = 'rebuild_sessions'`)).length > 0
          : (await rows(`select to_regclass('${system.schema}_rebuild.sessions')::text as name`))[0]?.name !==
            null,
      );
      expect(await lock()).toHaveLength(1);
      rebuild.child.kill(signal);
      const ended = await inTime(30_000, 'the interrupted rebuild to exit', rebuild.done);
      expect(ended.stderr).toContain(
        `session-replay: interrupted by ${signal}: the rebuild stopped before its swap; its copy was dropped and its lock released`,
      );
      expect(ended.stderr).not.toMatch(/\n\s+at /);
      expect(ended).toMatchObject({ code: exitCode, signal: null, stdout: '' });
      expect(await copy()).toEqual([]);
      expect(await lock()).toEqual([]);
    } finally {
      await rebuild.kill();
      await database.close();
    }
    // The live read models are untouched, and the next rebuild runs.
    const verify = await replayCli(system.env())(['verify', '--json']);
    expect(verify.json()).toMatchObject({ ok: true, mismatches: [] });
  });
});
