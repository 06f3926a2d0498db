/**
 * Prometheus metrics of the API, on a registry of its own (several app instances can live in one process,
 * as in the tests). `commandObserver` feeds the event-store library's conflict/retry hooks into counters.
 */
import { Injectable } from '@nestjs/common';
import type { CommandObserver } from '@session-engine/event-store';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The outcomes of the commands whose response is recorded for their `Idempotency-Key` (not refusals or dry runs). */
const RECORDED_OUTCOMES = ['appended', 'replayed', 'unchanged'] as const;

@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    // Up to the longest waits an answer can have: a `minPosition` query's 5 s, a store call's 10 s deadline.
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly commandDuration = new Histogram({
    name: 'session_command_duration_seconds',
    help: 'Session command latency by command and outcome',
    labelNames: ['command', 'outcome'] as const,
    // Up to a store call's 10 s deadline (EVENTSTORE_CALL_TIMEOUT_MS) and past it.
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly conflicts = new Counter({
    name: 'session_command_conflicts_total',
    help: 'Appends that found the stream at another revision than expected',
    registers: [this.registry],
  });
  private readonly retries = new Counter({
    name: 'session_command_retries_total',
    help: 'Commands re-read and re-decided after a conflict',
    registers: [this.registry],
  });
  private readonly retriesExhausted = new Counter({
    name: 'session_command_retries_exhausted_total',
    help: 'Commands refused with CONCURRENT_UPDATE after the last retry',
    registers: [this.registry],
  });
  private readonly recordWriteFailures = new Counter({
    name: 'idempotency_record_write_failures_total',
    help: 'Idempotency records the event store failed to write, by the outcome of their command (appended and replayed: answered all the same; unchanged: answered 503)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  private readonly malformed = new Counter({
    name: 'http_malformed_requests_total',
    help: 'Requests the HTTP parser refused before the application saw them (no request line, not in http_request_duration_seconds), by status and error code',
    labelNames: ['status', 'code'] as const,
    registers: [this.registry],
  });

  private cacheUsage: () => { sessions: number; bytes: number } = () => ({ sessions: 0, bytes: 0 });
  private bodyBudgetUsage: () => { reservedBytes: number; waiting: number } = () => ({
    reservedBytes: 0,
    waiting: 0,
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // Every outcome from the start: a scrape shows 0 rather than nothing.
    for (const outcome of RECORDED_OUTCOMES) this.recordWriteFailures.inc({ outcome }, 0);
    this.gaugeOf(
      'session_cache_sessions',
      'Sessions whose folded state the command handler holds in memory',
      () => this.cacheUsage().sessions,
    );
    this.gaugeOf(
      'session_cache_bytes',
      'Approximate bytes of the command handler session cache (bounded by SESSION_CACHE_MB)',
      () => this.cacheUsage().bytes,
    );
    this.gaugeOf(
      'http_body_budget_bytes',
      'Bytes reserved by the large request bodies being read or handled: a declared size over 64 KiB, or 5 MiB for a chunked body past 64 KiB (at most 16 MiB)',
      () => this.bodyBudgetUsage().reservedBytes,
    );
    this.gaugeOf(
      'http_body_budget_waiting_requests',
      'Requests with a large body waiting, unread, for room in the body budget',
      () => this.bodyBudgetUsage().waiting,
    );
  }

  /** A gauge set from `read` on each scrape. */
  private gaugeOf(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** Reports the command handler's cache on /metrics. */
  watchSessionCache(usage: () => { sessions: number; bytes: number }): void {
    this.cacheUsage = usage;
  }

  /** Reports the JSON body reader's budget of large bodies (http/body-budget.ts) on /metrics. */
  watchBodyBudget(usage: () => { reservedBytes: number; waiting: number }): void {
    this.bodyBudgetUsage = usage;
  }

  observeHttp(method: string, route: string, status: number, seconds: number): void {
    this.httpDuration.observe({ method, route, status: String(status) }, seconds);
  }

  /** A request refused by the server hooks for Node's parser (http/server-hooks.ts). */
  countMalformed(status: number, code: string): void {
    this.malformed.inc({ status: String(status), code });
  }

  observeCommand(command: string, outcome: string, seconds: number): void {
    this.commandDuration.observe({ command, outcome }, seconds);
  }

  /** A keyed command whose idempotency record the store failed, by its outcome in `observeCommand`. */
  countRecordWriteFailure(outcome: string): void {
    this.recordWriteFailures.inc({ outcome });
  }

  readonly commandObserver: CommandObserver = {
    onConflict: () => this.conflicts.inc(),
    onRetry: () => this.retries.inc(),
    onRetriesExhausted: () => this.retriesExhausted.inc(),
  };

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
