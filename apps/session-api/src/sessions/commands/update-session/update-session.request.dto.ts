import { ApiExtraModels, ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { SESSION_LIMITS } from '@session-engine/session-domain';
import {
  ArrayMaxSize,
  IsArray,
  IsDefined,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Length,
  MaxLength,
} from 'class-validator';
import { ATTRIBUTES_DESCRIPTION, CartItemDto, costMapSchema, PriceDto } from '../../shared/cart-item.dto';
import { IsJsonObject, IsPriceMap, NestedObject } from '../../shared/validators';

/**
 * A list of strings of `min`..`max` characters each, as the OpenAPI items of the field and as the validation
 * pipe checks each entry: a bad entry is refused at its own pointer (`/customerSession/couponCodes/1`) with
 * the domain's words ("… must be 1..100 characters long").
 */
const stringItems = (min: number, max: number) => ({ type: 'string', minLength: min, maxLength: max });
const EachLength = (min: number, max: number) =>
  Length(min, max, { each: true, message: '$property must be $constraint1..$constraint2 characters long' });

export const SESSION_STATES = ['open', 'closed', 'cancelled', 'partially_returned'] as const;

/**
 * Talon.One's `responseContent` values of a PUT (`IntegrationRequest`), all accepted: `customerSession` is always
 * returned, `previousReturns` when asked for; the others name entities the engine does not have (no rule engine,
 * profile or loyalty service) and are never returned.
 */
export const RESPONSE_CONTENT = [
  'customerSession',
  'customerProfile',
  'coupons',
  'triggeredCampaigns',
  'referral',
  'loyalty',
  'event',
  'awardedGiveaways',
  'ruleFailureReasons',
  'previousReturns',
  'campaignEligibility',
  'achievements',
  'unlockedRewards',
] as const;

/** Talon.One `NewCustomerSessionV2`: omitted or `null` keeps the stored value, a present value replaces it. */
@ApiExtraModels(PriceDto)
export class NewCustomerSessionV2Dto {
  @ApiPropertyOptional({ type: String, maxLength: 1000, nullable: true, description: '"" = anonymous' })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  profileId?: string | null;

  @ApiPropertyOptional({ type: String, minLength: 1, maxLength: 1000, nullable: true })
  @IsOptional()
  @IsString()
  @Length(1, 1000)
  storeIntegrationId?: string | null;

  @ApiPropertyOptional({
    type: 'array',
    // Ids ≥ 1 that JSON carries exactly: the domain checks both.
    items: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
    maxItems: SESSION_LIMITS.evaluableCampaignIds,
    nullable: true,
    description: 'Echoed with dry=true only; never stored',
  })
  @IsOptional()
  @IsArray()
  @IsInt({ each: true })
  evaluableCampaignIds?: number[] | null;

  @ApiPropertyOptional({
    type: 'array',
    items: stringItems(1, SESSION_LIMITS.couponCodeLength),
    // The domain's limit on the count.
    maxItems: SESSION_LIMITS.couponCodes,
    nullable: true,
    description: '[] discards, a list replaces',
  })
  @IsOptional()
  @IsArray()
  @IsString({ each: true })
  @EachLength(1, SESSION_LIMITS.couponCodeLength)
  couponCodes?: string[] | null;

  @ApiPropertyOptional({ type: String, maxLength: 100, nullable: true, description: '"" discards' })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  referralCode?: string | null;

  @ApiPropertyOptional({
    type: 'array',
    items: stringItems(1, SESSION_LIMITS.loyaltyCardLength),
    maxItems: SESSION_LIMITS.loyaltyCards,
    nullable: true,
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(SESSION_LIMITS.loyaltyCards)
  @IsString({ each: true })
  @EachLength(1, SESSION_LIMITS.loyaltyCardLength)
  loyaltyCards?: string[] | null;

  @ApiPropertyOptional({
    type: 'array',
    items: stringItems(1, SESSION_LIMITS.identifierLength),
    maxItems: SESSION_LIMITS.identifiers,
    nullable: true,
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(SESSION_LIMITS.identifiers)
  @IsString({ each: true })
  @EachLength(1, SESSION_LIMITS.identifierLength)
  identifiers?: string[] | null;

  @ApiPropertyOptional({ enum: SESSION_STATES, nullable: true })
  @IsOptional()
  @IsIn(SESSION_STATES)
  state?: (typeof SESSION_STATES)[number] | null;

  @ApiPropertyOptional({
    type: [CartItemDto],
    maxItems: 1000,
    nullable: true,
    description: 'Replaces the cart',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(1000, { context: { code: 'LIMIT_EXCEEDED' } })
  @NestedObject(() => CartItemDto, { each: true, message: 'a cart item must be a JSON object' })
  cartItems?: CartItemDto[] | null;

  @ApiPropertyOptional({ ...costMapSchema(), nullable: true })
  @IsOptional()
  @IsPriceMap()
  additionalCosts?: Record<string, PriceDto> | null;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    nullable: true,
    description: ATTRIBUTES_DESCRIPTION,
  })
  @IsOptional()
  @IsJsonObject()
  attributes?: Record<string, unknown> | null;
}

export class UpdateSessionRequestDto {
  @ApiProperty({ type: NewCustomerSessionV2Dto })
  @IsDefined()
  @NestedObject(() => NewCustomerSessionV2Dto, { message: 'customerSession must be a JSON object' })
  customerSession: NewCustomerSessionV2Dto;

  @ApiPropertyOptional({
    enum: RESPONSE_CONTENT,
    isArray: true,
    description:
      "Validated against Talon.One's values. customerSession is always returned, previousReturns (the " +
      "session's returns, oldest first) when listed; the other entities are accepted and never returned: the " +
      'engine has no rule engine, profile or loyalty service',
  })
  @IsOptional()
  @IsArray()
  @IsIn(RESPONSE_CONTENT, { each: true })
  responseContent?: (typeof RESPONSE_CONTENT)[number][];
}
