import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { NULL_IN_RETURN_ENTRY, SESSION_LIMITS } from '@session-engine/session-domain';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsDefined,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Length,
  Min,
  ValidateIf,
  type ValidationArguments,
} from 'class-validator';
import { IsOptionalNotNull, NestedObject } from '../../shared/validators';

/**
 * The type check's own message, or for `null` the domain's word on it: in a return entry `null` is refused,
 * not read as the field not given (an omitted quantity returns every unit left, and a return cannot be undone).
 */
const orWhyNotNull = (field: keyof typeof NULL_IN_RETURN_ENTRY, message: string) => ({
  message: (args: ValidationArguments) =>
    args.value === null ? `${field} ${NULL_IN_RETURN_ENTRY[field]}` : message,
});

/** A return entry with neither `position` nor `sku` (SPEC §2: one of them names the cart line). */
const POSITION_OR_SKU =
  'a returned item needs position or sku: position names the cart line; sku alone, the first line with ' +
  'that sku whose remaining quantity covers the return';

export class ReturnedCartItemDto {
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 0,
    maximum: Number.MAX_SAFE_INTEGER,
    description: 'Cart line; wins over sku. One of position or sku is required; null is refused (400)',
  })
  @ValidateIf((item: ReturnedCartItemDto) => item.position !== undefined || item.sku === undefined)
  @IsDefined({ message: POSITION_OR_SKU })
  @IsInt({
    // Neither given: the entry names no line (the type check's message alone is shown, so it says that).
    message: (args: ValidationArguments) =>
      args.value === undefined
        ? POSITION_OR_SKU
        : orWhyNotNull('position', '$property must be an integer number').message(args),
  })
  @Min(0)
  position?: number;

  @ApiPropertyOptional({
    minLength: 1,
    maxLength: 1000,
    description:
      'First line with this sku whose remaining quantity covers the request; null is refused (400)',
  })
  @IsOptionalNotNull()
  @IsString(orWhyNotNull('sku', '$property must be a string'))
  @Length(1, 1000)
  sku?: string;

  @ApiPropertyOptional({
    type: 'integer',
    minimum: 1,
    maximum: Number.MAX_SAFE_INTEGER,
    description: 'Omitted: the whole remaining quantity; null is refused (400)',
  })
  @IsOptionalNotNull()
  @IsInt(orWhyNotNull('quantity', '$property must be an integer number'))
  @Min(1)
  quantity?: number;
}

export class ReturnDto {
  @ApiProperty({
    type: [ReturnedCartItemDto],
    minItems: 1,
    maxItems: SESSION_LIMITS.returnedCartItemsPerRequest,
  })
  @IsDefined()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(SESSION_LIMITS.returnedCartItemsPerRequest, { context: { code: 'LIMIT_EXCEEDED' } })
  @NestedObject(() => ReturnedCartItemDto, { each: true, message: 'a returned item must be a JSON object' })
  returnedCartItems: ReturnedCartItemDto[];
}

/**
 * Talon.One's `responseContent` values of a return (`ReturnIntegrationRequest`), all accepted; the answer is the
 * same whatever it holds: the session, the return and the earlier returns.
 */
export const RETURN_RESPONSE_CONTENT = [
  'customerSession',
  'customerProfile',
  'coupons',
  'triggeredCampaigns',
  'referral',
  'loyalty',
  'event',
  'previousReturns',
] as const;

export class ReturnItemsRequestDto {
  @ApiProperty({ type: ReturnDto })
  @IsDefined()
  @NestedObject(() => ReturnDto, { message: 'return must be a JSON object' })
  return: ReturnDto;

  @ApiPropertyOptional({
    enum: RETURN_RESPONSE_CONTENT,
    isArray: true,
    description:
      "Validated against Talon.One's values and otherwise ignored: the answer always holds customerSession, " +
      'return and previousReturns; the other entities are never returned (the engine has no rule engine, ' +
      'profile or loyalty service)',
  })
  @IsOptional()
  @IsArray()
  @IsIn(RETURN_RESPONSE_CONTENT, { each: true })
  responseContent?: (typeof RETURN_RESPONSE_CONTENT)[number][];
}
