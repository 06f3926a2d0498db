import { Body, Controller, HttpCode, Param, Put, Query, Req, Res, UseGuards } from '@nestjs/common';
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
import { applyReply, IntegrationStateResponse } from '../../shared/session-response';
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
  @ApiHeader(IDEMPOTENCY_KEY_HEADER)
  @ApiOkResponse({ type: IntegrationStateResponse })
  async update(
    @Param('customerSessionId') customerSessionId: string,
    @Query() query: DryRunQueryDto,
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
        body: clientBody(req),
        pointerBase: '/customerSession',
      },
    );
    return applyReply(
      res,
      await this.commandBus.execute(new UpdateSessionCommand(request, validatedBody(req, body))),
    );
  }
}
