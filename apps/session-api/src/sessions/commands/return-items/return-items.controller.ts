import { Body, Controller, HttpCode, Param, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { ServerResponse } from 'node:http';
import {
  IntegrationAuthGuard,
  Principal,
  type IntegrationPrincipal,
} from '../../../auth/integration-auth.guard';
import type { RequestWithContext } from '../../../http/request-context';
import {
  clientBody,
  commandRequest,
  IDEMPOTENCY_KEY_HEADER,
  IF_MATCH_HEADER,
  SESSION_ROUTE,
  validatedBody,
} from '../../shared/command-request';
import { DryRunQueryDto } from '../../shared/query.dto';
import { parseDry } from '../../shared/request-options';
import { applyReply, ReturnResponse } from '../../shared/session-response';
import { ReturnItemsCommand } from './return-items.command';
import { ReturnItemsRequestDto } from './return-items.request.dto';

const ROUTE = `${SESSION_ROUTE}/returns`;

@ApiTags('customer sessions')
@ApiSecurity('ApiKey-v1')
@UseGuards(IntegrationAuthGuard)
@Controller()
export class ReturnItemsController {
  constructor(
    private readonly commandBus: CommandBus,
    private readonly queryBus: QueryBus,
  ) {}

  @Post(ROUTE)
  @HttpCode(200)
  @ApiOperation({ summary: 'Return cart items of a closed or partially returned session' })
  @ApiHeader(IF_MATCH_HEADER)
  @ApiHeader(IDEMPOTENCY_KEY_HEADER)
  @ApiOkResponse({ type: ReturnResponse })
  async returnItems(
    @Param('customerSessionId') customerSessionId: string,
    @Query() query: DryRunQueryDto,
    @Body() body: ReturnItemsRequestDto,
    @Principal() principal: IntegrationPrincipal,
    @Req() req: RequestWithContext,
    @Res({ passthrough: true }) res: ServerResponse,
  ): Promise<unknown> {
    const request = await commandRequest(req, principal, customerSessionId, `POST /${ROUTE}`, this.queryBus, {
      dry: parseDry(query.dry),
      body: clientBody(req),
      pointerBase: '/return',
    });
    return applyReply(
      res,
      await this.commandBus.execute(new ReturnItemsCommand(request, validatedBody(req, body))),
    );
  }
}
