import { Counter, Gauge, type Registry, register as defaultRegistry } from 'prom-client';

export interface LagSource {
  /** Events received from the subscription and not committed yet. */
  pendingEvents(): number;
  /** Server time of the oldest event received and not committed, or of the last one committed while catching up. */
  lagSince(): number | undefined;
  caughtUp(): boolean;
  position(): bigint;
  /** Holds the read-model lock (projects) rather than waiting on standby. */
  leader(): boolean;
}

const NAMES = [
  'projector_lag_events',
  'projector_lag_seconds',
  'projector_caught_up',
  'projector_position',
  'projector_leader',
  'projector_events_total',
  'projector_batches_total',
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
    help: 'Session events received from the event store and not yet committed to the read models',
    registers,
    collect() {
      this.set(source.pendingEvents());
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
    help: '1 once the subscription has reached the live end of the log',
    registers,
    collect() {
      this.set(source.caughtUp() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'projector_position',
    help: 'Commit position every projection has processed',
    registers,
    collect() {
      this.set(Number(source.position()));
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
  return {
    events: new Counter({ name: 'projector_events_total', help: 'Session events projected', registers }),
    batches: new Counter({ name: 'projector_batches_total', help: 'Batches committed', registers }),
    reconnects: new Counter({
      name: 'projector_reconnects_total',
      help: 'Subscriptions restarted after the event store or the database failed',
      registers,
    }),
  };
}
