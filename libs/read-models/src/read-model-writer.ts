import { sql } from 'kysely';
import { isPostgres, openedReadModelDb, type ReadModelDb } from './database';
import { eventsWithoutNul } from './postgres-text';
import { isTombstone, type ProjectedItem } from './projected-event';
import { kyselyRowStore, postgresRowStore, type RowStore, sqliteRowStore } from './row-store';
import { customerProfilesWriter } from './writers/customer-profiles.writer';
import { dailyAnalyticsWriter, skuAnalyticsWriter } from './writers/flow.writer';
import { sessionsWriter } from './writers/sessions.writer';
import {
  applyItems,
  PROJECTION_NAMES,
  type ProjectionName,
  type ProjectionWriter,
} from './writers/projection-writer';

/**
 * A checkpoint was not where this writer read it: another writer committed meanwhile. The batch rolled
 * back; the writer has re-read the checkpoints, so resubscribing from `resumePosition()` is safe.
 */
export class CheckpointConflictError extends Error {
  override readonly name = 'CheckpointConflictError';
}

export const PROJECTION_WRITERS: readonly ProjectionWriter[] = [
  sessionsWriter,
  customerProfilesWriter,
  dailyAnalyticsWriter,
  skuAnalyticsWriter,
];

export type Checkpoints = Map<ProjectionName, bigint | undefined>;

export async function readCheckpoints(db: ReadModelDb): Promise<Checkpoints> {
  const rows = await db.selectFrom('projection_checkpoints').selectAll().execute();
  const stored = new Map(rows.map((r) => [r.projection, BigInt(r.position)]));
  return new Map(PROJECTION_NAMES.map((name) => [name, stored.get(name)]));
}

/** The position every projection has processed (`undefined`: one of them has processed nothing). */
export function lowestCheckpoint(checkpoints: Checkpoints): bigint | undefined {
  let lowest: bigint | undefined;
  for (const position of checkpoints.values()) {
    if (position === undefined) return undefined;
    if (lowest === undefined || position < lowest) lowest = position;
  }
  return lowest;
}

/** The fastest way to the rows of a database `openReadModelDatabase` opened; Kysely's builder otherwise. */
function rowStoreFor(db: ReadModelDb): (trx: ReadModelDb) => RowStore {
  const opened = openedReadModelDb(db);
  if (opened?.sqlite) {
    const store = sqliteRowStore(opened.sqlite);
    return () => store;
  }
  if (opened?.dialect === 'postgres') return postgresRowStore;
  return kyselyRowStore;
}

/**
 * Writes batches of events into every projection. One transaction per batch holds, for each
 * projection, its rows and its checkpoint: a crash loses the whole batch or nothing, and the
 * subscription resumes after the lowest checkpoint. A projection skips what its own checkpoint
 * already covers (projections may be rebuilt separately), and the per-stream revision guard makes
 * any event delivered twice a no-op.
 */
export class ReadModelWriter {
  private constructor(
    private readonly db: ReadModelDb,
    private checkpoints: Checkpoints,
    private readonly writers: readonly ProjectionWriter[],
    private readonly rowStore: (trx: ReadModelDb) => RowStore,
    /** PostgreSQL: the events with U+0000 read as U+FFFD (postgres-text.ts). */
    private readonly readEvents: (events: readonly ProjectedItem[]) => readonly ProjectedItem[],
  ) {}

  static async open(db: ReadModelDb, writers = PROJECTION_WRITERS): Promise<ReadModelWriter> {
    const readEvents = isPostgres(db)
      ? (events: readonly ProjectedItem[]) => eventsWithoutNul(events)
      : (events: readonly ProjectedItem[]) => events;
    return new ReadModelWriter(db, await readCheckpoints(db), writers, rowStoreFor(db), readEvents);
  }

  /** Reads the stored checkpoints again (a projector that just became the leader, or after a conflict). */
  async reload(): Promise<void> {
    this.checkpoints = await readCheckpoints(this.db);
  }

  /** Where the subscription resumes (exclusive); `undefined` = from the start of the log. */
  resumePosition(): bigint | undefined {
    return lowestCheckpoint(new Map([...this.checkpoints].filter(([name]) => this.isWritten(name))));
  }

  private isWritten(name: ProjectionName): boolean {
    return this.writers.some((w) => w.name === name);
  }

  /**
   * Applies events and session streams' tombstones (in log order: `applyItems`) and moves each checkpoint
   * to `upTo` — the position of the last one, or further when the server reported that nothing else matched
   * up to there. `fence` (the projector's lock check) runs inside the transaction first — on SQLite its write
   * takes the file's write lock before the batch reads anything, so the transaction waits for another writer
   * instead of failing busy — and again as its last statement, right before the commit: a batch whose
   * statements waited on a hung database while the lock was lost does not commit when the database answers
   * again. The checkpoints move by compare-and-set:
   * if one is no longer where this writer read it, the whole batch rolls back with
   * `CheckpointConflictError` — a checkpoint never moves backwards and no batch is applied twice.
   */
  async apply(
    batch: readonly ProjectedItem[],
    upTo: bigint,
    fence?: (trx: ReadModelDb) => Promise<void>,
  ): Promise<void> {
    const pending = this.writers.filter((w) => (this.checkpoints.get(w.name) ?? -1n) < upTo);
    if (pending.length === 0) return;
    const events = this.readEvents(batch);
    // A failure SQLite ended the transaction on (a full disk, in a statement or at COMMIT) comes through as it
    // is: the dialect's rollback does nothing then (`SqliteDialectKeepingFailures`, database.ts).
    try {
      await this.db.transaction().execute(async (trx) => {
        if (fence) await fence(trx);
        const store = this.rowStore(trx);
        for (const writer of pending) {
          const from = this.checkpoints.get(writer.name);
          const unseen = from === undefined ? events : events.filter((e) => e.position > from);
          if (unseen.length > 0) await applyItems(writer, store, unseen);
        }
        await this.moveCheckpoints(trx, pending, upTo);
        if (fence) await fence(trx);
      });
    } catch (error) {
      if (error instanceof CheckpointConflictError) await this.reload().catch(() => undefined);
      throw error;
    }
    for (const writer of pending) this.checkpoints.set(writer.name, upTo);
    if (!isPostgres(this.db) && batch.some(isTombstone)) await this.emptyWal();
  }

  /**
   * After a batch that erased sessions, on SQLite: the WAL checkpointed into the file (where `secure_delete`
   * has zeroed what was erased) and truncated, so that no frame of it keeps an erased row — it is otherwise
   * checkpointed every ~40 MiB and keeps old frames past its write point until they are overwritten. It waits
   * for readers on an older snapshot (busy_timeout); one still there leaves it to the next checkpoint.
   */
  private async emptyWal(): Promise<void> {
    await sql`pragma wal_checkpoint(TRUNCATE)`.execute(this.db);
  }

  private async moveCheckpoints(trx: ReadModelDb, pending: readonly ProjectionWriter[], upTo: bigint) {
    const byFrom = new Map<string | undefined, ProjectionName[]>();
    for (const { name } of pending) {
      const from = this.checkpoints.get(name)?.toString();
      byFrom.set(from, [...(byFrom.get(from) ?? []), name]);
    }
    const position = upTo.toString();
    for (const [from, names] of byFrom) {
      let moved: bigint;
      if (from === undefined) {
        const result = await trx
          .insertInto('projection_checkpoints')
          .values(names.map((projection) => ({ projection, position })))
          .onConflict((oc) => oc.column('projection').doNothing())
          .executeTakeFirst();
        moved = result.numInsertedOrUpdatedRows ?? 0n;
      } else {
        const result = await trx
          .updateTable('projection_checkpoints')
          .set({ position })
          .where('projection', 'in', names)
          .where('position', '=', from)
          .executeTakeFirst();
        moved = result.numUpdatedRows;
      }
      if (Number(moved) !== names.length) {
        throw new CheckpointConflictError(
          `Checkpoints of ${names.join(', ')} moved from ${from ?? 'nothing'} under this writer`,
        );
      }
    }
  }
}
