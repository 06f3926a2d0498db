import { Counter, Gauge, type Registry, register as defaultRegistry } from 'prom-client';
import { BATCH_FAILURE_KINDS } from './batch-failures';

export interface LagSource {
  /** Events the subscription delivered (up to the log's head as far as it has read) and not committed yet. */
  lagEvents(): number;
  /** Server time of the oldest event delivered and not committed, or of the last one committed while catching up. */
  lagSince(): number | undefined;
  /** The subscription reached the live end, everything it had delivered then is committed, and no batch is failing. */
  caughtUp(): boolean;
  /** Committed checkpoint. */
  position(): bigint;
  /** Highest position the subscription has delivered. */
  head(): bigint;
  /** Milliseconds since the last batch committed (or since this projector took the lock); undefined on standby. */
  lastCommitAgeMs(): number | undefined;
  /** Holds the read-model lock (projects) rather than waiting on standby. */
  leader(): boolean;
}

const NAMES = [
  'projector_lag_events',
  'projector_lag_seconds',
  'projector_caught_up',
  'projector_position',
  'projector_head_position',
  'projector_last_commit_age_seconds',
  'projector_leader',
  'projector_events_total',
  'projector_batches_total',
  'projector_batch_failures_total',
  'projector_reconnects_total',
] as const;

/**
 * Prometheus metrics of one projector. They go to the default registry, so an API running the projector
 * in its process shows them on its own /metrics; a new projector in the same process replaces them.
 */
export function projectorMetrics(source: LagSource, registry: Registry = defaultRegistry) {
  for (const name of NAMES) registry.removeSingleMetric(name);
  const registers = [registry];
  new Gauge({
    name: 'projector_lag_events',
    help: 'Session events the subscription delivered (the log head as far as read) and not yet committed to the read models',
    registers,
    collect() {
      this.set(source.lagEvents());
    },
  });
  new Gauge({
    name: 'projector_lag_seconds',
    help: 'Age of the oldest session event not yet committed to the read models (0 when caught up)',
    registers,
    collect() {
      const since = source.lagSince();
      this.set(since === undefined ? 0 : Math.max(0, (Date.now() - since) / 1000));
    },
  });
  new Gauge({
    name: 'projector_caught_up',
    help: '1 when the subscription reached the live end and what it delivered is committed; 0 while a batch fails',
    registers,
    collect() {
      this.set(source.caughtUp() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'projector_position',
    help: 'Commit position every projection has processed (the committed checkpoint)',
    registers,
    collect() {
      this.set(Number(source.position()));
    },
  });
  new Gauge({
    name: 'projector_head_position',
    help: 'Highest commit position the subscription has delivered',
    registers,
    collect() {
      this.set(Number(source.head()));
    },
  });
  new Gauge({
    name: 'projector_last_commit_age_seconds',
    help: 'Seconds since the last batch committed (or since this projector took the lock); 0 on standby',
    registers,
    collect() {
      this.set((source.lastCommitAgeMs() ?? 0) / 1000);
    },
  });
  new Gauge({
    name: 'projector_leader',
    help: '1 while this projector holds the read-model lock and projects, 0 on standby',
    registers,
    collect() {
      this.set(source.leader() ? 1 : 0);
    },
  });
  const batchFailures = new Counter({
    name: 'projector_batch_failures_total',
    help: 'Batches that failed to commit, by kind (rejected, unavailable, conflict, lock_lost, other)',
    labelNames: ['kind'],
    registers,
  });
  // Every kind from the start: a scrape shows 0 rather than nothing, and the API's mirror of a worker's
  // metrics learns the label from the first snapshot.
  for (const kind of BATCH_FAILURE_KINDS) batchFailures.inc({ kind }, 0);
  return {
    events: new Counter({ name: 'projector_events_total', help: 'Session events projected', registers }),
    batches: new Counter({ name: 'projector_batches_total', help: 'Batches committed', registers }),
    batchFailures,
    reconnects: new Counter({
      name: 'projector_reconnects_total',
      help: 'Subscriptions restarted after the event store or the database failed',
      registers,
    }),
  };
}
