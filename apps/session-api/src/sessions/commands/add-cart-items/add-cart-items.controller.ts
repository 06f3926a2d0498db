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
import { NoQueryParameters } from '../../shared/query.dto';
import { applyReply, IntegrationStateResponse } from '../../shared/session-response';
import { AddCartItemsCommand } from './add-cart-items.command';
import { AddCartItemsRequestDto } from './add-cart-items.request.dto';

const ROUTE = `${SESSION_ROUTE}/cart_items`;

@ApiTags('customer sessions')
@ApiSecurity('ApiKey-v1')
@UseGuards(IntegrationAuthGuard)
@Controller()
export class AddCartItemsController {
  constructor(
    private readonly commandBus: CommandBus,
    private readonly queryBus: QueryBus,
  ) {}

  @Post(ROUTE)
  @HttpCode(200)
  @ApiOperation({ summary: 'Append cart items to an existing session' })
  @ApiHeader(IF_MATCH_HEADER)
  @ApiHeader(IDEMPOTENCY_KEY_HEADER)
  @ApiOkResponse({ type: IntegrationStateResponse })
  async addCartItems(
    @Param('customerSessionId') customerSessionId: string,
    @Query(NoQueryParameters) _query: Record<string, unknown>,
    @Body() body: AddCartItemsRequestDto,
    @Principal() principal: IntegrationPrincipal,
    @Req() req: RequestWithContext,
    @Res({ passthrough: true }) res: ServerResponse,
  ): Promise<unknown> {
    const request = await commandRequest(req, principal, customerSessionId, `POST /${ROUTE}`, this.queryBus, {
      body: clientBody(req),
    });
    return applyReply(
      res,
      await this.commandBus.execute(new AddCartItemsCommand(request, validatedBody(req, body))),
    );
  }
}
