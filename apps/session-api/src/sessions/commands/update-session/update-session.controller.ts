import { Body, Controller, HttpCode, Param, Put, Query, Req, Res, UseGuards } from '@nestjs/common';
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
import { UpdateSessionQueryDto } from '../../shared/query.dto';
import { parseDry, parseDryRunTime } from '../../shared/request-options';
import { applyReply, UpdateSessionResponse } from '../../shared/session-response';
import { UpdateSessionCommand } from './update-session.command';
import { UpdateSessionRequestDto } from './update-session.request.dto';

@ApiTags('customer sessions')
@ApiSecurity('ApiKey-v1')
@UseGuards(IntegrationAuthGuard)
@Controller()
export class UpdateSessionController {
  constructor(
    private readonly commandBus: CommandBus,
    private readonly queryBus: QueryBus,
  ) {}

  @Put(SESSION_ROUTE)
  @HttpCode(200)
  @ApiOperation({ summary: 'Create or update a customer session (Talon.One updateCustomerSessionV2)' })
  @ApiHeader(IF_MATCH_HEADER)
  @ApiHeader(IF_NONE_MATCH_HEADER)
  @ApiHeader(IDEMPOTENCY_KEY_HEADER)
  @ApiOkResponse({
    description:
      'The session after the update (created when it did not exist); with dry=true the would-be ' +
      'session (as of now=, when given), nothing stored. previousReturns only when responseContent asks ' +
      'for it; the other responseContent values are accepted and never returned (no rule engine, profile ' +
      'or loyalty service)',
    type: UpdateSessionResponse,
    headers: COMMAND_RESPONSE_HEADERS,
  })
  @ApiErrorResponses(
    BODY_BAD_REQUEST,
    401,
    {
      status: 409,
      description:
        'The update asks for a state change the state machine refuses, changes fields of a session that ' +
        'is no longer open, or concurrent commands kept colliding; SESSION_DELETED when an operator deleted ' +
        'the session for good: its id cannot be used again',
      codes: [
        DomainErrorCode.IllegalStateTransition,
        DomainErrorCode.SessionNotModifiable,
        ErrorCode.ConcurrentUpdate,
        ErrorCode.SessionDeleted,
      ],
    },
    ...COMMAND_CONDITION_ERRORS,
  )
  async update(
    @Param('customerSessionId') customerSessionId: string,
    @Query() query: UpdateSessionQueryDto,
    @Body() body: UpdateSessionRequestDto,
    @Principal() principal: IntegrationPrincipal,
    @Req() req: RequestWithContext,
    @Res({ passthrough: true }) res: ServerResponse,
  ): Promise<unknown> {
    const request = await commandRequest(
      req,
      principal,
      customerSessionId,
      `PUT /${SESSION_ROUTE}`,
      this.queryBus,
      {
        dry: parseDry(query.dry),
        decidedAt: parseDryRunTime(query.now),
        body: clientBody(req),
        pointerBase: '/customerSession',
        createsSession: true,
      },
    );
    return applyReply(
      res,
      await this.commandBus.execute(new UpdateSessionCommand(request, validatedBody(req, body))),
    );
  }
}
