import { Controller, HttpCode, Param, Query, Post, Req, Res, UseGuards } from '@nestjs/common';
import { CommandBus, QueryBus } from '@nestjs/cqrs';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { ServerResponse } from 'node:http';
import {
  IntegrationAuthGuard,
  Principal,
  type IntegrationPrincipal,
} from '../../../auth/integration-auth.guard';
import { COMMAND_RESPONSE_HEADERS, TransitionErrorResponses } from '../../../errors/error-response.schema';
import type { RequestWithContext } from '../../../http/request-context';
import {
  commandRequest,
  IDEMPOTENCY_KEY_HEADER,
  IF_MATCH_HEADER,
  IF_NONE_MATCH_HEADER,
  SESSION_ROUTE,
} from '../../shared/command-request';
import { NoQueryParameters } from '../../shared/query.dto';
import { assertNoBody } from '../../shared/request-options';
import { applyReply, IntegrationStateResponse } from '../../shared/session-response';
import { CloseSessionCommand } from './close-session.command';

const ROUTE = `${SESSION_ROUTE}/close`;

@ApiTags('customer sessions')
@ApiSecurity('ApiKey-v1')
@UseGuards(IntegrationAuthGuard)
@Controller()
export class CloseSessionController {
  constructor(
    private readonly commandBus: CommandBus,
    private readonly queryBus: QueryBus,
  ) {}

  @Post(ROUTE)
  @HttpCode(200)
  @ApiOperation({ summary: 'Close a session (open → closed)' })
  @ApiHeader(IF_MATCH_HEADER)
  @ApiHeader(IF_NONE_MATCH_HEADER)
  @ApiHeader(IDEMPOTENCY_KEY_HEADER)
  @ApiOkResponse({
    description: 'The closed session',
    type: IntegrationStateResponse,
    headers: COMMAND_RESPONSE_HEADERS,
  })
  @TransitionErrorResponses('The session is not open')
  async closeSession(
    @Param('customerSessionId') customerSessionId: string,
    @Query(NoQueryParameters) _query: Record<string, unknown>,
    @Principal() principal: IntegrationPrincipal,
    @Req() req: RequestWithContext,
    @Res({ passthrough: true }) res: ServerResponse,
  ): Promise<unknown> {
    assertNoBody(req.body);
    const request = await commandRequest(req, principal, customerSessionId, `POST /${ROUTE}`, this.queryBus);
    return applyReply(res, await this.commandBus.execute(new CloseSessionCommand(request)));
  }
}
