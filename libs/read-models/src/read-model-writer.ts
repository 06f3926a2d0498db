import type { ReadModelDb } from './database';
import type { ProjectedEvent } from './projected-event';
import { customerProfilesWriter } from './writers/customer-profiles.writer';
import { dailyAnalyticsWriter, skuAnalyticsWriter } from './writers/flow.writer';
import { sessionsWriter } from './writers/sessions.writer';
import { PROJECTION_NAMES, type ProjectionName, type ProjectionWriter } from './writers/projection-writer';
import { upsert } from './sql-helpers';

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
    private readonly checkpoints: Checkpoints,
    private readonly writers: readonly ProjectionWriter[],
  ) {}

  static async open(db: ReadModelDb, writers = PROJECTION_WRITERS): Promise<ReadModelWriter> {
    return new ReadModelWriter(db, await readCheckpoints(db), writers);
  }

  /** Where the subscription resumes (exclusive); `undefined` = from the start of the log. */
  resumePosition(): bigint | undefined {
    return lowestCheckpoint(new Map([...this.checkpoints].filter(([name]) => this.isWritten(name))));
  }

  private isWritten(name: ProjectionName): boolean {
    return this.writers.some((w) => w.name === name);
  }

  /**
   * Applies events (in log order) and moves each checkpoint to `upTo` — the position of the last
   * event, or further when the server reported that nothing else matched up to there.
   */
  async apply(events: readonly ProjectedEvent[], upTo: bigint): Promise<void> {
    const pending = this.writers.filter((w) => (this.checkpoints.get(w.name) ?? -1n) < upTo);
    if (pending.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (const writer of pending) {
        const from = this.checkpoints.get(writer.name);
        const unseen = from === undefined ? events : events.filter((e) => e.position > from);
        if (unseen.length > 0) await writer.apply(trx, unseen);
      }
      await upsert(
        trx,
        'projection_checkpoints',
        ['projection'],
        pending.map((w) => ({ projection: w.name, position: upTo.toString() })),
      );
    });
    for (const writer of pending) this.checkpoints.set(writer.name, upTo);
  }
}
