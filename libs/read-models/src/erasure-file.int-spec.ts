/**
 * What an erasure leaves in the SQLite read models' file: nothing of the erased session. The projector's deletes
 * (and every update before them, which rewrote the session's row) overwrite the old content with zeros
 * (`secure_delete`), so once the WAL is checkpointed the file holds no byte of the session's customer data —
 * without stopping the engine for a `VACUUM` — and the batch that erases checkpoints the WAL and empties it.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { openReadModelDatabase, type ReadModelDatabase } from './database';
import type { ProjectedItem } from './projected-event';
import { ReadModelWriter } from './read-model-writer';
import { inLogOrder, item, line, SessionHistory } from './testing/session-history';

const T1 = '2025-03-01T10:00:00.000Z';
const T2 = '2025-03-02T11:00:00.000Z';
/** In the erased session's id, profile id and coupon code: customer data. */
const MARKER = 'erasure-marker-5e1f';

let dataDir: string;
let rm: ReadModelDatabase | undefined;

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'rm-erasure-file-'));
});
afterEach(async () => {
  await rm?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const fileHolds = (text: string, file = 'read-models.sqlite') =>
  existsSync(join(dataDir, file)) && readFileSync(join(dataDir, file)).includes(text);
const last = (items: readonly ProjectedItem[]) => items[items.length - 1]!.position;

it('leaves no byte of an erased session in the file once the WAL is checkpointed; the other sessions stay', async () => {
  rm = await openReadModelDatabase({ dataDir });
  const erased = new SessionHistory(1, `${MARKER}-session`, 301)
    .created(T1, {
      profileId: `${MARKER}-profile`,
      couponCodes: [`${MARKER}-COUPON`],
      cartItems: [item('SHIRT', 2, '10')],
    })
    .closed(T2, `${MARKER}-profile`, '20', [line(0, 'SHIRT', 2, '20')]);
  const kept = new SessionHistory(1, 'kept-session', 302)
    .created(T1, {
      profileId: 'kept-profile',
      couponCodes: ['KEPT-COUPON'],
      cartItems: [item('HAT', 1, '9')],
    })
    .closed(T2, 'kept-profile', '9', [line(0, 'HAT', 1, '9')]);
  const writer = await ReadModelWriter.open(rm.db);
  const events = inLogOrder(erased, kept);
  await writer.apply(events, last(events));
  // The engine's planner statistics (its connections analyze with `analysis_limit`) keep no sample keys: SQLite
  // fills sqlite_stat4 only without that limit (an ANALYZE run by hand does, until the next one).
  await sql`analyze`.execute(rm.db);
  const samples = await sql<{ n: number }>`select count(*) as n from sqlite_stat4`.execute(rm.db);
  expect(samples.rows[0]!.n).toBe(0);
  await sql`pragma wal_checkpoint(TRUNCATE)`.execute(rm.db);
  // The test sees the data where it is before the erasure.
  expect(fileHolds(MARKER)).toBe(true);

  const tombstone = [erased.tombstone()];
  await writer.apply(tombstone, last(tombstone));
  await sql`pragma wal_checkpoint(TRUNCATE)`.execute(rm.db);

  expect(fileHolds(MARKER)).toBe(false);
  expect(fileHolds('kept-profile')).toBe(true);
  const sessions = await rm.db.selectFrom('sessions').select('integration_id').execute();
  expect(sessions.map((row) => row.integration_id)).toEqual(['kept-session']);
});

it('checkpoints and empties the WAL after the batch that erases: neither file holds the session then', async () => {
  rm = await openReadModelDatabase({ dataDir });
  const erased = new SessionHistory(1, `${MARKER}-walled`, 303).created(T1, {
    profileId: `${MARKER}-profile`,
  });
  const kept = new SessionHistory(1, 'kept-walled', 304).created(T1, { profileId: 'kept-profile' });
  const writer = await ReadModelWriter.open(rm.db);
  const events = inLogOrder(erased, kept);
  await writer.apply(events, last(events));
  // Written, not yet checkpointed (every ~40 MiB): the session is in the WAL's frames.
  expect(fileHolds(MARKER, 'read-models.sqlite-wal')).toBe(true);

  const tombstone = [erased.tombstone()];
  await writer.apply(tombstone, last(tombstone));
  expect(fileHolds(MARKER, 'read-models.sqlite-wal')).toBe(false);
  expect(fileHolds(MARKER)).toBe(false);
  expect(fileHolds('kept-profile')).toBe(true);
});
