/**
 * A PostgreSQL that hangs — its server process stopped, or the network dropping its packets — accepts
 * connections (or keeps them open) and answers nothing, fails nothing. A relay between these tests and the
 * server plays that hang (`startHangingRelay`). Unlike a server that refuses connections, such a hang used to
 * hold a management query, and the projector's lock probes, for as long as it lasted.
 */
import { startHangingRelay, type HangingRelay } from '@session-engine/testing';
import { sql } from 'kysely';
import { Client } from 'pg';
import {
  openReadModelDatabase,
  readModelsUnavailable,
  ReadModelsTimeoutError,
  type ReadModelDatabase,
  type ReadModelDb,
} from './database';
import { projectorLock, ProjectorLockLostError, type ProjectorLease } from './projector-lock';
import { ReadModelQueries } from './read-model-queries';
import { PROJECTION_WRITERS, ReadModelWriter } from './read-model-writer';
import { SessionHistory } from './testing/session-history';
import { postgresTestDatabase, TEST_DATABASE_URL } from './testing/test-databases';
import type { ProjectionWriter } from './writers/projection-writer';

jest.setTimeout(60_000);

/** Longer than any bound below: past it a test reports what is still waiting instead of hanging. */
const GENEROUS_MS = 20_000;
const server = new URL(TEST_DATABASE_URL);

/** `promise`'s outcome, or 'still waiting' after `ms`. */
async function outcome<T>(
  promise: Promise<T>,
  ms = GENEROUS_MS,
): Promise<{ value: T } | { error: unknown } | 'still waiting'> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<'still waiting'>((resolve) => {
    timer = setTimeout(() => resolve('still waiting'), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
      waited,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const until = async (condition: () => Promise<boolean>) => {
  const deadline = Date.now() + GENEROUS_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

const backendPid = async (db: ReadModelDb) =>
  Number((await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db)).rows[0]!.pid);

let sessions = 0;
const sessionCreated = (name: string) =>
  new SessionHistory(1, name, (sessions += 1)).created('2026-01-05T10:00:00.000Z');

describe('read models on a PostgreSQL that hangs', () => {
  const database = postgresTestDatabase();
  const schema = database.options().schema!;
  let relay: HangingRelay;
  /** DATABASE_URL through the relay. */
  let hangingUrl: string;
  let direct: ReadModelDatabase;
  const cleanup: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    direct = await database.open();
  });

  beforeEach(async () => {
    relay = await startHangingRelay(Number(server.port || 5432), server.hostname);
    const url = new URL(TEST_DATABASE_URL);
    url.hostname = '127.0.0.1';
    url.port = String(relay.port);
    hangingUrl = url.toString();
  });

  afterEach(async () => {
    relay.resume();
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
    await relay.close();
  });

  afterAll(async () => {
    await direct.close();
    await database.drop();
  });

  /** What the API opens for its management queries, through the relay, with a small bound. */
  const openBounded = async (timeoutMs: number) => {
    const opened = await openReadModelDatabase({ databaseUrl: hangingUrl, schema, timeoutMs });
    cleanup.push(() => opened.close());
    return opened;
  };

  const processedDirectly = () => new ReadModelQueries(direct.db).processedPosition();

  /**
   * A projector's view through the relay: the projector's own pool (no bound, its statements wait for the
   * server) and the lock, taken, probed every 50 ms and lost after a probe unanswered for 1 s.
   */
  const projectingThroughRelay = async () => {
    const unbounded = await openReadModelDatabase({ databaseUrl: hangingUrl, schema });
    cleanup.push(() => unbounded.close());
    const lock = projectorLock(unbounded, {
      databaseUrl: hangingUrl,
      heartbeatMs: 50,
      probeTimeoutMs: 1_000,
    });
    const lease = (await lock.tryAcquire())!;
    expect(lease).toBeDefined();
    cleanup.push(() => lease.release());
    const lost = new Promise<Error>((resolve) => lease.onLost(resolve));
    return { unbounded, lease, lost };
  };

  it('fails a query within the bound with an error that means 503, then recovers on a new connection', async () => {
    const bounded = await openBounded(500);
    const queries = new ReadModelQueries(bounded.db);
    const processed = await queries.processedPosition();
    const before = await backendPid(bounded.db);

    relay.hang();
    // The pool's connection is open: the query is sent and nothing comes back.
    const unanswered = await outcome(queries.processedPosition());
    expect(unanswered).toEqual({ error: expect.any(ReadModelsTimeoutError) });
    expect(readModelsUnavailable((unanswered as { error: unknown }).error)).toBe(true);
    // No connection left to use: a new one is opened and never gets past its greeting.
    const unopened = await outcome(queries.listSessions({ applicationId: 1, pageSize: 10, skip: 0 }));
    expect(unopened).toEqual({ error: expect.any(ReadModelsTimeoutError) });
    expect(readModelsUnavailable((unopened as { error: unknown }).error)).toBe(true);

    relay.resume();
    expect(await queries.processedPosition()).toBe(processed);
    // The connection whose query went unanswered was closed: it is not handed out again.
    expect(await backendPid(bounded.db)).not.toBe(before);
  });

  it('probes the lock connection one probe at a time, and gives the lock up when a probe goes unanswered', async () => {
    const lock = projectorLock(direct, { databaseUrl: hangingUrl, heartbeatMs: 50, probeTimeoutMs: 1_000 });
    const lease = (await lock.tryAcquire())!;
    expect(lease).toBeDefined();
    cleanup.push(() => lease.release());
    const lost = new Promise<Error>((resolve) => lease.onLost(resolve));

    let probing = 0;
    let mostAtOnce = 0;
    const query = Client.prototype.query;
    const spy = jest.spyOn(Client.prototype, 'query').mockImplementation(function (
      this: Client,
      ...args: unknown[]
    ) {
      const result = (query as (...a: unknown[]) => unknown).apply(this, args);
      if (args[0] === 'select 1' && result instanceof Promise) {
        probing += 1;
        mostAtOnce = Math.max(mostAtOnce, probing);
        const done = () => {
          probing -= 1;
        };
        result.then(done, done);
      }
      return result as never;
    });
    cleanup.push(async () => spy.mockRestore());

    relay.hang();
    const reason = await outcome(lost);
    expect(reason).toEqual({ value: expect.any(ProjectorLockLostError) });
    expect(((reason as { value: Error }).value as Error).message).toMatch(
      /did not answer a probe within 1000 ms/,
    );
    expect(lease.isHeld()).toBe(false);
    expect(mostAtOnce).toBe(1);

    // The server frees the lock once it hears that the connection was closed: the lock can be taken again.
    relay.resume();
    let again: ProjectorLease | undefined;
    await until(async () => (again = await lock.tryAcquire()) !== undefined);
    await again!.release();
  });

  it('commits no batch once the server ended the lock connection, before the holder heard of it', async () => {
    // A probe timeout far beyond the test: only the check inside the batch can notice.
    const lock = projectorLock(direct, { databaseUrl: hangingUrl, probeTimeoutMs: 120_000 });
    const lease = (await lock.tryAcquire())!;
    expect(lease).toBeDefined();
    cleanup.push(() => lease.release());

    // The network cuts the lock connection; the server ends it (an administrator, or its TCP keep-alive).
    relay.hang();
    const pid = Number(/backend pid (\d+)/.exec((await lock.holder()) ?? '')?.[1]);
    expect(pid).toBeGreaterThan(0);
    await sql`select pg_terminate_backend(${pid})`.execute(direct.db);
    await until(async () => (await lock.holder()) === undefined);
    const successor = await projectorLock(direct, { databaseUrl: TEST_DATABASE_URL }).tryAcquire();
    expect(successor).toBeDefined();
    cleanup.push(() => successor!.release());
    expect(lease.isHeld()).toBe(true); // nothing has told it yet

    const writer = await ReadModelWriter.open(direct.db);
    const processed = await processedDirectly();
    const events = sessionCreated('fenced-out').events;
    const upTo = events[events.length - 1]!.position;
    await expect(writer.apply(events, upTo, (trx) => lease.fence(trx))).rejects.toBeInstanceOf(
      ProjectorLockLostError,
    );
    expect(lease.isHeld()).toBe(false);
    expect(await processedDirectly()).toBe(processed);

    await writer.apply(events, upTo, (trx) => successor!.fence(trx));
    expect(await processedDirectly()).toBe(upTo);
  });

  it('does not commit a batch whose statements waited on the hang while the lock was lost', async () => {
    const { unbounded, lease, lost } = await projectingThroughRelay();

    // The database hangs in the middle of the batch, after it began and the lock was still held.
    const [sessions, ...others] = PROJECTION_WRITERS;
    const hangingSessions: ProjectionWriter = {
      name: sessions!.name,
      apply: async (rows, events) => {
        relay.hang();
        await sessions!.apply(rows, events);
      },
      erase: (rows, streamIds) => sessions!.erase(rows, streamIds),
    };
    const writer = await ReadModelWriter.open(unbounded.db, [hangingSessions, ...others]);
    const processed = await processedDirectly();
    const events = sessionCreated('in-flight').events;
    const upTo = events[events.length - 1]!.position;
    const applying = writer.apply(events, upTo, (trx) => lease.fence(trx));
    applying.catch(() => undefined);

    expect(await outcome(lost)).toEqual({ value: expect.any(ProjectorLockLostError) });
    relay.resume();
    expect(await outcome(applying)).toEqual({ error: expect.any(ProjectorLockLostError) });
    expect(await processedDirectly()).toBe(processed);
  });

  it('does not commit a batch whose last lock check was in flight when the probe gave the lock up', async () => {
    const { unbounded, lease, lost } = await projectingThroughRelay();

    const writer = await ReadModelWriter.open(unbounded.db);
    const processed = await processedDirectly();
    const events = sessionCreated('late-check').events;
    const upTo = events[events.length - 1]!.position;
    let checks = 0;
    // The network hangs as the check before the commit is sent; when it answers, the server has not yet noticed
    // that the lock connection is gone, so pg_locks still shows the lock held.
    const applying = writer.apply(events, upTo, async (trx) => {
      if (++checks === 2) relay.hang();
      await lease.fence(trx);
    });
    applying.catch(() => undefined);

    expect(await outcome(lost)).toEqual({ value: expect.any(ProjectorLockLostError) });
    relay.resume();
    expect(await outcome(applying)).toEqual({ error: expect.any(ProjectorLockLostError) });
    expect(await processedDirectly()).toBe(processed);
  });
});

describe("the API's bounded read-model pool on a PostgreSQL where a query waits", () => {
  const database = postgresTestDatabase();
  let direct: ReadModelDatabase;
  let admin: Client;

  beforeAll(async () => {
    direct = await database.open();
    admin = new Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
  });

  afterAll(async () => {
    await admin.end();
    await direct.close();
    await database.drop();
  });

  it('ends a query that outlived the bound on the server too, answered as unavailable, and leaves no server process waiting', async () => {
    const bounded = await openReadModelDatabase({ ...database.options(), timeoutMs: 300 });
    const queries = new ReadModelQueries(bounded.db);
    await queries.processedPosition();
    const adminPid = Number((await admin.query('select pg_backend_pid() as pid')).rows[0].pid);
    // A migration, VACUUM FULL or an operator's LOCK TABLE: the database answers, this table waits.
    await admin.query('begin');
    await admin.query(
      `lock table ${database.options().schema}.projection_checkpoints in access exclusive mode`,
    );
    try {
      const failures: unknown[] = [];
      for (let round = 0; round < 10; round++) {
        await Promise.all(
          [0, 1].map(() => queries.processedPosition().catch((error) => failures.push(error))),
        );
      }
      expect(failures).toHaveLength(20);
      expect(failures.filter(readModelsUnavailable)).toHaveLength(20);
      // Each timed-out query's server process would otherwise still wait on the lock (about one a request).
      await until(async () => {
        const waiting = await admin.query<{ n: number }>(
          'select count(*)::int as n from pg_stat_activity where $1 = any(pg_blocking_pids(pid))',
          [adminPid],
        );
        return waiting.rows[0]!.n === 0;
      });
    } finally {
      await admin.query('rollback');
      await bounded.close();
    }
  });
});
