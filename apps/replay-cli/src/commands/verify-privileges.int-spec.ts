/**
 * `verify` as a role that may not read the read models (PostgreSQL 42501): the tables are there, so the advice is
 * to grant the role SELECT — not "are they migrated? Starting the projector once migrates them", which sent a
 * DBA to migrate tables that exist.
 */
import { openReadModelDatabase } from '@session-engine/read-models';
import { asAdmin, TEST_DATABASE_URL } from '@session-engine/read-models/testing/test-databases';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedEventStore, type EmbeddedEventStore } from '../../../eventstore-embedded/src';
import { replayCli } from '../testing/run-cli';

jest.setTimeout(60_000);

const suffix = randomBytes(6).toString('hex');
const name = `rm_privileges_${suffix}`;
const role = `rm_reader_${suffix}`;
const dataDir = mkdtempSync(join(tmpdir(), 'rm-privileges-'));
let store: EmbeddedEventStore;

const admin = asAdmin;

const databaseUrl = (user?: string) => {
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  if (user !== undefined) {
    url.username = user;
    url.password = '';
  }
  return url.toString();
};

beforeAll(async () => {
  await admin(`create database ${name}`);
  await admin(`create role ${role} login`);
  // Migrated by its owner: the tables exist, the reader role has no privilege on them.
  const owner = await openReadModelDatabase({ databaseUrl: databaseUrl(), dataDir });
  await owner.close();
  store = await startEmbeddedEventStore({ port: 0, dataDir: join(dataDir, 'es'), silent: true });
});

afterAll(async () => {
  await store?.close();
  await admin(`drop database if exists ${name} with (force)`);
  await admin(`drop role if exists ${role}`);
  rmSync(dataDir, { recursive: true, force: true });
});

it('tells a role without SELECT on the read models to be granted it, not to migrate them', async () => {
  const run = await replayCli({
    EVENTSTORE_CONNECTION_STRING: store.connectionString,
    DATABASE_URL: databaseUrl(role),
    DATA_DIR: dataDir,
  })(['verify']);
  expect(run.code).toBe(2);
  expect(run.stderr).toContain('permission denied');
  expect(run.stderr).toContain('grant this role SELECT on the read-model tables');
  expect(run.stderr).not.toContain('are they migrated');
});

it('names what failed when a role may not create the read models at all (no migration ran yet)', async () => {
  const empty = `${name}_empty`;
  await admin(`create database ${empty}`);
  try {
    const url = new URL(databaseUrl(role));
    url.pathname = `/${empty}`;
    // PostgreSQL 15 and later let no role but the owner create tables in `public`.
    await expect(openReadModelDatabase({ databaseUrl: url.toString(), dataDir })).rejects.toThrow(
      /Read-model migration of the read models failed: error: permission denied for schema public/,
    );
  } finally {
    await admin(`drop database if exists ${empty} with (force)`);
  }
});
