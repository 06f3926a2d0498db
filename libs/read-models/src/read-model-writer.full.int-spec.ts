/**
 * A read-model database that runs out of room: in a statement (here: the SQLite file at `max_page_count`, which
 * fails writes with SQLITE_FULL as a full disk does), or at COMMIT, when the WAL is written (here: a child process
 * whose files may not grow past a limit). SQLite rolls such a transaction back itself, and the ROLLBACK after it
 * failed with "cannot rollback - no transaction is active": that error, not the one that ended the transaction,
 * reached the projector, which classified it `other` and went looking for a bad event. The writer now throws
 * what ended the transaction, and nothing of the batch is kept.
 */
import { sql } from 'kysely';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { classifyBatchError } from '../../../apps/projector/src/batch-failures';
import { ReadModelWriter } from './read-model-writer';
import { item, SessionHistory } from './testing/session-history';
import { sqliteTestDatabase } from './testing/test-databases';

const AT = '2025-03-01T10:00:00.000Z';

it('throws SQLITE_FULL, not the failed ROLLBACK after it, and keeps nothing of the batch', async () => {
  const database = sqliteTestDatabase();
  const rm = await database.open();
  try {
    const writer = await ReadModelWriter.open(rm.db);
    const first = new SessionHistory(1, 'first', 1).created(AT, { cartItems: [item('A', 1, '1')] });
    await writer.apply(first.events, first.events.at(-1)!.position);
    const { page_count: pages } = (await sql<{ page_count: number }>`pragma page_count`.execute(rm.db))
      .rows[0]!;
    await sql.raw(`pragma max_page_count = ${pages}`).execute(rm.db);

    const large = new SessionHistory(1, 'large', 2).created(AT, {
      attributes: { note: 'x'.repeat(200_000) },
      cartItems: [item('B', 1, '1')],
    });
    const failure = await writer
      .apply(large.events, large.events.at(-1)!.position)
      .catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'SQLITE_FULL' });
    expect(classifyBatchError(failure)).toBe('unavailable');
    expect(writer.resumePosition()).toBe(first.events.at(-1)!.position);
    const rows = await rm.db.selectFrom('sessions').select('integration_id').execute();
    expect(rows.map((row) => row.integration_id)).toEqual(['first']);
  } finally {
    await rm.close();
    await database.drop();
  }
});

it('throws the failed write of the COMMIT, not the failed ROLLBACK after it, and keeps nothing of the batch', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rm-commit-limit-'));
  try {
    // 4 MiB: room for the schema and a small batch, not for the 3 MB attribute the second batch commits.
    const child = spawnSync(
      'bash',
      [
        '-c',
        `ulimit -f 4096; trap '' XFSZ; exec "${process.execPath}" -r ./tools/register.js ` +
          'libs/read-models/src/testing/commit-past-file-size-limit.ts "$0"',
        dataDir,
      ],
      { cwd: resolve(__dirname, '../../..'), encoding: 'utf8', timeout: 60_000 },
    );
    expect(child.stderr).toBe('');
    const outcome = JSON.parse(child.stdout) as Record<string, unknown>;
    expect(outcome.message).not.toMatch(/cannot rollback/);
    expect(outcome.code).toMatch(/^SQLITE_(FULL|IOERR)/);
    expect(outcome.kind).toBe('unavailable');
    expect(outcome.resumePosition).toBe(outcome.firstPosition);
    expect(outcome.rows).toEqual(['first']);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
