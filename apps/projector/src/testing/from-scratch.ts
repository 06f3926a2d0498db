/**
 * What a projector should have come to: the read models another projector projects from the whole log into a
 * database of their own, for the specs to compare with the one under test.
 */
import { dumpReadModels, openReadModelDatabase } from '@session-engine/read-models';
import type { TestDatabase } from '@session-engine/read-models/testing/test-databases';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { startProjector, type ProjectorOptions } from '../projector';

export interface ReadModelLocation {
  databaseUrl?: string;
  schema?: string;
  dataDir: string;
}

/** Every row of every read-model table at `location`. */
export async function dumpAt(location: ReadModelLocation) {
  const db = await openReadModelDatabase(location);
  try {
    return await dumpReadModels(db.db);
  } finally {
    await db.close();
  }
}

/**
 * The rows a projector of its own (with `settings`) projects from the log at `connectionString` up to `upTo`,
 * into a `_scratch` schema beside `database`'s on PostgreSQL, or a temporary SQLite directory (removed after).
 */
export async function projectedFromScratch(
  database: TestDatabase,
  connectionString: string,
  upTo: bigint,
  settings: Partial<ProjectorOptions> = {},
) {
  const scratchDir = mkdtempSync(join(tmpdir(), 'projector-scratch-'));
  const location =
    database.name === 'postgres'
      ? { ...database.options(), schema: `${database.options().schema}_scratch` }
      : { dataDir: scratchDir };
  try {
    const scratch = await startProjector({
      connectionString,
      ...location,
      logger: pino({ level: 'silent' }),
      registry: new Registry(),
      ...settings,
    });
    try {
      if (!(await scratch.waitForPosition(upTo, 30_000))) {
        throw new Error(`the scratch projector did not reach position ${upTo} within 30 s`);
      }
    } finally {
      await scratch.stop();
    }
    return await dumpAt(location);
  } finally {
    rmSync(scratchDir, { recursive: true, force: true });
  }
}
