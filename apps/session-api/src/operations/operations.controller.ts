import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { EsdbClientAdapter } from '@session-engine/event-store';
import type { ServerResponse } from 'node:http';
import { ApiError, ErrorCode } from '../errors/api-error';
import { MetricsService } from './metrics.service';

@ApiTags('operations')
@Controller()
export class OperationsController {
  constructor(
    @Inject(EsdbClientAdapter) private readonly store: EsdbClientAdapter,
    private readonly metrics: MetricsService,
  ) {}

  @Get('health/live')
  @ApiOkResponse({ description: 'The process is up' })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('health/ready')
  @ApiOkResponse({ description: 'The event store is reachable' })
  async ready(): Promise<{ status: 'ok'; eventStore: 'up' }> {
    if (!(await this.store.isReachable())) {
      throw ApiError.of(503, ErrorCode.ServiceUnavailable, 'The event store is not reachable');
    }
    return { status: 'ok', eventStore: 'up' };
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
