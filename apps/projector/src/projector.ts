import {
  EsdbClientAdapter,
  type RecordedSessionEvent,
  SessionEventStore,
  type SessionEventSubscription,
} from '@session-engine/event-store';
import {
  openReadModelDatabase,
  type ProjectedEvent,
  type ReadModelDatabase,
  ReadModelWriter,
} from '@session-engine/read-models';
import pino, { type Logger } from 'pino';
import type { Registry } from 'prom-client';
import { projectorMetrics } from './projector-metrics';

export interface ProjectorOptions {
  /** Where the event store is; or give `client` to share an open adapter (left open on stop). */
  connectionString?: string;
  client?: EsdbClientAdapter;
  /** PostgreSQL when set, SQLite under `dataDir` otherwise. */
  databaseUrl?: string;
  dataDir: string;
  /** PostgreSQL schema (tests use one per run). */
  schema?: string;
  logger?: Logger;
  /** Largest batch per transaction (default 500 events). */
  batchSize?: number;
  /** Longest wait before a partial batch is committed (default 50 ms). */
  batchDelayMs?: number;
  /** Where the metrics go (default: prom-client's default registry). */
  registry?: Registry;
}

export interface RunningProjector {
  /** Commits the batch in hand, closes the subscription and the database. */
  stop(): Promise<void>;
  /** Commit position every projection has processed (0 before the first event). */
  position(): bigint;
  /** Resolves true once `position()` ≥ `target`, false after `timeoutMs`. */
  waitForPosition(target: bigint, timeoutMs: number): Promise<boolean>;
}

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;

function toProjected(recorded: RecordedSessionEvent): ProjectedEvent {
  if (recorded.position === undefined) throw new Error(`No commit position on ${recorded.streamName}`);
  return {
    streamId: recorded.streamName,
    revision: Number(recorded.revision),
    position: recorded.position,
    event: recorded.event,
    created: recorded.created,
  };
}

/**
 * Catch-up subscription on `$all` (server-side filter `session-`) → read models.
 * Events are gathered into batches (up to `batchSize`, or whatever arrived within `batchDelayMs`) and
 * each batch is committed in one transaction together with every projection's checkpoint. The
 * subscription always starts after the committed checkpoint, never from "end": when the event store
 * or the database fails, the uncommitted batch is dropped and the subscription restarts (with
 * back-off) from that checkpoint, so no event is skipped and none is counted twice.
 */
class Projector implements RunningProjector {
  private buffer: ProjectedEvent[] = [];
  private inFlight = 0;
  private committed = 0n;
  private lastCommittedCreated: number | undefined;
  private isCaughtUp = false;
  private stopping = false;
  private subscription: SessionEventSubscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private committing: Promise<void> = Promise.resolve();
  private flushError: unknown;
  private loop: Promise<void> = Promise.resolve();
  private wakeUp: (() => void) | undefined;
  private waiters = new Set<{ target: bigint; resolve: (ok: boolean) => void; timer: NodeJS.Timeout }>();
  private readonly metrics;
  private readonly batchSize: number;
  private readonly batchDelayMs: number;

  constructor(
    private readonly events: SessionEventStore,
    private readonly client: EsdbClientAdapter | undefined,
    private readonly database: ReadModelDatabase,
    private readonly writer: ReadModelWriter,
    private readonly logger: Logger,
    options: ProjectorOptions,
  ) {
    this.batchSize = options.batchSize ?? 500;
    this.batchDelayMs = options.batchDelayMs ?? 50;
    this.committed = writer.resumePosition() ?? 0n;
    this.metrics = projectorMetrics(
      {
        pendingEvents: () => this.buffer.length + this.inFlight,
        lagSince: () => this.lagSince(),
        caughtUp: () => this.isCaughtUp,
        position: () => this.committed,
      },
      options.registry,
    );
  }

  start(): void {
    this.loop = this.run();
  }

  position(): bigint {
    return this.committed;
  }

  waitForPosition(target: bigint, timeoutMs: number): Promise<boolean> {
    if (this.committed >= target) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = {
        target,
        resolve,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          resolve(false);
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  async stop(): Promise<void> {
    if (this.stopping) return this.loop;
    this.stopping = true;
    this.wakeUp?.();
    await this.subscription?.close().catch(() => undefined);
    await this.loop;
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve(this.committed >= waiter.target);
    }
    this.waiters.clear();
    await this.client?.close().catch(() => undefined);
    await this.database.close();
    this.logger.info({ position: this.committed.toString() }, 'projector stopped');
  }

  private lagSince(): number | undefined {
    const oldest = this.buffer[0]?.created;
    if (oldest !== undefined) return Date.parse(oldest);
    if (this.inFlight > 0 || !this.isCaughtUp) return this.lastCommittedCreated;
    return undefined;
  }

  private async run(): Promise<void> {
    let backoff = MIN_BACKOFF_MS;
    while (!this.stopping) {
      const from = this.writer.resumePosition();
      this.isCaughtUp = false;
      try {
        this.subscription = this.events.subscribeToSessionEvents({ fromPosition: from });
        this.subscription.onCaughtUp(() => {
          this.isCaughtUp = true;
        });
        this.logger.info({ fromPosition: from?.toString() ?? 'start' }, 'projector subscribed');
        for await (const recorded of this.subscription) {
          if (this.stopping) break;
          backoff = MIN_BACKOFF_MS;
          this.enqueue(toProjected(recorded));
          if (this.buffer.length >= this.batchSize) {
            // One batch commits while the next one fills: reading and writing overlap.
            await this.committing;
            this.committing = this.flush();
          }
          if (this.flushError) throw this.flushError;
        }
        await this.flush();
        if (this.flushError) throw this.flushError;
        if (!this.stopping) throw new Error('subscription ended');
      } catch (error) {
        await this.subscription?.close().catch(() => undefined);
        if (this.stopping) {
          // Stopping closes the subscription under us: whatever arrived before is committed.
          await this.flush();
          break;
        }
        // Drop what was not committed and start again after the committed checkpoint.
        await this.flushing;
        this.flushError = undefined;
        this.buffer = [];
        this.metrics.reconnects.inc();
        this.logger.warn({ err: error, retryInMs: backoff }, 'projector subscription failed; resubscribing');
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }
  }

  private enqueue(event: ProjectedEvent): void {
    this.buffer.push(event);
    if (this.timer === undefined) {
      this.timer = setTimeout(() => void this.flush(), this.batchDelayMs);
    }
  }

  /** Commits the buffered events; batches are committed one after the other, in log order. */
  private flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.buffer;
    this.buffer = [];
    if (batch.length === 0) return this.flushing;
    this.inFlight += batch.length;
    this.flushing = this.flushing.then(async () => {
      try {
        if (this.flushError) return; // a failed batch must not be followed by a later one
        const upTo = batch[batch.length - 1].position;
        await this.writer.apply(batch, upTo);
        this.committed = this.writer.resumePosition() ?? upTo;
        const created = batch[batch.length - 1].created;
        this.lastCommittedCreated = created === undefined ? undefined : Date.parse(created);
        this.metrics.events.inc(batch.length);
        this.metrics.batches.inc();
        this.notifyWaiters();
      } catch (error) {
        this.flushError = error;
        this.logger.error({ err: error }, 'projector batch failed');
        void this.subscription?.close().catch(() => undefined);
      } finally {
        this.inFlight -= batch.length;
      }
    });
    return this.flushing;
  }

  private notifyWaiters(): void {
    for (const waiter of this.waiters) {
      if (this.committed >= waiter.target) {
        clearTimeout(waiter.timer);
        this.waiters.delete(waiter);
        waiter.resolve(true);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** Starts the projector in this process (the API's `npm start` does; `main.ts` runs it alone). */
export async function startProjector(options: ProjectorOptions): Promise<RunningProjector> {
  const logger = options.logger ?? pino({ name: 'projector' });
  const database = await openReadModelDatabase({
    databaseUrl: options.databaseUrl,
    dataDir: options.dataDir,
    schema: options.schema,
  });
  const writer = await ReadModelWriter.open(database.db);
  let owned: EsdbClientAdapter | undefined;
  if (!options.client) {
    if (!options.connectionString) throw new Error('startProjector needs a connectionString or a client');
    owned = EsdbClientAdapter.connect(options.connectionString);
  }
  const events = new SessionEventStore(options.client ?? owned!);
  const projector = new Projector(events, owned, database, writer, logger, options);
  projector.start();
  return projector;
}
