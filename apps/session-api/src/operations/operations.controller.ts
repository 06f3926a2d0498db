import { Controller, Get, Header, Inject, Optional, Res } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { EsdbClientAdapter } from '@session-engine/event-store';
import type { ServerResponse } from 'node:http';
import { ApiError, ErrorCode } from '../errors/api-error';
import { ApiErrorResponses, RESPONSE_HEADERS } from '../errors/error-response.schema';
import { ReadModelHealth } from '../management/read-model-health';
import { MetricsService } from './metrics.service';

@ApiTags('operations')
@Controller()
export class OperationsController {
  constructor(
    @Inject(EsdbClientAdapter) private readonly store: EsdbClientAdapter,
    private readonly metrics: MetricsService,
    /** Absent only in an app without the management API (no read-model store to check). */
    @Optional() private readonly readModels?: ReadModelHealth,
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
    description: 'The event store (and the read-model store, when the app has one) are reachable',
    schema: {
      type: 'object',
      properties: {
        status: { type: 'string', enum: ['ok'] },
        eventStore: { type: 'string', enum: ['up'] },
        readModels: { type: 'string', enum: ['up'] },
      },
      required: ['status', 'eventStore'],
    },
    headers: RESPONSE_HEADERS.requestId,
  })
  @ApiErrorResponses({
    status: 503,
    description: 'Not ready: the event store or the read-model database is not reachable',
    codes: [ErrorCode.ServiceUnavailable],
  })
  async ready(): Promise<{ status: 'ok'; eventStore: 'up'; readModels?: 'up' }> {
    const [eventStore, readModels] = await Promise.all([
      this.store.isReachable(),
      this.readModels?.isReachable(),
    ]);
    const down = [
      ...(eventStore ? [] : ['the event store']),
      ...(readModels === false ? ['the read-model database'] : []),
    ];
    if (down.length > 0) {
      throw ApiError.of(503, ErrorCode.ServiceUnavailable, `Not ready: ${down.join(' and ')} not reachable`);
    }
    return readModels === undefined
      ? { status: 'ok', eventStore: 'up' }
      : { status: 'ok', eventStore: 'up', readModels: 'up' };
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
