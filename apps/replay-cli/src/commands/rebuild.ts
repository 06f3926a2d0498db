import {
  PROJECTION_NAMES,
  readCheckpoints,
  ReadModelRebuild,
  RebuildBehindError,
  RebuildInProgressError,
  RebuildLockLostError,
  RebuildLockTimeoutError,
  type Checkpoints,
  type ProjectedItem,
  type ProjectionName,
  type ReadModelDatabase,
} from '@session-engine/read-models';
import { sql } from 'kysely';
import { CliError, InterruptedError } from '../cli-error';
import {
  eventStoreStopped,
  eventStoreStoppedLine,
  readModelConnectionLost,
  readModelConnectionLostLine,
} from '../connection-lost';
import { REBUILD_COPY_APPLICATION_NAME, type Connections } from '../connections';
import { checkInterrupted } from '../interrupt';
import { printJson, printTable, progressBar, type CliIo, type OutputOptions } from '../io';
import { unprocessable, UnreadableEventError } from '../session-events';
import { sessionEvents } from './log';
import { firstSessionEvent, neverProjectedError } from './verify';

const BATCH = 2000;
/** A catch-up round this small means the copy is close enough to swap under the lock. */
const CLOSE_ENOUGH = 1000;
const MAX_ROUNDS = 20;
const SWAP_ATTEMPTS = 10;
/** The bar moves every this many events (and at the end of each round). */
const PROGRESS_EVERY = 250;

/**
 * How many session events the live read models have projected: Σ (revision + 1) over the live sessions
 * rows — the progress bar's estimate of the events to rebuild from (0 if it cannot be read).
 */
async function projectedEventCount(live: ReadModelDatabase): Promise<number> {
  try {
    const row = await live.db
      .selectFrom('sessions')
      .select(sql<string | number>`coalesce(sum(revision + 1), 0)`.as('events'))
      .executeTakeFirst();
    return Number(row?.events ?? 0);
  } catch {
    return 0;
  }
}

/**
 * What the operator can act on (another rebuild running, a session holding a lock, the lock lost before the
 * copy was made): a message, no stack.
 */
function plainly(error: unknown): unknown {
  return error instanceof RebuildInProgressError ||
    error instanceof RebuildLockTimeoutError ||
    error instanceof RebuildLockLostError
    ? new CliError(error.message)
    : error;
}

/**
 * The rebuild lost its lock while it ran (the read-model database stopped answering its probes, or ended the
 * lock's connection): what it did, and what to do. A swap under way then either completed or changed nothing.
 */
function lockLost(error: RebuildLockLostError, swapping: boolean): CliError {
  const outcome = swapping
    ? 'It was swapping its copy in: the swap either completed (a copy of the whole log up to the live ' +
      'checkpoints) or changed nothing — `replay verify` tells, once the database answers.'
    : 'It stopped before its swap: the live read models are as they were.';
  return new CliError(
    `${error.message}. ${outcome} Its copy is left for the next rebuild to drop (another one may hold the lock ` +
      'now); run the rebuild again once the database answers.',
  );
}

/**
 * The event store stopped answering, or the read-model connection was lost (connection-lost.ts): one line
 * saying so, what became of the copy, and that running the rebuild again is safe (exit 2).
 */
function stoppedRebuild(
  connections: Connections,
  stopped: { store: boolean; error: unknown },
  inSwap: boolean,
  dropped: boolean,
): CliError {
  const what = stopped.store
    ? eventStoreStoppedLine(connections.config.connectionString, stopped.error)
    : readModelConnectionLostLine(connections.readModelsWhere(), stopped.error);
  const outcome = inSwap
    ? 'It was swapping its copy in: the swap either committed (a copy of the whole log up to the live ' +
      'checkpoints) or changed nothing — `replay verify` tells, once the database answers.'
    : 'It stopped before its swap: the live read models are as they were.';
  const copy = dropped
    ? 'Its copy was dropped and its lock released.'
    : 'Its copy is left for the next rebuild to drop (its lock is released, or freed as a dead holder’s is).';
  const again = stopped.store ? 'the event store answers' : 'the database answers';
  return new CliError(`${what} ${outcome} ${copy} Run the rebuild again once ${again} (that is safe).`);
}

function highest(checkpoints: Checkpoints): bigint | undefined {
  let max: bigint | undefined;
  for (const p of checkpoints.values()) if (p !== undefined && (max === undefined || p > max)) max = p;
  return max;
}

/** `--projection` values (repeatable, comma-separated); all projections when the flag is not given. */
export function parseProjections(names: string[] | undefined): ProjectionName[] {
  if (!names || names.length === 0) return [...PROJECTION_NAMES];
  const chosen = names
    .flatMap((n) => n.split(','))
    .map((n) => n.trim())
    .filter(Boolean);
  if (chosen.length === 0)
    throw new CliError(
      `--projection ${names.map((n) => JSON.stringify(n)).join(' ')} names no projection: give one or more of ` +
        `${PROJECTION_NAMES.join(', ')}, or leave --projection out to rebuild them all.`,
    );
  for (const name of chosen) {
    if (!(PROJECTION_NAMES as readonly string[]).includes(name)) {
      throw new CliError(`Unknown projection "${name}" (one of ${PROJECTION_NAMES.join(', ')}).`);
    }
  }
  return [...new Set(chosen)] as ProjectionName[];
}

/**
 * Builds a fresh copy of the read models from the log beside the live ones (which keep serving queries
 * and keep being fed by the projector), follows the live checkpoints in rounds, then catches up and
 * swaps in one transaction. See libs/read-models/src/rebuild.ts for the swap itself. Read models never
 * projected are refused (exit 2) before anything is opened for writing — a rebuild creates no schema and no
 * table that is not there. SIGINT / SIGTERM before the swap stop it at its next step: the copy is dropped
 * and the lock released, then it exits 130 / 143. A rebuild that loses its lock (PostgreSQL: the database left
 * a probe of the lock's connection unanswered for 10 s, or ended that connection) stops at once and exits 2
 * (a swap under way completes or changes nothing): another rebuild may hold the lock by then, so it leaves its
 * copy for the next one to drop.
 */
export async function rebuildCommand(
  io: CliIo,
  connections: Connections,
  options: OutputOptions & { projection?: string[] },
): Promise<number> {
  const projections = parseProjections(options.projection);
  if (!io.interruption) return rebuildReadModels(io, connections, options, projections, undefined);
  return io.interruption.guard((signal) => rebuildReadModels(io, connections, options, projections, signal));
}

async function rebuildReadModels(
  io: CliIo,
  connections: Connections,
  options: OutputOptions,
  projections: ProjectionName[],
  signal: AbortSignal | undefined,
): Promise<number> {
  const { client } = await connections.eventStore();
  // As verify: read models without tables, or a chosen projection without a checkpoint while the log holds
  // session events, were never projected — checked read-only, so nothing is migrated or created.
  const existing = await connections.readModelsReadOnly();
  if (!existing.schema) throw neverProjectedError(existing.where, 'no read-model tables', 'rebuild');
  const present = await readCheckpoints(existing.db);
  const missing = projections.filter((name) => present.get(name) === undefined);
  if (missing.length > 0 && (await firstSessionEvent(client)) !== undefined)
    throw neverProjectedError(existing.where, `no checkpoint for ${missing.join(', ')}`, 'rebuild');
  await connections.closeReadOnly();
  checkInterrupted(signal);

  const live = await connections.readModels();
  const started = Date.now();
  const rebuild = await ReadModelRebuild.prepare({
    live,
    projections,
    databaseUrl: connections.config.databaseUrl,
    applicationName: REBUILD_COPY_APPLICATION_NAME,
  }).catch((error: unknown) => {
    if (readModelConnectionLost(error))
      throw new CliError(
        `${readModelConnectionLostLine(connections.readModelsWhere(), error)} The rebuild stopped while making ` +
          'its copy: the live read models are as they were, what it made of its copy is dropped by the next ' +
          'rebuild, and its lock is released. Run the rebuild again once the database answers (that is safe).',
      );
    throw plainly(error);
  });
  let events = 0;
  let rounds = 0;
  /** A swap transaction is under way (its outcome is unknown if the lock is lost meanwhile). */
  let swapping = false;
  /** The lock was lost and the command has answered: a build still waiting on the database only stops. */
  let abandoned = false;
  /** The read-model connection was lost while the swap's transaction ran (it committed or changed nothing). */
  let lostInSwap = false;
  /** The swap committed: the rebuilt read models are live. */
  let swapped = false;
  const step = () => {
    checkInterrupted(signal);
    rebuild.checkLock();
  };
  // The bar counts events, as the summary does. How many the log holds up to the live checkpoints is known
  // only once read: the live sessions table's revisions give the estimate, and the bar grows if it is short.
  const bar = progressBar(io, options, 'rebuild', await projectedEventCount(live), 'events');
  const build = async (): Promise<number> => {
    for (; rounds < MAX_ROUNDS; rounds++) {
      step();
      const limits = await rebuild.liveCheckpoints();
      const upTo = highest(limits);
      if (upTo === undefined) break;
      const after = rebuild.lowestPosition();
      if (after !== undefined && after >= upTo) break;
      let batch: ProjectedItem[] = [];
      let inRound = 0;
      const apply = async (to: bigint) => {
        try {
          await rebuild.apply(batch, to, limits);
        } catch (error) {
          // A connection cut is no fault of the events: the command says so (connection-lost.ts).
          if (error instanceof RebuildLockLostError || readModelConnectionLost(error)) throw error;
          throw await unprocessable(client, batch, error, 'writing');
        }
        batch = [];
      };
      for await (const event of sessionEvents(client, { after, upTo })) {
        step();
        batch.push(event);
        inRound++;
        if (inRound % PROGRESS_EVERY === 0) bar.update(events + inRound);
        if (batch.length >= BATCH) await apply(event.position);
      }
      await apply(upTo);
      events += inRound;
      bar.update(events);
      if (inRound < CLOSE_ENOUGH) break;
    }

    // The swap catches up under the lock from events read just before it (never reading the log while
    // holding the lock); if the projector got further meanwhile, read on and try again.
    let swap;
    for (let attempt = 1; ; attempt++) {
      step();
      const after = rebuild.lowestPosition();
      const tail: ProjectedItem[] = [];
      // An event this CLI cannot read ends the tail: a projector of this version stops there too, so the
      // live checkpoints are not beyond it — unless a newer projector read it (then the swap finds itself
      // behind, and that event is the reason).
      let unreadable: UnreadableEventError | undefined;
      try {
        for await (const event of sessionEvents(client, { after })) tail.push(event);
      } catch (error) {
        if (!(error instanceof UnreadableEventError)) throw error;
        unreadable = error;
      }
      const readUpTo = tail.length > 0 ? tail[tail.length - 1].position : after;
      step();
      try {
        swapping = true;
        swap = await rebuild.swap(tail, readUpTo);
        swapped = true;
        break;
      } catch (error) {
        if (error instanceof RebuildLockLostError) throw error;
        if (readModelConnectionLost(error)) {
          lostInSwap = true;
          throw error;
        }
        if (error instanceof RebuildBehindError && unreadable) throw unreadable;
        // Behind the projector, a lock timeout or a deadlock with a projector batch: rolled back, try again.
        if (attempt >= SWAP_ATTEMPTS) {
          const known = plainly(error);
          throw known instanceof CliError ? known : await unprocessable(client, tail, error, 'writing');
        }
        if (!(error instanceof RebuildBehindError))
          bar.note(`swap attempt ${attempt} failed (${(error as Error).message}); retrying\n`);
      } finally {
        swapping = false;
      }
    }
    if (abandoned) return 0;
    events += swap.caughtUpEvents;
    bar.update(events, events);
    bar.stop();
    if (signal?.aborted)
      io.stderr.write(
        `session-replay: ${(signal.reason as InterruptedError).signal} came during the swap, which completed: ` +
          'the rebuilt read models are live.\n',
      );
    const result = {
      projections,
      events,
      rounds: rounds + 1,
      caughtUpUnderLock: swap.caughtUpEvents,
      checkpoints: Object.fromEntries(
        [...swap.checkpoints].map(([n, p]) => [n, p === undefined ? null : p.toString()]),
      ),
      durationMs: Date.now() - started,
    };
    if (options.json) printJson(io, result);
    else {
      printTable(
        io,
        ['projection', 'checkpoint after swap'],
        projections.map((name) => [name, result.checkpoints[name] ?? 'none (nothing projected yet)']),
      );
      io.stdout.write(
        `Rebuilt from ${events} event(s) in ${result.durationMs} ms; ${swap.caughtUpEvents} caught up under the swap's lock.\n`,
      );
    }
    return 0;
  };
  let interrupted: InterruptedError | undefined;
  /** The event store stopped answering, or the read-model connection was lost: the rebuild stops (exit 2). */
  let stopped: { store: boolean; error: unknown } | undefined;
  /** Whether `close()` dropped the copy (after a stop: it may fail as well, the database being gone). */
  let dropped = false;
  try {
    // The rebuild's statements have no deadline (a batch or the swap may rightly take long), its lock has one:
    // once its probe goes unanswered, the command answers rather than waiting on a database that may never
    // answer again, and the build still waiting stops there (whatever it sends then is fenced off).
    const building = build();
    building.catch(() => undefined);
    return await Promise.race([building, rebuild.lockLost]);
  } catch (error) {
    if (error instanceof RebuildLockLostError) {
      abandoned = true;
      throw lockLost(error, swapping);
    }
    if (readModelConnectionLost(error)) stopped = { store: false, error };
    else if (eventStoreStopped(error)) stopped = { store: true, error };
    else if (error instanceof InterruptedError) interrupted = error;
    else throw error;
  } finally {
    bar.stop();
    if (stopped) {
      // The pool opens a new connection for the drop: a database that answers again gets its copy dropped.
      dropped = await rebuild.close().then(
        () => !rebuild.isLockLost(),
        () => false,
      );
    } else {
      await rebuild.close().catch((error: unknown) => {
        // The swap committed, and dropping the retired tables failed on a connection cut: say what is live.
        if (swapped && readModelConnectionLost(error))
          throw new CliError(
            `${readModelConnectionLostLine(connections.readModelsWhere(), error)} The rebuild had swapped its ` +
              'copy in — the rebuilt read models are live —; the tables they replaced are left in the ' +
              '`…_retired` schema, which the next rebuild drops.',
          );
        throw plainly(error);
      });
    }
  }
  if (stopped) throw stoppedRebuild(connections, stopped, lostInSwap, dropped);
  // Only once the copy is dropped (or, the lock lost meanwhile, left to the next rebuild) and the lock released.
  throw new InterruptedError(
    interrupted!.signal,
    rebuild.isLockLost()
      ? 'the rebuild stopped before its swap and lost its lock meanwhile, so its copy is left for the next ' +
          'rebuild to drop — the live read models are as they were'
      : 'the rebuild stopped before its swap; its copy was dropped and its lock released — the live read ' +
          'models are as they were',
  );
}
