import { Body, Controller, HttpCode, Param, Post, Query, Req, Res, UseGuards } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { DomainErrorCode } from '@session-engine/session-domain';
import type { ServerResponse } from 'node:http';
import {
  IntegrationAuthGuard,
  Principal,
  type IntegrationPrincipal,
} from '../../../auth/integration-auth.guard';
import { ErrorCode } from '../../../errors/api-error';
import {
  ApiErrorResponses,
  BODY_BAD_REQUEST,
  COMMAND_RESPONSE_HEADERS,
  COMMAND_CONDITION_ERRORS,
} from '../../../errors/error-response.schema';
import type { RequestWithContext } from '../../../http/request-context';
import {
  clientBody,
  commandRequest,
  IDEMPOTENCY_KEY_HEADER,
  IF_MATCH_HEADER,
  IF_NONE_MATCH_HEADER,
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
  @ApiHeader(IF_NONE_MATCH_HEADER)
  @ApiHeader(IDEMPOTENCY_KEY_HEADER)
  @ApiOkResponse({
    description: 'The session with the items appended to its cart',
    type: IntegrationStateResponse,
    headers: COMMAND_RESPONSE_HEADERS,
  })
  @ApiErrorResponses(
    {
      ...BODY_BAD_REQUEST,
      examples: {
        [ErrorCode.InvalidField]: {
          details: 'quantity must be an integer number',
          pointer: '/cartItems/3/quantity',
        },
        [ErrorCode.LimitExceeded]: {
          details: 'cartItems must contain no more than 1000 elements',
          pointer: '/cartItems',
        },
      },
    },
    401,
    404,
    {
      status: 409,
      description: 'The session is no longer open, or concurrent commands kept colliding',
      codes: [DomainErrorCode.SessionNotModifiable, ErrorCode.ConcurrentUpdate],
      examples: {
        [DomainErrorCode.SessionNotModifiable]: {
          details:
            'The session is closed: its fields can no longer change; to change them, reopen it first ' +
            '(PUT /v2/customer_sessions/{customerSessionId}/reopen), then send the change again',
          pointer: '/cartItems',
        },
      },
    },
    ...COMMAND_CONDITION_ERRORS,
  )
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
