import { Controller, HttpCode, Param, Put, Req, Res, UseGuards } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiHeader, ApiOkResponse, ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { ServerResponse } from 'node:http';
import {
  IntegrationAuthGuard,
  Principal,
  type IntegrationPrincipal,
} from '../../../auth/integration-auth.guard';
import type { RequestWithContext } from '../../../http/request-context';
import { commandRequest, SESSION_ROUTE } from '../../shared/command-request';
import { assertNoBody } from '../../shared/request-options';
import { applyReply, IntegrationStateResponse } from '../../shared/session-response';
import { ReopenSessionCommand } from './reopen-session.command';

const ROUTE = `${SESSION_ROUTE}/reopen`;

@ApiTags('customer sessions')
@ApiSecurity('ApiKey-v1')
@UseGuards(IntegrationAuthGuard)
@Controller()
export class ReopenSessionController {
  constructor(private readonly commandBus: CommandBus) {}

  @Put(ROUTE)
  @HttpCode(200)
  @ApiOperation({ summary: 'Reopen a closed session (closed → open)' })
  @ApiHeader({ name: 'If-Match', required: false, description: '"<revision>" from a previous ETag' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: '≤ 255 characters' })
  @ApiOkResponse({ type: IntegrationStateResponse })
  async reopenSession(
    @Param('customerSessionId') customerSessionId: string,
    @Principal() principal: IntegrationPrincipal,
    @Req() req: RequestWithContext,
    @Res({ passthrough: true }) res: ServerResponse,
  ): Promise<unknown> {
    assertNoBody(req.body);
    const request = commandRequest(req, principal, customerSessionId, `PUT /${ROUTE}`);
    return applyReply(res, await this.commandBus.execute(new ReopenSessionCommand(request)));
  }
}
