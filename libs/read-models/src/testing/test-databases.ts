import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { openReadModelDatabase, type ReadModelDatabase } from '../database';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Runs one statement on the test server as its administrator (databases, roles and their settings). */
export async function asAdmin(statement: string): Promise<void> {
  const client = new Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

export interface TestDatabase {
  name: 'postgres' | 'sqlite';
  open(): Promise<ReadModelDatabase>;
  /** What to give `startProjector` / `openReadModelDatabase` to reach the same database. */
  options(): { databaseUrl?: string; schema?: string; dataDir: string };
  drop(): Promise<void>;
}

/** A fresh PostgreSQL schema (dropped afterwards) and a fresh SQLite directory: the suites run on both. */
export function testDatabases(): TestDatabase[] {
  return [postgresTestDatabase(), sqliteTestDatabase()];
}

export function postgresTestDatabase(): TestDatabase {
  const schema = `rm_test_${randomBytes(6).toString('hex')}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'rm-pg-'));
  return {
    name: 'postgres',
    options: () => ({ databaseUrl: TEST_DATABASE_URL, schema, dataDir }),
    open: () => openReadModelDatabase({ databaseUrl: TEST_DATABASE_URL, schema, dataDir }),
    async drop() {
      const client = new Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      try {
        // `<schema>_scratch` holds from-scratch recomputations some suites compare against.
        await client.query(`drop schema if exists ${schema} cascade`);
        await client.query(`drop schema if exists ${schema}_scratch cascade`);
      } finally {
        await client.end();
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function sqliteTestDatabase(): TestDatabase {
  const dataDir = mkdtempSync(join(tmpdir(), 'rm-sqlite-'));
  return {
    name: 'sqlite',
    options: () => ({ dataDir }),
    open: () => openReadModelDatabase({ dataDir }),
    drop: async () => rmSync(dataDir, { recursive: true, force: true }),
  };
}
