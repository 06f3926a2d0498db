import { Body, Controller, HttpCode, Param, Post, Req, Res, UseGuards } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { ServerResponse } from 'node:http';
import {
  IntegrationAuthGuard,
  Principal,
  type IntegrationPrincipal,
} from '../../../auth/integration-auth.guard';
import type { RequestWithContext } from '../../../http/request-context';
import { clientBody, commandRequest, SESSION_ROUTE, validatedBody } from '../../shared/command-request';
import { applyReply, IntegrationStateResponse } from '../../shared/session-response';
import { AddCartItemsCommand } from './add-cart-items.command';
import { AddCartItemsRequestDto } from './add-cart-items.request.dto';

const ROUTE = `${SESSION_ROUTE}/cart_items`;

@ApiTags('customer sessions')
@ApiSecurity('ApiKey-v1')
@UseGuards(IntegrationAuthGuard)
@Controller()
export class AddCartItemsController {
  constructor(private readonly commandBus: CommandBus) {}

  @Post(ROUTE)
  @HttpCode(200)
  @ApiOperation({ summary: 'Append cart items to an existing session' })
  @ApiHeader({ name: 'If-Match', required: false, description: '"<revision>" from a previous ETag' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: '≤ 255 characters' })
  @ApiOkResponse({ type: IntegrationStateResponse })
  async addCartItems(
    @Param('customerSessionId') customerSessionId: string,
    @Body() body: AddCartItemsRequestDto,
    @Principal() principal: IntegrationPrincipal,
    @Req() req: RequestWithContext,
    @Res({ passthrough: true }) res: ServerResponse,
  ): Promise<unknown> {
    const request = commandRequest(req, principal, customerSessionId, `POST /${ROUTE}`, {
      body: clientBody(req),
    });
    return applyReply(
      res,
      await this.commandBus.execute(new AddCartItemsCommand(request, validatedBody(req, body))),
    );
  }
}
