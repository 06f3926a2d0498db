/**
 * READ_MODEL_SCHEMA under `npm start`: one environment for every process — DATABASE_URL without a
 * `search_path`, READ_MODEL_SCHEMA naming the schema — and the API works in that schema, as the standalone
 * projector and the replay CLI do. Its in-process projector writes the read models there, and its Management
 * API reads them there: a session written through the Integration API is served by the Management API, and its
 * row is in that schema, nothing in `public`.
 *
 * The API is started as `npm start` runs it (apps/session-api/src/main.ts, its own process), on a database of
 * its own (created and dropped here), so that nothing it might create outside the schema lands in the shared
 * test database.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as readline from 'node:readline';
import { Client } from 'pg';
import { TEST_DATABASE_URL } from '@session-engine/read-models/testing/test-databases';

jest.setTimeout(150_000);

const ROOT = resolve(__dirname, '..');
const INTEGRATION_KEY = 'int-key-schema-0001';
const MANAGEMENT_KEY = 'mgmt-key-schema-0001';
const suffix = randomBytes(5).toString('hex');
const DATABASE = `rm_schema_db_${suffix}`;
const SCHEMA = `rm_schema_${suffix}`;

/** TEST_DATABASE_URL with another database. */
function databaseUrl(database: string): string {
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

async function onServer<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

let dataDir: string;
let child: ChildProcess | undefined;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'read-model-schema-'));
  await onServer(TEST_DATABASE_URL, (client) => client.query(`create database ${DATABASE}`));
});

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((done) => child!.once('exit', done));
    child.kill('SIGKILL');
    await exited;
  }
  rmSync(dataDir, { recursive: true, force: true });
  await onServer(TEST_DATABASE_URL, (client) =>
    client.query(`drop database if exists ${DATABASE} with (force)`),
  );
});

/** `npm start` with `env`; resolves with its HTTP port once it listens and its projector thread has started. */
async function npmStart(env: Record<string, string>): Promise<{ port: number; stdout: string[] }> {
  const base = { ...process.env };
  for (const name of Object.keys(base))
    if (/^(PORT|EVENTSTORE_|EMBEDDED_EVENTSTORE_|DATABASE_URL|READ_MODEL_|PROJECTOR_|DATA_DIR)/.test(name))
      delete base[name];
  const started = spawn(process.execPath, ['-r', './tools/register.js', 'apps/session-api/src/main.ts'], {
    cwd: ROOT,
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = started;
  const stdout: string[] = [];
  const stderr: string[] = [];
  readline.createInterface({ input: started.stdout! }).on('line', (line) => stdout.push(line));
  readline.createInterface({ input: started.stderr! }).on('line', (line) => stderr.push(line));
  for (const deadline = Date.now() + 120_000; ;) {
    const lines = stdout
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg?: string; port?: number; backgroundService?: string });
    const listening = lines.find((line) => line.msg === 'session API listening');
    const projecting = lines.some(
      (line) => line.msg === 'background service started' && line.backgroundService === 'projector',
    );
    if (listening && projecting) return { port: listening.port!, stdout };
    if (started.exitCode !== null) throw new Error(`npm start exited:\n${[...stdout, ...stderr].join('\n')}`);
    if (Date.now() > deadline) throw new Error('npm start did not start within 120 s');
    await new Promise((done) => setTimeout(done, 50));
  }
}

it('serves through the Management API the sessions its in-process projector wrote into READ_MODEL_SCHEMA', async () => {
  const url = databaseUrl(DATABASE);
  const { port } = await npmStart({
    DATA_DIR: dataDir,
    PORT: '0',
    EMBEDDED_EVENTSTORE_PORT: '0',
    DATABASE_URL: url,
    READ_MODEL_SCHEMA: SCHEMA,
    INTEGRATION_API_KEYS: `${INTEGRATION_KEY}=1`,
    MANAGEMENT_API_KEYS: `${MANAGEMENT_KEY}=*`,
    LOG_LEVEL: 'info',
  });
  const base = `http://127.0.0.1:${port}`;

  const put = await fetch(`${base}/v2/customer_sessions/schema-cart-1`, {
    method: 'PUT',
    headers: { authorization: `ApiKey-v1 ${INTEGRATION_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      customerSession: {
        profileId: 'schema-alice',
        cartItems: [{ sku: 'shirt', quantity: 2, price: 19.99 }],
      },
    }),
  });
  expect(put.status).toBe(200);
  const position = put.headers.get('x-event-position')!;

  // The projector thread writes it; the Management API reads it (minPosition: as soon as it is projected).
  const list = await fetch(`${base}/v1/applications/1/sessions?minPosition=${position}`, {
    headers: { authorization: `ManagementKey-v1 ${MANAGEMENT_KEY}` },
  });
  expect(list.status).toBe(200);
  expect(await list.json()).toMatchObject({
    data: [{ integrationId: 'schema-cart-1', profileId: 'schema-alice', total: 39.98 }],
  });

  // Both worked in the schema READ_MODEL_SCHEMA names, not in the URL's default search_path.
  const tables = await onServer(url, async (client) => {
    const rows = await client.query<{ integration_id: string }>(
      `select integration_id from ${SCHEMA}.sessions`,
    );
    const inPublic = await client.query<{ name: string }>(
      `select table_name as name from information_schema.tables where table_schema = 'public'`,
    );
    return { sessions: rows.rows.map((row) => row.integration_id), inPublic: inPublic.rows };
  });
  expect(tables).toEqual({ sessions: ['schema-cart-1'], inPublic: [] });

  const exited = new Promise<number | null>((done) => child!.once('exit', (code) => done(code)));
  child!.kill('SIGTERM');
  expect(await exited).toBe(0);
});
