/**
 * A read-model database that cannot be opened stops its caller (npm start, the projector, the replay CLI)
 * with one line naming where it looked — PostgreSQL's host, port and database, never the credentials of
 * DATABASE_URL; or the SQLite file — and why.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { Client } from 'pg';
import { closedPort, startHangingRelay, type HangingRelay } from '@session-engine/testing';
import {
  openReadModelDatabase,
  ReadModelsSetUpError,
  readModelLocation,
  readModelsUnavailable,
} from './database';
import { postgresTestDatabase, TEST_DATABASE_URL } from './testing/test-databases';

describe('opening read models that cannot be opened', () => {
  it('given a PostgreSQL port nothing listens on, names host, port and database, not the password', async () => {
    const databaseUrl = 'postgres://reader:s3cret@127.0.0.1:1/analytics';
    const opened = openReadModelDatabase({ databaseUrl, dataDir: tmpdir() });
    await expect(opened).rejects.toThrow(
      'Cannot open the read-model database (DATABASE_URL, PostgreSQL at 127.0.0.1:1/analytics): connect ECONNREFUSED 127.0.0.1:1',
    );
    await expect(opened).rejects.not.toThrow('s3cret');
  });

  it('given a database the server does not have, passes on the server’s reason', async () => {
    const databaseUrl = 'postgres://postgres@127.0.0.1:5432/no_such_database_here';
    await expect(openReadModelDatabase({ databaseUrl, dataDir: tmpdir() })).rejects.toThrow(
      /^Cannot open the read-model database \(DATABASE_URL, PostgreSQL at 127\.0\.0\.1:5432\/no_such_database_here\): .*no_such_database_here/,
    );
  });

  it('given a SQLite file that is not a database, names the file', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'read-models-open-'));
    try {
      writeFileSync(join(dataDir, 'read-models.sqlite'), Buffer.alloc(4096, 7));
      await expect(openReadModelDatabase({ dataDir })).rejects.toThrow(
        `Cannot open the read-model database (SQLite file ${join(dataDir, 'read-models.sqlite')}): file is not a database`,
      );
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('reads a DATABASE_URL it cannot parse as no more than its name', () => {
    expect(readModelLocation({ databaseUrl: 'postgres://[bad' })).toBe('DATABASE_URL');
    expect(readModelLocation({ databaseUrl: 'postgres://db.internal/sessions' })).toBe(
      'DATABASE_URL, PostgreSQL at db.internal:5432/sessions',
    );
  });
});

describe('a PostgreSQL connection that ends while idle', () => {
  it('does not end the process: the pool drops it and the next query opens a new one', async () => {
    // The server restarted, failed over, or an administrator ended the connection. Without a listener for the
    // pool's 'error' event this was an uncaught exception: the API, the projector and `npm start` died.
    const database = postgresTestDatabase();
    const opened = await database.open();
    const admin = new Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    try {
      const pid = async () =>
        Number((await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(opened.db)).rows[0]!.pid);
      const before = await pid();
      await admin.query('select pg_terminate_backend($1)', [before]);
      const deadline = Date.now() + 10_000;
      let after = before;
      while (after === before && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        after = await pid().catch(() => before); // a query on the dying connection may fail once
      }
      expect(after).not.toBe(before);
    } finally {
      await admin.end();
      await opened.close();
      await database.drop();
    }
  });
});

describe('a PostgreSQL database that refuses connections', () => {
  it('fails queries with an error readModelsUnavailable recognises (the API answers 503, not 500)', async () => {
    const name = `rm_refusing_${Date.now()}`;
    const admin = new Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`create database ${name}`);
    const url = new URL(TEST_DATABASE_URL);
    url.pathname = `/${name}`;
    const opened = await openReadModelDatabase({ databaseUrl: url.toString(), dataDir: tmpdir() });
    try {
      await sql`select 1`.execute(opened.db);
      await admin.query(`alter database ${name} allow_connections false`);
      await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [name]);
      let failure: unknown;
      const deadline = Date.now() + 10_000;
      while (failure === undefined && Date.now() < deadline) {
        failure = await sql`select 1`.execute(opened.db).then(
          () => undefined,
          (error: unknown) => error,
        );
      }
      expect(failure).toBeInstanceOf(Error);
      expect(readModelsUnavailable(failure)).toBe(true);
      expect(readModelsUnavailable(new Error('syntax error at or near "selec"'))).toBe(false);
    } finally {
      await opened.close();
      await admin.query(`alter database ${name} allow_connections true`).catch(() => undefined);
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  });
});

describe('a schema named both in DATABASE_URL and by READ_MODEL_SCHEMA', () => {
  it('opens the read models in the schema READ_MODEL_SCHEMA names: the explicit setting wins over the URL', async () => {
    const suffix = `${process.pid}_${Date.now()}`;
    const urlSchema = `url_schema_${suffix}`;
    const namedSchema = `named_schema_${suffix}`;
    const url = new URL(TEST_DATABASE_URL);
    url.searchParams.set('options', `-c search_path=${urlSchema}`);
    const admin = new Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    try {
      await admin.query(`create schema ${urlSchema}`);
      const opened = await openReadModelDatabase({
        databaseUrl: url.toString(),
        schema: namedSchema,
        dataDir: tmpdir(),
      });
      try {
        const current = await sql<{ schema: string }>`select current_schema() as schema`.execute(opened.db);
        expect(current.rows[0]!.schema).toBe(namedSchema);
        const tables = await admin.query<{ schema: string }>(
          `select distinct table_schema as schema from information_schema.tables where table_schema in ($1, $2)`,
          [urlSchema, namedSchema],
        );
        expect(tables.rows.map((row) => row.schema)).toEqual([namedSchema]);
      } finally {
        await opened.close();
      }
    } finally {
      await admin.query(`drop schema if exists ${urlSchema} cascade`);
      await admin.query(`drop schema if exists ${namedSchema} cascade`);
      await admin.end();
    }
  });
});

describe('a DATABASE_URL whose search_path names no schema that exists', () => {
  it('is refused naming the search_path and what to do, and creates nothing', async () => {
    const missing = `missing_schema_${process.pid}_${Date.now()}`;
    const url = new URL(TEST_DATABASE_URL);
    url.searchParams.set('options', `-c search_path=${missing}`);
    const failure = await openReadModelDatabase({ databaseUrl: url.toString(), dataDir: tmpdir() }).then(
      async (opened) => {
        await opened.close();
        return undefined;
      },
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toContain(
      `No schema of the search_path ${missing} exists in database ${new URL(TEST_DATABASE_URL).pathname.slice(1)} with USAGE granted to role `,
    );
    expect((failure as Error).message).toMatch(/CREATE SCHEMA.*grant USAGE.*READ_MODEL_SCHEMA/);
    const admin = new Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    try {
      const schemas = await admin.query(`select 1 from information_schema.schemata where schema_name = $1`, [
        missing,
      ]);
      expect(schemas.rowCount).toBe(0);
    } finally {
      await admin.end();
    }
  });
});

/**
 * `openWhileUnreachable` (the API's): a PostgreSQL that cannot be reached at open does not fail it; the schema
 * and tables are set up on its first answer, and a refusal then (a database or role that does not exist) is
 * told to the caller and answered as "cannot be used now", never as a bug.
 */
describe('a PostgreSQL read-model database opened while it cannot be reached', () => {
  const relays: HangingRelay[] = [];
  afterEach(async () => {
    for (const relay of relays.splice(0)) await relay.close();
  });

  it('opens, fails queries as unreachable, and sets up on the first answer', async () => {
    // Given PostgreSQL's address, where nothing listens yet
    const port = await closedPort();
    const schema = `rm_late_${Date.now().toString(36)}`;
    const failures: [string, boolean][] = [];
    // When the database is opened
    const database = await openReadModelDatabase({
      databaseUrl: `postgres://postgres@127.0.0.1:${port}/test`,
      schema,
      timeoutMs: 2_000,
      openWhileUnreachable: true,
      onSetUpFailure: (error, unavailable) => failures.push([error.message, unavailable]),
    });
    try {
      // Then it is open, says why it could not set up, and a query fails as "cannot be reached"
      expect(database.setUpFailure?.message).toMatch(/ECONNREFUSED/);
      const early = await sql`select count(*) from sessions`
        .execute(database.db)
        .catch((error: unknown) => error);
      expect(readModelsUnavailable(early)).toBe(true);
      expect(failures.every(([, unavailable]) => unavailable)).toBe(true);
      // And once PostgreSQL answers there, the first query sets up the schema and its tables
      relays.push(await startHangingRelay(5432, '127.0.0.1', port));
      const counted = await sql<{ count: string }>`select count(*) from sessions`.execute(database.db);
      expect(counted.rows).toEqual([{ count: '0' }]);
      expect(database.setUpFailure).toBeUndefined();
    } finally {
      await database.close();
      const admin = new Client({ connectionString: TEST_DATABASE_URL });
      await admin.connect();
      await admin.query(`drop schema if exists ${schema} cascade`);
      await admin.end();
    }
  });

  it('answers a refusal of the set-up (no such database) as "cannot be used now", and tells the caller', async () => {
    // Given a database that does not exist, behind an address that answers only after the open
    const port = await closedPort();
    const failures: [string, boolean][] = [];
    const database = await openReadModelDatabase({
      databaseUrl: `postgres://postgres@127.0.0.1:${port}/no_such_database_late`,
      timeoutMs: 2_000,
      openWhileUnreachable: true,
      onSetUpFailure: (error, unavailable) => failures.push([error.message, unavailable]),
    });
    try {
      relays.push(await startHangingRelay(5432, '127.0.0.1', port));
      // When a query comes
      const refused = await sql`select 1`.execute(database.db).catch((error: unknown) => error);
      // Then it fails with the set-up's refusal, which counts as unavailable (503), and the caller was told
      expect(refused).toBeInstanceOf(ReadModelsSetUpError);
      expect((refused as Error).message).toMatch(/no_such_database_late/);
      expect(readModelsUnavailable(refused)).toBe(true);
      expect(failures.at(-1)).toEqual([expect.stringMatching(/no_such_database_late/), false]);
    } finally {
      await database.close();
    }
  });

  it('gives up waiting on a server that does not answer, saying so', async () => {
    // Given an address that accepts connections and answers nothing
    const relay = await startHangingRelay(5432);
    relays.push(relay);
    relay.hang();
    // When the database is opened with a 1 s query timeout
    const database = await openReadModelDatabase({
      databaseUrl: `postgres://postgres@127.0.0.1:${relay.port}/test`,
      timeoutMs: 1_000,
      openWhileUnreachable: true,
    });
    try {
      // Then the open returns, with why it could not set up
      expect(readModelsUnavailable(database.setUpFailure)).toBe(true);
    } finally {
      relay.resume();
      await database.close();
    }
  });
});
