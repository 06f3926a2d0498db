import { ApiExtraModels, ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
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
import { CartItemDto, PriceDto } from '../../shared/cart-item.dto';
import { IsJsonObject, IsPriceMap, NestedObject } from '../../shared/validators';

export const SESSION_STATES = ['open', 'closed', 'cancelled', 'partially_returned'] as const;

/** Talon.One's documented `responseContent` values; they are accepted, `customerSession` is always returned. */
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
    items: { type: 'integer' },
    nullable: true,
    description: 'Echoed with dry=true only; never stored',
  })
  @IsOptional()
  @IsArray()
  @IsInt({ each: true })
  evaluableCampaignIds?: number[] | null;

  @ApiPropertyOptional({ type: [String], nullable: true, description: '[] discards, a list replaces' })
  @IsOptional()
  @IsArray()
  @IsString({ each: true })
  @Length(1, 100, { each: true })
  couponCodes?: string[] | null;

  @ApiPropertyOptional({ type: String, maxLength: 100, nullable: true, description: '"" discards' })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  referralCode?: string | null;

  @ApiPropertyOptional({ type: [String], maxItems: 1, nullable: true })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(1)
  @IsString({ each: true })
  @Length(1, 1000, { each: true })
  loyaltyCards?: string[] | null;

  @ApiPropertyOptional({ type: [String], maxItems: 5, nullable: true })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(5)
  @IsString({ each: true })
  @Length(1, 1000, { each: true })
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

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { $ref: getSchemaPath(PriceDto) },
    nullable: true,
  })
  @IsOptional()
  @IsPriceMap()
  additionalCosts?: Record<string, PriceDto> | null;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    nullable: true,
    description: '≤ 64 KiB serialized',
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

  @ApiPropertyOptional({ enum: RESPONSE_CONTENT, isArray: true })
  @IsOptional()
  @IsArray()
  @IsIn(RESPONSE_CONTENT, { each: true })
  responseContent?: (typeof RESPONSE_CONTENT)[number][];
}
