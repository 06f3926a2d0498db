/** Response bodies of SPEC §4 (Talon.One's `IntegrationStateV2` subset we produce). */
import { ApiProperty, ApiPropertyOptional, type ApiPropertyOptions } from '@nestjs/swagger';
import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import type { CommandResult } from '@session-engine/event-store';
import {
  returnsOf,
  toCustomerSessionV2,
  type CustomerSessionV2,
  type ReturnRecord,
  type SessionEvent,
  type SessionState,
} from '@session-engine/session-domain';
import type { ServerResponse } from 'node:http';
import { CUSTOMER_SESSION_SCHEMA, RETURN_RECORD_SCHEMA } from './customer-session.schema';
import type { CommandReply } from './session-command.runner';

/**
 * A property documented by a whole schema object, which every response has. Nest reads the schema's own
 * `required` list as the property's and leaves the property out of its class's `required`: `selfRequired`
 * (how Nest marks a property of an object-literal type required) puts it back. SPEC §4: `customerSession` is
 * always returned; test/openapi.e2e-spec.ts holds each response's `required` to the fields it really sends.
 */
const alwaysSent = (schema: SchemaObject): ApiPropertyOptions =>
  ({ ...schema, selfRequired: true }) as ApiPropertyOptions;

export class CustomerSessionResponse {
  @ApiProperty(alwaysSent(CUSTOMER_SESSION_SCHEMA))
  customerSession: CustomerSessionV2;
  @ApiProperty({ type: [Object], example: [] })
  effects: unknown[];
}

export class IntegrationStateResponse extends CustomerSessionResponse {
  @ApiProperty({ type: [Object], example: [] })
  createdCoupons: unknown[];
  @ApiProperty({ type: [Object], example: [] })
  createdReferrals: unknown[];
}

/**
 * The answer to a PUT. Of Talon.One's `responseContent` entities it holds `customerSession` always and
 * `previousReturns` when asked for; the others name what the engine does not have (no rule engine, profile or
 * loyalty service) and are never sent.
 */
export class UpdateSessionResponse extends IntegrationStateResponse {
  @ApiPropertyOptional({
    type: 'array',
    items: RETURN_RECORD_SCHEMA,
    description:
      "Only when responseContent holds previousReturns: the session's returns, oldest first ([] when it has " +
      'none), shaped as POST …/returns shapes them',
  })
  previousReturns?: ReturnRecord[];
}

export class ReturnResponse extends IntegrationStateResponse {
  @ApiProperty(alwaysSent(RETURN_RECORD_SCHEMA))
  return: ReturnRecord;
  @ApiProperty({
    type: 'array',
    items: RETURN_RECORD_SCHEMA,
    description: 'The earlier returns, oldest first',
  })
  previousReturns: ReturnRecord[];
}

export function integrationState(
  state: SessionState,
  evaluableCampaignIds?: number[],
): IntegrationStateResponse {
  return {
    customerSession: toCustomerSessionV2(state, evaluableCampaignIds ? { evaluableCampaignIds } : {}),
    effects: [],
    createdCoupons: [],
    createdReferrals: [],
  };
}

/** A PUT's answer: `previousReturns` only when `responseContent` asked for them. */
export function updateSessionState(
  state: SessionState,
  evaluableCampaignIds: number[] | undefined,
  previousReturns: boolean,
): UpdateSessionResponse {
  const response = integrationState(state, evaluableCampaignIds);
  return previousReturns ? { ...response, previousReturns: returnsOf(state) } : response;
}

export const stateOf = (result: CommandResult): SessionState => result.state!;

/** The id of the return these events recorded, if they recorded one. */
export function returnIdOf(events: SessionEvent[]): number | undefined {
  for (const event of events) if (event.type === 'CartItemsReturned') return event.data.returnId;
  return undefined;
}

export function returnState(state: SessionState, returnId: number): ReturnResponse {
  const returns = returnsOf(state);
  const index = returns.findIndex((record) => record.id === returnId);
  return { ...integrationState(state), return: returns[index]!, previousReturns: returns.slice(0, index) };
}

/** Writes status and headers of a command reply; the body goes back through Nest. */
export function applyReply(res: ServerResponse, reply: CommandReply): unknown {
  res.statusCode = reply.status;
  if (reply.etag !== undefined) res.setHeader('ETag', reply.etag);
  if (reply.eventPosition !== undefined) res.setHeader('X-Event-Position', reply.eventPosition);
  return reply.body;
}
