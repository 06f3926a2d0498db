/**
 * A DBA's `ALTER DATABASE … SET statement_timeout` / `idle_in_transaction_session_timeout` (or the same on the role)
 * bounded the projector's and the replay CLI's sessions too: batches failed with 57014 (halved, blaming an innocent
 * event) and a rebuild lost its connection (25P03). Their sessions now set both to 0 for themselves; the API's
 * bounded sessions keep their own bound.
 */
import { openReadModelDatabase, type ReadModelDatabase } from '@session-engine/read-models';
import { asAdmin, TEST_DATABASE_URL } from '@session-engine/read-models/testing/test-databases';
import { sql } from 'kysely';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { replayConfig } from './config';
import { Connections } from './connections';

jest.setTimeout(60_000);

const name = `rm_settings_${randomBytes(6).toString('hex')}`;
const url = new URL(TEST_DATABASE_URL);
url.pathname = `/${name}`;
const databaseUrl = url.toString();
const dataDir = mkdtempSync(join(tmpdir(), 'rm-settings-'));

const admin = asAdmin;

beforeAll(async () => {
  await admin(`create database ${name}`);
  await admin(`alter database ${name} set statement_timeout = '200ms'`);
  await admin(`alter database ${name} set idle_in_transaction_session_timeout = '200ms'`);
});
afterAll(async () => {
  await admin(`drop database if exists ${name} with (force)`);
  rmSync(dataDir, { recursive: true, force: true });
});

const show = async (database: ReadModelDatabase, setting: string) =>
  (await sql<Record<string, string>>`show ${sql.raw(setting)}`.execute(database.db)).rows[0]![setting];

/** A statement longer than the inherited bound, and a transaction idle longer than it. */
async function runsLong(database: ReadModelDatabase): Promise<void> {
  await sql`select pg_sleep(0.4)`.execute(database.db);
  await database.db.transaction().execute(async (trx) => {
    await sql`select 1`.execute(trx);
    await new Promise((resolve) => setTimeout(resolve, 400));
    await sql`select 1`.execute(trx);
  });
}

it('the inherited bounds are there (the fixture works)', async () => {
  const pg = new Client({ connectionString: databaseUrl });
  await pg.connect();
  try {
    await expect(pg.query('select pg_sleep(0.4)')).rejects.toMatchObject({ code: '57014' });
  } finally {
    await pg.end();
  }
});

it("the projector's and the CLI's read-model sessions (unbounded) set both to 0 for themselves", async () => {
  const database = await openReadModelDatabase({ databaseUrl, dataDir });
  try {
    expect(await show(database, 'statement_timeout')).toBe('0');
    expect(await show(database, 'idle_in_transaction_session_timeout')).toBe('0');
    await runsLong(database);
  } finally {
    await database.close();
  }
});

it("the replay CLI's connections (rebuild's live read models, verify's read-only ones) are not bounded", async () => {
  const connections = new Connections(replayConfig({ DATABASE_URL: databaseUrl, DATA_DIR: dataDir }));
  try {
    const live = await connections.readModels();
    expect(await show(live, 'statement_timeout')).toBe('0');
    await runsLong(live);
    const readOnly = await connections.readModelsReadOnly();
    expect(await show(readOnly, 'statement_timeout')).toBe('0');
    expect(await show(readOnly, 'idle_in_transaction_session_timeout')).toBe('0');
    await runsLong(readOnly);
  } finally {
    await connections.close();
  }
});

it("the API's bounded sessions keep their own bound", async () => {
  const database = await openReadModelDatabase({ databaseUrl, dataDir, timeoutMs: 5_000 });
  try {
    expect(await show(database, 'statement_timeout')).toBe('5s');
  } finally {
    await database.close();
  }
});
