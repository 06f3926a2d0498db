/**
 * The SQLite read models keep the query planner's statistics: an exact `integrationId` or `profile` filter of
 * the session list is answered by its own index, not by walking the application's sessions in `created` order.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  openedReadModelDb,
  openReadModelDatabase,
  refreshPlannerStatistics,
  type ReadModelDatabase,
} from './database';
import { ReadModelQueries, type SessionListQuery } from './read-model-queries';

/** The plan SQLite picks for the session list's own query (`ReadModelQueries.sessionListQuery`). */
function planOf(
  sqlite: Database.Database,
  db: ReadModelDatabase['db'],
  filter: Partial<SessionListQuery>,
): string {
  const query = new ReadModelQueries(db)
    .sessionListQuery({ applicationId: 1, pageSize: 50, skip: 0, ...filter })
    .compile();
  return sqlite
    .prepare(`explain query plan ${query.sql}`)
    .all(...(query.parameters as unknown[]))
    .map((row) => (row as { detail: string }).detail)
    .join(' | ');
}

/** `count` sessions spread over three applications and 500 profiles, written straight into the table. */
function addSessions(sqlite: Database.Database, count: number): void {
  sqlite
    .prepare(
      `with recursive n(i) as (select 1 union all select i + 1 from n where i < ?)
       insert into sessions (stream_id, id, application_id, integration_id, integration_id_lc, profile_id,
         profile_id_lc, referral_code, referral_code_lc, state, created, updated, total, total_key, revision,
         state_json, session_json)
       select 'session-' || (i % 3 + 1) || '-s' || i, i, i % 3 + 1, 's' || i, 's' || i, 'p' || (i % 500),
         'p' || (i % 500), '', '', 'open', printf('2026-01-01T%09d', i), '', '0', '0', 0, '{}', '{}' from n`,
    )
    .run(count);
  sqlite.exec(
    `insert into session_coupons (stream_id, application_id, code, code_lc)
     select stream_id, application_id, 'C-' || (id % 5000), 'c-' || (id % 5000) from sessions`,
  );
}

describe('query planner statistics of the SQLite read models', () => {
  // The session list's coupon filter is a set of sessions (`stream_id in (…)`), so the planner can start from
  // the code's index: as a correlated EXISTS it could only test every session of the application.
  let dataDir: string;
  let opened: ReadModelDatabase | undefined;
  const sqliteOf = (database: ReadModelDatabase) => openedReadModelDb(database.db)!.sqlite!;

  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'read-model-statistics-'));
  });
  afterEach(async () => {
    await opened?.close();
    opened = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('given sessions written before any analysis, when the database is opened, then exact filters use their index', async () => {
    const first = await openReadModelDatabase({ dataDir });
    addSessions(sqliteOf(first), 30_000);
    // What the planner does without statistics: the `created` index, walking the whole application.
    const unanalyzed = new Database(join(dataDir, 'read-models.sqlite'));
    unanalyzed.exec('drop table if exists sqlite_stat1');
    expect(planOf(unanalyzed, first.db, { integrationId: 'x' })).toContain('sessions_app_created_idx');
    unanalyzed.close();
    await first.close();

    opened = await openReadModelDatabase({ dataDir });
    const sqlite = sqliteOf(opened);
    expect(planOf(sqlite, opened!.db, { integrationId: 'x' })).toContain(
      'sessions_app_integration_id_idx (application_id=? AND integration_id=?)',
    );
    expect(planOf(sqlite, opened!.db, { profile: 'x' })).toContain(
      'sessions_app_profile_id_idx (application_id=? AND profile_id=?)',
    );
    // A coupon code held by a few sessions: those sessions, found by the code's index, not every session.
    expect(planOf(sqlite, opened!.db, { coupon: 'C-3' })).toContain(
      'session_coupons_code_idx (application_id=? AND code=?)',
    );
  });

  it('given a connection opened on empty tables, when they grow and the statistics are refreshed, then its own plans change', async () => {
    opened = await openReadModelDatabase({ dataDir });
    const sqlite = sqliteOf(opened);
    addSessions(sqlite, 30_000);
    expect(planOf(sqlite, opened!.db, { integrationId: 'x' })).toContain('sessions_app_created_idx');

    refreshPlannerStatistics(sqlite);

    expect(planOf(sqlite, opened!.db, { integrationId: 'x' })).toContain('sessions_app_integration_id_idx');
  });

  it('given another connection holding the write lock, when the statistics are refreshed, then it gives up at once and keeps its busy timeout', async () => {
    opened = await openReadModelDatabase({ dataDir });
    const sqlite = sqliteOf(opened);
    addSessions(sqlite, 30_000);
    const writer = new Database(join(dataDir, 'read-models.sqlite'));
    writer.exec('begin immediate');
    try {
      refreshPlannerStatistics(sqlite);
      expect(planOf(sqlite, opened!.db, { integrationId: 'x' })).toContain('sessions_app_created_idx');
      expect(sqlite.pragma('busy_timeout', { simple: true })).toBe(5000);
    } finally {
      writer.exec('rollback');
      writer.close();
    }
    refreshPlannerStatistics(sqlite);
    expect(planOf(sqlite, opened!.db, { integrationId: 'x' })).toContain('sessions_app_integration_id_idx');
  });
});
