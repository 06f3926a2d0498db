import { Controller, HttpCode, Param, Post, Req, Res, UseGuards } from '@nestjs/common';
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
import { CloseSessionCommand } from './close-session.command';

const ROUTE = `${SESSION_ROUTE}/close`;

@ApiTags('customer sessions')
@ApiSecurity('ApiKey-v1')
@UseGuards(IntegrationAuthGuard)
@Controller()
export class CloseSessionController {
  constructor(private readonly commandBus: CommandBus) {}

  @Post(ROUTE)
  @HttpCode(200)
  @ApiOperation({ summary: 'Close a session (open → closed)' })
  @ApiHeader({ name: 'If-Match', required: false, description: '"<revision>" from a previous ETag' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: '≤ 255 characters' })
  @ApiOkResponse({ type: IntegrationStateResponse })
  async closeSession(
    @Param('customerSessionId') customerSessionId: string,
    @Principal() principal: IntegrationPrincipal,
    @Req() req: RequestWithContext,
    @Res({ passthrough: true }) res: ServerResponse,
  ): Promise<unknown> {
    assertNoBody(req.body);
    const request = commandRequest(req, principal, customerSessionId, `POST /${ROUTE}`);
    return applyReply(res, await this.commandBus.execute(new CloseSessionCommand(request)));
  }
}
