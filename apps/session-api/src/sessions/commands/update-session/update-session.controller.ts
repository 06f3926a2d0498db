import { Body, Controller, HttpCode, Param, Put, Query, Req, Res, UseGuards } from '@nestjs/common';
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
import { applyReply, IntegrationStateResponse } from '../../shared/session-response';
import { UpdateSessionCommand } from './update-session.command';
import { UpdateSessionRequestDto } from './update-session.request.dto';

@ApiTags('customer sessions')
@ApiSecurity('ApiKey-v1')
@UseGuards(IntegrationAuthGuard)
@Controller()
export class UpdateSessionController {
  constructor(private readonly commandBus: CommandBus) {}

  @Put(SESSION_ROUTE)
  @HttpCode(200)
  @ApiOperation({ summary: 'Create or update a customer session (Talon.One updateCustomerSessionV2)' })
  @ApiQuery({ name: 'dry', required: false, type: Boolean })
  @ApiHeader({ name: 'If-Match', required: false, description: '"<revision>" from a previous ETag' })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: '≤ 255 characters' })
  @ApiOkResponse({ type: IntegrationStateResponse })
  async update(
    @Param('customerSessionId') customerSessionId: string,
    @Query('dry') dry: unknown,
    @Body() body: UpdateSessionRequestDto,
    @Principal() principal: IntegrationPrincipal,
    @Req() req: RequestWithContext,
    @Res({ passthrough: true }) res: ServerResponse,
  ): Promise<unknown> {
    const request = commandRequest(req, principal, customerSessionId, `PUT /${SESSION_ROUTE}`, {
      dry: parseDry(dry),
      body: clientBody(req),
      pointerBase: '/customerSession',
    });
    return applyReply(
      res,
      await this.commandBus.execute(new UpdateSessionCommand(request, validatedBody(req, body))),
    );
  }
}
