import { Controller, Get, Param, Query, Req, Res, UseGuards } from '@nestjs/common';
import { QueryBus } from '@nestjs/cqrs';
import {
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiQuery,
  ApiResponse,
  ApiSecurity,
  ApiTags,
} from '@nestjs/swagger';
import {
  sessionNotFound,
  toCustomerSessionV2,
  type CustomerSessionV2,
  type SessionState,
} from '@session-engine/session-domain';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  IntegrationAuthGuard,
  Principal,
  type IntegrationPrincipal,
} from '../../../auth/integration-auth.guard';
import { ErrorCode } from '../../../errors/api-error';
import { ApiErrorResponses, RESPONSE_HEADERS } from '../../../errors/error-response.schema';
import { CacheBusterOnly } from '../../shared/query.dto';
import { SESSION_ROUTE } from '../../shared/command-request';
import { ifMatchListFailed, parseIfMatch, parseIntegrationId } from '../../shared/request-options';
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
        [ErrorCode.UnknownField]: { details: 'Unknown field /fields', parameter: 'fields' },
        [ErrorCode.InvalidField]: {
          details: "customerSessionId must be 1..1000 characters long (it is the session's integrationId)",
          pointer: '/customerSessionId',
        },
      },
    },
    401,
    404,
    {
      status: 412,
      description:
        'If-Match names no revision the session is at (RFC 9110 §13.1.1: a read under a precondition that ' +
        'fails is refused as a command is); a missing session is 404 whatever If-Match says',
      codes: [ErrorCode.PreconditionFailed],
    },
    500,
    503,
  )
  @ApiResponse({
    status: 304,
    description:
      'Not Modified: If-None-Match names the current ETag (or is *); no body. A request with ' +
      'Cache-Control: no-cache always gets the 200',
    headers: { ...RESPONSE_HEADERS.etag, ...RESPONSE_HEADERS.requestId },
  })
  @ApiHeader({
    name: 'If-Match',
    required: false,
    description:
      '"<revision>" from a previous ETag, a list of them, or * (the session exists): 412 when the session is ' +
      'at none of them (strong comparison: W/ tags never match)',
  })
  @ApiQuery({
    name: '_',
    required: false,
    description:
      "A cache-buster, ignored: Talon.One's SDKs add `_=<timestamp>` to every GET when their client's cache is off",
  })
  @ApiHeader({
    name: 'If-None-Match',
    required: false,
    description:
      'The ETag of a copy the client holds (or *): 304 without a body when the session is still at it',
  })
  async get(
    @Param('customerSessionId') customerSessionId: string,
    @Query(CacheBusterOnly) _query: Record<string, unknown>,
    @Principal() principal: IntegrationPrincipal,
    @Req() req: IncomingMessage,
    @Res({ passthrough: true }) res: ServerResponse,
  ): Promise<CustomerSessionResponse> {
    const { state, revision } = await this.queryBus.execute(
      new GetSessionQuery(principal.applicationId, parseIntegrationId(customerSessionId)),
    );
    // The domain's 404, worded as every command on a missing session words it.
    if (state === null || revision === null) throw sessionNotFound(customerSessionId);
    assertIfMatch(req.headers['if-match'], revision);
    res.setHeader('ETag', `"${revision}"`);
    return { customerSession: viewOf(state), effects: [] };
  }
}

/**
 * `If-Match` on a read (RFC 9110 §13.1.1: evaluated before the method, a false condition is 412), so a client
 * that reads under a precondition learns that the session moved on, as its command would. Checked only on an
 * existing session: a missing one is 404 whatever the header says (§13.2.1). `If-None-Match` is Express's
 * cache validator (304), evaluated after it, as §13.2.2 orders them.
 */
function assertIfMatch(header: string | string[] | undefined, revision: bigint): void {
  const conditions = parseIfMatch(header);
  if (conditions?.kind !== 'revisions' || conditions.revisions.includes(revision)) return;
  throw ifMatchListFailed(conditions, revision);
}
