import { Controller, Get, Param, Query, Res, UseGuards } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import { ApiOkResponse, ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import {
  sessionNotFound,
  toCustomerSessionV2,
  type CustomerSessionV2,
  type SessionState,
} from '@session-engine/session-domain';
import type { ServerResponse } from 'node:http';
import {
  IntegrationAuthGuard,
  Principal,
  type IntegrationPrincipal,
} from '../../../auth/integration-auth.guard';
import { ErrorCode } from '../../../errors/api-error';
import { ApiErrorResponses, RESPONSE_HEADERS } from '../../../errors/error-response.schema';
import { SESSION_ROUTE } from '../../shared/command-request';
import { NoQueryParameters } from '../../shared/query.dto';
import { parseIntegrationId } from '../../shared/request-options';
import { CustomerSessionResponse } from '../../shared/session-response';
import { GetSessionQuery } from './get-session.query';

/**
 * Views of cached states: folded states are immutable, so a state object always renders to the same view
 * (rendering a 1,000-line cart costs milliseconds of decimal arithmetic; a repeated GET should not).
 */
const views = new WeakMap<SessionState, CustomerSessionV2>();
const viewOf = (state: SessionState): CustomerSessionV2 => {
  let view = views.get(state);
  if (!view) views.set(state, (view = toCustomerSessionV2(state)));
  return view;
};

@ApiTags('customer sessions')
@ApiSecurity('ApiKey-v1')
@UseGuards(IntegrationAuthGuard)
@Controller()
export class GetSessionController {
  constructor(private readonly queryBus: QueryBus) {}

  @Get(SESSION_ROUTE)
  @ApiOperation({ summary: 'The session rebuilt from its events' })
  @ApiOkResponse({
    description: 'The session as its events say now (read-your-writes: it includes every accepted command)',
    type: CustomerSessionResponse,
    headers: { ...RESPONSE_HEADERS.etag, ...RESPONSE_HEADERS.requestId },
  })
  @ApiErrorResponses(
    {
      status: 400,
      description: 'A query parameter (there are none), or a customerSessionId over 1000 characters',
      codes: [ErrorCode.UnknownField, ErrorCode.InvalidField],
      examples: {
        [ErrorCode.UnknownField]: { details: 'Unknown field /fields', pointer: '/fields' },
        [ErrorCode.InvalidField]: {
          details: "customerSessionId must be 1..1000 characters long (it is the session's integrationId)",
          pointer: '/customerSessionId',
        },
      },
    },
    401,
    404,
    500,
    503,
  )
  async get(
    @Param('customerSessionId') customerSessionId: string,
    @Query(NoQueryParameters) _query: Record<string, unknown>,
    @Principal() principal: IntegrationPrincipal,
    @Res({ passthrough: true }) res: ServerResponse,
  ): Promise<CustomerSessionResponse> {
    const { state, revision } = await this.queryBus.execute(
      new GetSessionQuery(principal.applicationId, parseIntegrationId(customerSessionId)),
    );
    // The domain's 404, worded as every command on a missing session words it.
    if (state === null || revision === null) throw sessionNotFound(customerSessionId);
    res.setHeader('ETag', `"${revision}"`);
    return { customerSession: viewOf(state), effects: [] };
  }
}
