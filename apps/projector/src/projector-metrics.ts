import { Counter, Gauge, type Registry, register as defaultRegistry } from 'prom-client';
import { BATCH_FAILURE_KINDS } from './batch-failures';
import { isCaughtUp, lagSeconds, lastCommitAgeMs, type ProjectorReport } from './projector-report';

/**
 * The projector's report when a scrape asks (see projector-report.ts); undefined while there is no
 * projector to ask (the API between two worker threads): the gauges read 0.
 */
export type ReportSource = () => ProjectorReport | undefined | Promise<ProjectorReport | undefined>;

/** The gauges, derived from a report when scraped: the same definitions wherever the report comes from. */
export const PROJECTOR_GAUGES = [
  'projector_lag_events',
  'projector_reading_paused',
  'projector_lag_seconds',
  'projector_caught_up',
  'projector_position',
  'projector_head_position',
  'projector_last_commit_age_seconds',
  'projector_leader',
] as const;

const COUNTERS = [
  'projector_events_total',
  'projector_batches_total',
  'projector_batch_failures_total',
  'projector_reconnects_total',
] as const;

const GAUGES: Record<
  (typeof PROJECTOR_GAUGES)[number],
  { help: string; value: (report: ProjectorReport, now: number) => number }
> = {
  projector_lag_events: {
    help: 'Session events the projector has read past its committed checkpoint and not yet committed. It reads at most about two batches ahead (the one being committed and the next: about 2 x its batch size), so while it catches up, and while projector_reading_paused is 1, more may wait in the event store than this counts (a backlog is measured by projector_lag_seconds). 0 on standby',
    value: (report) => report.lagEvents,
  },
  projector_reading_paused: {
    help: '1 while the projector has stopped reading the event store until a commit ends: the events it read ahead wait for the batch being committed (a slow or blocked commit), or a failed batch waits to be retried. Events written meanwhile are not in projector_lag_events. 0 while it reads, and on standby',
    value: (report) => (report.readingPaused ? 1 : 0),
  },
  projector_lag_seconds: {
    help: 'Age of the oldest session event waiting to be committed to the read models: the oldest one read and not committed, or while catching up (events wait unread) the last one committed, as the next is no older. 0 when nothing is known to wait: caught up, on standby, and while the event store cannot be reached after the projector had caught up (nothing can be written then; an outage of the store is alerted by the store and /health/ready, not as lag)',
    value: (report, now) => lagSeconds(report, now),
  },
  projector_caught_up: {
    help: '1 when the subscription reached the live end and what it delivered is committed; 0 while a batch fails, while events wait with nothing committed for the stall window (PROJECTOR_STALL_AFTER_MS, default 60 s), while the projector has not reported for that long, and on standby (it projects nothing: alert on the leader)',
    value: (report, now) => (isCaughtUp(report, now) ? 1 : 0),
  },
  projector_position: {
    help: 'Commit position every projection has processed (the committed checkpoint; on standby as read from the database at its last lock poll)',
    value: (report) => Number(report.position),
  },
  projector_head_position: {
    help: 'Highest commit position the subscription has delivered (on standby: projector_position)',
    value: (report) => Number(report.head),
  },
  projector_last_commit_age_seconds: {
    help: 'Seconds since the last batch committed (or since this projector took the lock); 0 on standby',
    value: (report, now) => (lastCommitAgeMs(report, now) ?? 0) / 1000,
  },
  projector_leader: {
    help: '1 while this projector holds the read-model lock and projects, 0 on standby',
    value: (report) => (report.leader ? 1 : 0),
  },
};

/**
 * The projector's gauges in `registry`, each computed when scraped from what `source` reports — ages from
 * its timestamps at that moment. The API registers them for its projector thread (projector-thread.ts), whose
 * reports may be old; a new set in the same registry replaces the old one.
 */
export function projectorGauges(source: ReportSource, registry: Registry): void {
  for (const name of PROJECTOR_GAUGES) {
    registry.removeSingleMetric(name);
    const { help, value } = GAUGES[name];
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const report = await source();
        this.set(report === undefined ? 0 : value(report, Date.now()));
      },
    });
  }
}

/**
 * Prometheus metrics of one projector. They go to the default registry, so an API running the projector
 * in its process shows them on its own /metrics; a new projector in the same process replaces them.
 */
export function projectorMetrics(source: ReportSource, registry: Registry = defaultRegistry) {
  projectorGauges(source, registry);
  for (const name of COUNTERS) registry.removeSingleMetric(name);
  const registers = [registry];
  const batchFailures = new Counter({
    name: 'projector_batch_failures_total',
    help: 'Batches that failed to commit, by kind (rejected, unavailable, conflict, lock_lost, unreadable: an event this version cannot read, other)',
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
