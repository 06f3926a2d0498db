/**
 * A projector that takes the read-model lock and then cannot read `projection_checkpoints` (SELECT revoked, a
 * role's search_path without the read models, the table gone) used to retry every 100 ms forever, logging a warn
 * line with a stack each time, and to start its stall clock anew at every attempt: /health/ready 200, the last
 * commit 0 s old, no failure counted — a stall nobody was told of. It now fails as a batch does: it keeps the lock,
 * backs off (100 ms doubling to 30 s), logs once (then once a minute), counts the attempts in
 * `projector_batch_failures_total`, reports the failure and is stalled after the stall window while events wait.
 * Read models dropped with their schema (a database re-created empty) are migrated again, as a start would.
 */
import {
  postgresTestDatabase,
  testDatabases,
  type TestDatabase,
} from '@session-engine/read-models/testing/test-databases';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { Client } from 'pg';
import pino from 'pino';
import { Registry } from 'prom-client';
import { type RunningProjector, startProjector } from './projector';
import { readiness } from './projector-http';
import { scrape, sleep, until } from './testing/probes';
import { appendHistories, suiteStore } from './testing/store-fixtures';
import { workload } from './testing/workload';

jest.setTimeout(120_000);

type Line = Record<string, unknown> & { level: number; msg: string };

/** Runs one statement on the test database: PostgreSQL in its schema, SQLite on its file. */
async function run(database: TestDatabase, statement: string): Promise<void> {
  const { schema, databaseUrl, dataDir } = database.options();
  if (database.name === 'sqlite') {
    const sqlite = new Database(join(dataDir, 'read-models.sqlite'));
    try {
      sqlite.pragma('busy_timeout = 5000');
      sqlite.exec(statement);
    } finally {
      sqlite.close();
    }
    return;
  }
  const pg = new Client({ connectionString: databaseUrl });
  await pg.connect();
  try {
    await pg.query(`set search_path = ${schema}`);
    await pg.query(statement);
  } finally {
    await pg.end();
  }
}

const store = suiteStore('projector-checkpoints-es-');
const started: RunningProjector[] = [];
afterEach(async () => {
  for (const projector of started.splice(0)) await projector.stop();
});

async function leaderAndStandby(database: TestDatabase, offset: number) {
  const lines: Line[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Line) });
  const options = { connectionString: store.store.connectionString, ...database.options(), batchDelayMs: 10 };
  const first = await startProjector({
    ...options,
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
  });
  started.push(first);
  const projected = await appendHistories(store.client, workload(5, offset));
  expect(await first.waitForPosition(projected, 30_000)).toBe(true);
  const registry = new Registry();
  const second = await startProjector({
    ...options,
    logger,
    registry,
    standbyPollMs: 200,
    stallAfterMs: 1_500,
  });
  started.push(second);
  await until('the second projector on standby', () =>
    lines.some((line) => line.msg.startsWith('projector on standby')),
  );
  return { first, second, registry, lines, projected };
}

describe.each(testDatabases())('a projector that cannot read its checkpoints, on $name', (database) => {
  afterAll(() => database.drop());

  it('holds the lock, backs off, logs once, counts and reports the failure, and is stalled; then recovers', async () => {
    const offset = database.name === 'postgres' ? 0 : 200;
    const { first, second, registry, lines, projected } = await leaderAndStandby(database, offset);
    await run(database, 'alter table projection_checkpoints rename to projection_checkpoints_away');
    await first.stop();
    const last = await appendHistories(store.client, workload(3, offset + 50));

    const startedAt = Date.now();
    await until('the failure reported', () => second.status().failure ?? false, 20_000);
    expect(second.isLeader()).toBe(true);
    await until('stalled', () => second.status().stalled, 20_000);
    // Stalled once the window passed — not reset by every attempt.
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(1_000);
    await sleep(4_000);
    const status = second.status();
    expect(status).toMatchObject({
      leader: true,
      stalled: true,
      caughtUp: false,
      position: projected,
      failure: { kind: 'refused', streamId: '$all', eventType: 'none', events: 0 },
    });
    expect(status.lastCommitAgeMs).toBeGreaterThanOrEqual(1_500);
    expect(readiness(second).status).toBe(503);
    const metrics = await scrape(registry);
    const failures = metrics['projector_batch_failures_total{kind="refused"}'] ?? 0;
    // Back-off: about 7 attempts in ~6 s (100 ms doubling, with jitter), where a fixed 100 ms made ~50.
    expect(failures).toBeGreaterThanOrEqual(3);
    expect(failures).toBeLessThanOrEqual(12);
    expect(status.failure!.attempts).toBe(failures);
    expect(metrics['projector_last_commit_age_seconds']).toBeGreaterThanOrEqual(1);
    const failed = lines.filter((line) => /checkpoints|could not start projecting/.test(line.msg));
    expect(failed).toEqual([
      expect.objectContaining({
        level: 50,
        msg: "projector cannot read the read models' checkpoints; retrying",
        kind: 'refused',
        attempt: 1,
        error: expect.objectContaining({ message: expect.stringMatching(/projection_checkpoints/) }),
      }),
    ]);

    await run(database, 'alter table projection_checkpoints_away rename to projection_checkpoints');
    expect(await second.waitForPosition(last, 60_000)).toBe(true);
    await until('projecting again', () => !second.status().stalled && second.status().failure === undefined);
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: 'projector can read the checkpoints again; projecting' }),
    );
  });
});

describe('read models dropped with their schema (a database re-created empty), on postgres', () => {
  const database = postgresTestDatabase();
  afterAll(() => database.drop());

  it('are migrated again when the lock is taken, and projected from the start of the log', async () => {
    const { first, second, lines } = await leaderAndStandby(database, 100);
    const pg = new Client({ connectionString: database.options().databaseUrl });
    await pg.connect();
    try {
      await pg.query(`drop schema ${database.options().schema} cascade`);
    } finally {
      await pg.end();
    }
    await first.stop();
    const last = await appendHistories(store.client, workload(2, 150));
    expect(await second.waitForPosition(last, 60_000)).toBe(true);
    expect(second.status().failure).toBeUndefined();
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 40, msg: expect.stringContaining('found no read models') }),
    );
    // Every session of the log is in the re-created read models — the 8 + 8 the tests above wrote too: projected
    // from the start.
    const count = new Client({ connectionString: database.options().databaseUrl });
    await count.connect();
    try {
      const { rows } = await count.query<{ n: string }>(
        `select count(*) as n from ${database.options().schema}.sessions`,
      );
      expect(Number(rows[0]!.n)).toBe(8 + 8 + 7);
    } finally {
      await count.end();
    }
  });
});

describe.each(testDatabases())('a batch the database refuses whatever it holds, on $name', (database) => {
  afterAll(() => database.drop());

  it('is retried whole (kind refused), never narrowed down to blame one event; it commits once the table is back', async () => {
    const offset = database.name === 'postgres' ? 300 : 400;
    // The standby takes over: starting a third projector here raced the standby for the lock, and lost it often
    // enough to time out waiting for its lead.
    const { first, second: leader, registry, lines } = await leaderAndStandby(database, offset);
    await first.stop();
    await until('the standby leading', () => leader.isLeader());
    const since = lines.length;
    await run(database, 'alter table sessions rename to sessions_away');
    const last = await appendHistories(store.client, workload(4, offset + 50));
    await until('refused, several times', () => (leader.status().failure?.attempts ?? 0) >= 4, 30_000);
    const failure = leader.status().failure!;
    expect(failure.kind).toBe('refused');
    // The whole batch each time: an event is blamed only when a batch of it alone fails for what it holds.
    expect(failure.events).toBeGreaterThan(1);
    const messages = lines.slice(since).map((line) => line.msg);
    expect(messages).not.toContain('projector cannot commit this event; retrying');
    expect(messages).toContain('projector batch failed; retrying');
    expect((await scrape(registry))['projector_batch_failures_total{kind="refused"}']).toBeGreaterThanOrEqual(
      4,
    );
    await run(database, 'alter table sessions_away rename to sessions');
    expect(await leader.waitForPosition(last, 60_000)).toBe(true);
  });
});
