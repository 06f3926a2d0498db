import { Controller, Get, Header, Inject, Optional, Res } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { ApiExcludeEndpoint, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { EsdbClientAdapter } from '@session-engine/event-store';
import type { ServerResponse } from 'node:http';
import { BATCH_FAILURE_KINDS } from '../../../projector/src/batch-failures';
import type { ProjectorThreadHealth, ProjectorThreadService } from '../../../projector/src/projector-thread';
import { ApiError, ErrorCode } from '../errors/api-error';
import type { JsonReplyExpressAdapter } from '../http/json-reply.adapter';
import { ApiErrorResponses, RESPONSE_HEADERS } from '../errors/error-response.schema';
import { READ_MODEL_PING_TIMEOUT_MS, ReadModelHealth } from '../management/read-model-health';
import type { AppConfig } from '../config/config';
import { APP_CONFIG, PROJECTOR_HEALTH } from '../tokens';
import { MetricsService } from './metrics.service';

/** What /health/ready answers with when ready. */
interface Ready {
  status: 'ok';
  eventStore: 'up';
  readModels?: 'up';
  /** The in-process projector's condition (`npm start`); it does not decide readiness. */
  projector?: ProjectorThreadHealth;
}

/** The `projector` member of /health/ready: the standalone projector's /health/ready body, plus the report's age. */
const PROJECTOR_HEALTH_SCHEMA = {
  type: 'object',
  description:
    'Present when this process runs the projector (`npm start`, PROJECTOR_IN_PROCESS=true): its condition, for ' +
    'an operator. It never makes the API unready — the API takes commands without it; only the read models ' +
    'fall behind. Computed from the projector thread’s newest report (see reportAgeSeconds).',
  properties: {
    status: {
      type: 'string',
      enum: ['ok', 'stalled', 'unavailable', 'starting', 'not-running'],
      description:
        '`stalled`: events wait and nothing has committed for the stall window (PROJECTOR_STALL_AFTER_MS); ' +
        '`unavailable`: it cannot reach the read-model database (its lock poll fails: failure.kind unavailable); ' +
        '`starting`: its thread is being started and has not reported yet (the first moments after start-up, ' +
        'or a restart); `not-running`: no projector thread runs (stopping, or it died and waits to be restarted). ' +
        'With these two only reportAgeSeconds follows',
    },
    leader: { type: 'boolean', description: 'Holds the read-model lock and projects (false: on standby)' },
    caughtUp: { type: 'boolean', description: 'As projector_caught_up' },
    position: { type: 'string', description: 'Committed checkpoint (a commit position, decimal)' },
    head: { type: 'string', description: 'Highest commit position read from the event store (decimal)' },
    lagEvents: {
      type: 'integer',
      description: 'Events read and not yet committed (as projector_lag_events)',
    },
    lastCommitAgeSeconds: {
      type: 'integer',
      nullable: true,
      description: 'Seconds since the last commit; null on standby',
    },
    readingPaused: {
      type: 'boolean',
      description:
        'The projector has stopped reading the event store until a commit ends (as projector_reading_paused): ' +
        'events written meanwhile are not counted in lagEvents',
    },
    readingPausedSince: {
      type: 'string',
      format: 'date-time',
      description: 'Only while readingPaused: when it stopped reading',
    },
    readingPausedFor: {
      type: 'string',
      enum: ['commit', 'retry'],
      description:
        'Only while readingPaused: `commit` — the batch being committed has not finished (a slow database, or a ' +
        'lock another writer holds); `retry` — a failed batch waits for its retry (see failure)',
    },
    failure: {
      type: 'object',
      description: 'Only while a batch keeps failing: where the projector is stuck (never the event payload)',
      properties: {
        kind: { type: 'string', enum: [...BATCH_FAILURE_KINDS] },
        attempts: { type: 'integer' },
        since: { type: 'string', format: 'date-time' },
        position: { type: 'string' },
        streamId: { type: 'string' },
        eventType: { type: 'string' },
        events: { type: 'integer' },
      },
    },
    reportAgeSeconds: {
      type: 'integer',
      nullable: true,
      description:
        'Seconds since the projector thread last reported (as projector_report_age_seconds): it grows while ' +
        'the thread is blocked, e.g. on a locked SQLite read-model file',
    },
  },
  required: ['status', 'reportAgeSeconds'],
};

@ApiTags('operations')
@Controller()
export class OperationsController {
  constructor(
    @Inject(EsdbClientAdapter) private readonly store: EsdbClientAdapter,
    @Inject(APP_CONFIG) private readonly config: Pick<AppConfig, 'eventStoreCallTimeoutMs'>,
    private readonly metrics: MetricsService,
    private readonly adapterHost: HttpAdapterHost,
    /** Absent only in an app without the management API (no read-model store to check). */
    @Optional() private readonly readModels?: ReadModelHealth,
    /** Present when this process runs the projector (`npm start`). */
    @Optional()
    @Inject(PROJECTOR_HEALTH)
    private readonly projector?: Pick<ProjectorThreadService, 'health'>,
  ) {}

  @Get('health/live')
  @ApiOkResponse({
    description: 'The process is up',
    schema: {
      type: 'object',
      properties: { status: { type: 'string', enum: ['ok'] } },
      required: ['status'],
    },
    headers: RESPONSE_HEADERS.requestId,
  })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('health/ready')
  @ApiOkResponse({
    description:
      'The event store (and the read-model store, when the app has one) are reachable. Under `npm start` the ' +
      'body also reports the projector this process runs (`projector`), which does not decide readiness.',
    schema: {
      type: 'object',
      properties: {
        status: { type: 'string', enum: ['ok'] },
        eventStore: { type: 'string', enum: ['up'] },
        readModels: { type: 'string', enum: ['up'] },
        projector: PROJECTOR_HEALTH_SCHEMA,
      },
      required: ['status', 'eventStore'],
    },
    headers: RESPONSE_HEADERS.requestId,
  })
  @ApiErrorResponses({
    status: 503,
    description:
      'Not ready: the event store is not reachable, or answered neither this check within 2 s nor any call ' +
      'within the call deadline (EVENTSTORE_CALL_TIMEOUT_MS, 10 s); or the read-model database is not reachable, ' +
      'or answered neither this check within 2 s nor an earlier one within the query timeout ' +
      '(READ_MODEL_QUERY_TIMEOUT_MS, 5 s); or the API is shutting down (for up to SHUTDOWN_DRAIN_MS after SIGTERM ' +
      'it answers on the connections already open, each answer closing its connection)',
    codes: [ErrorCode.ServiceUnavailable],
  })
  async ready(): Promise<Ready> {
    // Shutting down: a balancer that probes readiness stops sending here while requests are still answered.
    const adapter = this.adapterHost.httpAdapter as Partial<
      Pick<JsonReplyExpressAdapter, 'shutdownAnnouncedAt'>
    >;
    const shutdownSince = adapter.shutdownAnnouncedAt;
    if (shutdownSince !== undefined) {
      throw ApiError.of(
        503,
        ErrorCode.ServiceUnavailable,
        `Not ready: shutting down since ${shutdownSince.toISOString()}: new connections are refused; the open ones are answered until SHUTDOWN_DRAIN_MS has passed, each answer closing its connection`,
      );
    }
    const [eventStore, readModels, projector] = await Promise.all([
      // An answer vouches for the store as long as a request waits for one: EVENTSTORE_CALL_TIMEOUT_MS.
      this.store.isAnswering(READ_MODEL_PING_TIMEOUT_MS, this.config.eventStoreCallTimeoutMs),
      this.readModels?.isReachable(),
      this.projector?.health(),
    ]);
    // Slow and down look alike to a probe with a deadline: the message says both, so that an operator who sees
    // it under load does not go looking for an outage. Each store is judged by its answers within the time a
    // request gives it (`isAnswering`, `ReadModelHealth`), not by one probe's 2 s: a store that answers requests
    // in time is not "down" because a probe was slow.
    const down = [
      ...(eventStore
        ? []
        : [
            `the event store is not reachable, or answered neither this check within ${READ_MODEL_PING_TIMEOUT_MS / 1000} s nor any call in the last ${this.config.eventStoreCallTimeoutMs / 1000} s`,
          ]),
      ...(readModels === false
        ? [
            `the read-model database is not reachable, or answered neither this check within ${READ_MODEL_PING_TIMEOUT_MS / 1000} s nor one in the last ${this.readModels!.answerWindowMs / 1000} s`,
          ]
        : []),
    ];
    if (down.length > 0) {
      throw ApiError.of(503, ErrorCode.ServiceUnavailable, `Not ready: ${down.join('; ')}`);
    }
    // The projector is reported, not judged: commands work without it (only the read models fall behind).
    return {
      status: 'ok',
      eventStore: 'up',
      ...(readModels === undefined ? {} : { readModels: 'up' as const }),
      ...(projector === undefined ? {} : { projector }),
    };
  }

  @Get('metrics')
  @ApiExcludeEndpoint()
  @Header('Cache-Control', 'no-store')
  async metricsText(@Res() res: ServerResponse): Promise<void> {
    const { contentType, body } = await this.metrics.render();
    res.statusCode = 200;
    res.setHeader('Content-Type', contentType);
    res.end(body);
  }
}
