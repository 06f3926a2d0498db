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
import { ReturnItemsQueryDto } from '../../shared/query.dto';
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
  @ApiHeader(IF_NONE_MATCH_HEADER)
  @ApiHeader(IDEMPOTENCY_KEY_HEADER)
  @ApiOkResponse({
    description:
      'The session after the return, the return recorded and the earlier returns, whatever ' +
      'responseContent holds; with dry=true the would-be return, nothing stored',
    type: ReturnResponse,
    headers: COMMAND_RESPONSE_HEADERS,
  })
  @ApiErrorResponses(
    {
      ...BODY_BAD_REQUEST,
      description: `${BODY_BAD_REQUEST.description}, or a return entry naming no line of the cart`,
      codes: [...BODY_BAD_REQUEST.codes, DomainErrorCode.CartItemNotFound],
      examples: {
        [ErrorCode.InvalidField]: {
          details: 'quantity must not be less than 1',
          pointer: '/return/returnedCartItems/0/quantity',
        },
        [ErrorCode.LimitExceeded]: {
          details: 'returnedCartItems must contain no more than 1000 elements',
          pointer: '/return/returnedCartItems',
        },
      },
    },
    401,
    404,
    {
      status: 409,
      description:
        'The session is neither closed nor partially returned, a line has fewer units left than asked, ' +
        'or concurrent commands kept colliding',
      codes: [
        DomainErrorCode.IllegalStateTransition,
        DomainErrorCode.ReturnQuantityExceeded,
        ErrorCode.ConcurrentUpdate,
      ],
    },
    ...COMMAND_CONDITION_ERRORS,
  )
  async returnItems(
    @Param('customerSessionId') customerSessionId: string,
    @Query() query: ReturnItemsQueryDto,
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
