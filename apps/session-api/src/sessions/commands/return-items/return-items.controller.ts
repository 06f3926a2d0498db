import { Body, Controller, HttpCode, Param, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiQuery, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { ServerResponse } from 'node:http';
import {
  IntegrationAuthGuard,
  Principal,
  type IntegrationPrincipal,
} from '../../../auth/integration-auth.guard';
import type { RequestWithContext } from '../../../http/request-context';
import { clientBody, commandRequest, SESSION_ROUTE, validatedBody } from '../../shared/command-request';
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
  constructor(private readonly commandBus: CommandBus) {}

  @Post(ROUTE)
  @HttpCode(200)
  @ApiOperation({ summary: 'Return cart items of a closed or partially returned session' })
  @ApiQuery({ name: 'dry', required: false, type: Boolean })
  @ApiHeader({ name: 'If-Match', required: false, description: '"<revision>" from a previous ETag' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: '≤ 255 characters' })
  @ApiOkResponse({ type: ReturnResponse })
  async returnItems(
    @Param('customerSessionId') customerSessionId: string,
    @Query('dry') dry: unknown,
    @Body() body: ReturnItemsRequestDto,
    @Principal() principal: IntegrationPrincipal,
    @Req() req: RequestWithContext,
    @Res({ passthrough: true }) res: ServerResponse,
  ): Promise<unknown> {
    const request = commandRequest(req, principal, customerSessionId, `POST /${ROUTE}`, {
      dry: parseDry(dry),
      body: clientBody(req),
      pointerBase: '/return',
    });
    return applyReply(
      res,
      await this.commandBus.execute(new ReturnItemsCommand(request, validatedBody(req, body))),
    );
  }
}
