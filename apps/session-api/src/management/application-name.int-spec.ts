/**
 * A DBA looking at `pg_stat_activity` (and the rebuild's report of who blocks its swap) saw an application_name
 * only on the projector's lock connection: the API's pool and the projector's batch connections had none. They
 * now say `session-engine-api` and `session-engine-projector`.
 */
import { CqrsModule } from '@nestjs/cqrs';
import { Test } from '@nestjs/testing';
import { TEST_DATABASE_URL } from '@session-engine/read-models/testing/test-databases';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import pino from 'pino';
import { Registry } from 'prom-client';
import { startProjector } from '../../../projector/src/projector';
import { startEmbeddedEventStore } from '../../../projector/src/testing/store-fixtures';
import type { ApiKeys } from '../config/api-keys.provider';
import { ManagementModule } from './management.module';
import { ReadModelHealth } from './read-model-health';

jest.setTimeout(60_000);

const name = `rm_appname_${randomBytes(6).toString('hex')}`;
const url = new URL(TEST_DATABASE_URL);
url.pathname = `/${name}`;
const databaseUrl = url.toString();
const dataDir = mkdtempSync(join(tmpdir(), 'rm-appname-'));

async function admin<T extends Record<string, unknown>>(statement: string, values: unknown[] = []) {
  const pg = new Client({ connectionString: TEST_DATABASE_URL });
  await pg.connect();
  try {
    return (await pg.query<T>(statement, values)).rows;
  } finally {
    await pg.end();
  }
}
const applications = async () =>
  (
    await admin<{ application_name: string }>(
      'select distinct application_name from pg_stat_activity where datname = $1 order by 1',
      [name],
    )
  ).map((row) => row.application_name);

beforeAll(() => admin(`create database ${name}`));
afterAll(async () => {
  await admin(`drop database if exists ${name} with (force)`);
  rmSync(dataDir, { recursive: true, force: true });
});

it("the API's read-model connections are named session-engine-api", async () => {
  const module = await Test.createTestingModule({
    imports: [
      CqrsModule.forRoot(),
      ManagementModule.forRoot({
        config: { databaseUrl, dataDir, readModelSchema: undefined, readModelQueryTimeoutMs: 5_000 },
        keys: {} as ApiKeys,
        logger: pino({ level: 'silent' }),
      }),
    ],
  }).compile();
  const app = module.createNestApplication({ logger: false });
  await app.init();
  try {
    expect(await app.get(ReadModelHealth).isReachable()).toBe(true);
    expect(await applications()).toEqual(['session-engine-api']);
  } finally {
    await app.close();
  }
});

it("the projector's batch connections are named session-engine-projector", async () => {
  const storeDir = mkdtempSync(join(tmpdir(), 'rm-appname-es-'));
  const store = await startEmbeddedEventStore({ port: 0, dataDir: storeDir, silent: true });
  const projector = await startProjector({
    connectionString: store.connectionString,
    databaseUrl,
    dataDir,
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
  });
  try {
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(projector.isLeader()).toBe(true);
    expect(await applications()).toEqual(['session-engine-projector', 'session-engine-projector-lock']);
  } finally {
    await projector.stop();
    await store.close();
    rmSync(storeDir, { recursive: true, force: true });
  }
});
