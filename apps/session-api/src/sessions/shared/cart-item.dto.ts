import { ApiExtraModels, ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import { SESSION_LIMITS } from '@session-engine/session-domain';
import { IsInt, IsNumber, IsOptional, IsString, Length, MaxLength, Min } from 'class-validator';
import { IgnoredField, IsJsonObject, IsPriceMap, NestedObject } from './validators';

// The OpenAPI document states every limit the server refuses a value for, so that a client validating against
// it is refused nothing it let through (test/openapi.e2e-spec.ts, "request limits"): the validation pipe's, beside
// its decorators, and the domain's (SESSION_LIMITS), which no decorator here checks, as below.

/** Money (a price, a cost): at most 10¹⁵, which keeps every total a finite JSON number. */
export const MONEY_LIMITS = { minimum: 0, maximum: SESSION_LIMITS.maxMoney } as const;

/** Free-form attributes, as the domain bounds them (not expressible as schema keywords). */
export const ATTRIBUTES_DESCRIPTION =
  `≤ ${SESSION_LIMITS.attributesBytes / 1024} KiB serialized (UTF-8), at most ${SESSION_LIMITS.jsonDepth} levels ` +
  'deep; any key is data';

/** A cost map, session level and per cart item: at most 100 costs, names of 1..1000 characters. */
export const costMapSchema = () => ({
  type: 'object' as const,
  additionalProperties: { $ref: getSchemaPath(PriceDto) },
  maxProperties: SESSION_LIMITS.additionalCosts,
  description:
    `Cost name → {price}: at most ${SESSION_LIMITS.additionalCosts} costs, each name ` +
    `1..${SESSION_LIMITS.additionalCostNameLength} characters`,
});

const FINITE = { allowNaN: false, allowInfinity: false };
/** class-validator's own message is "… must be a number conforming to the specified constraints". */
const A_NUMBER = { message: '$property must be a finite number' };

export class ProductDto {
  @ApiProperty({ maxLength: 1000 })
  @IsString()
  @MaxLength(1000)
  name: string;
}

export class PriceDto {
  @ApiProperty(MONEY_LIMITS)
  price: number;
}

/** Read-only fields by name: their schema in a response, and what each is. */
type ReadOnlyFieldSchemas = Record<string, Record<string, unknown> & { description: string }>;

/**
 * The computed fields of a cart item (SPEC §1.1) and what each is in a response. They are no class fields: a
 * request may carry them, the DTO the pipe validates never does (`IgnoredField`).
 */
const COMPUTED_FIELDS: ReadOnlyFieldSchemas = {
  position: { type: 'integer', description: 'Index of the item in the cart, from 0' },
  returnedQuantity: { type: 'integer', description: 'Units of the item returned so far' },
  remainingQuantity: { type: 'integer', description: 'quantity − returnedQuantity' },
};
const COMPUTED = 'Read-only: a request may send it back, with any value; it is ignored';

const TIME = { type: 'string', format: 'date-time' } as const;

/**
 * The fields Talon.One's responses add to a cart item from its catalog and price adjustments (talon_one.js
 * `CartItem`), which the engine has not: a cart copied from a Talon.One response may carry them. Accepted and
 * ignored as the computed fields are; never stored, never returned.
 */
const TALON_ONE_FIELDS: ReadOnlyFieldSchemas = {
  catalogItemID: { type: 'integer', description: "Talon.One's catalog item ID" },
  selectedPriceType: {
    type: 'string',
    description: 'The price type Talon.One selected for the item (e.g. the price for members only)',
  },
  adjustmentReferenceId: {
    type: 'string',
    description: 'The reference of the price adjustment that gave the selected price',
  },
  adjustmentEffectiveFrom: { ...TIME, description: 'When that price adjustment took effect' },
  adjustmentEffectiveUntil: { ...TIME, description: 'When that price adjustment ends' },
  prices: {
    type: 'object',
    additionalProperties: {
      type: 'object',
      properties: {
        price: { type: 'number' },
        adjustmentContextId: { type: 'string' },
        adjustmentReferenceId: { type: 'string' },
        adjustmentEffectiveFrom: TIME,
        adjustmentEffectiveUntil: TIME,
      },
    },
    description: 'Price type → its price and price adjustment (Talon.One `PriceDetail`)',
  },
};
/** Every read-only cart item field a request may send back: accepted with any value, ignored. */
export const READ_ONLY_CART_ITEM_FIELDS: readonly string[] = [
  ...Object.keys(COMPUTED_FIELDS),
  ...Object.keys(TALON_ONE_FIELDS),
];

const FROM_TALON_ONE =
  'Read-only, from Talon.One: a request may send it back, with any value; it is ignored, never stored and ' +
  'never returned (the engine has no catalog or price adjustments)';

/** Accepts and ignores `fields` in a request, and documents them as read-only, `note` after each description. */
function ReadOnlyFields(fields: ReadOnlyFieldSchemas, note: string): ClassDecorator {
  return (target) => {
    for (const [name, { description, ...schema }] of Object.entries(fields)) {
      ApiPropertyOptional({ ...schema, readOnly: true, description: `${description}. ${note}` })(
        target.prototype as object,
        name,
      );
      IgnoredField()(target.prototype as object, name);
    }
  };
}

/**
 * Talon.One `CartItem`. An optional field sent as `null` is a field not given (generated SDK clients send unset
 * fields as null), as it is at the session level; `sku` and `quantity` stay required. The read-only fields of
 * Talon.One's responses are accepted with any value and ignored: Talon.One's SDKs have one CartItem model for
 * requests and responses, so a cart read with GET (or copied from a Talon.One response) and sent back carries
 * them — the computed ones (position, returnedQuantity, remainingQuantity) and those of Talon.One's catalog and
 * price adjustments (catalogItemID, selectedPriceType, adjustmentReferenceId, adjustmentEffectiveFrom,
 * adjustmentEffectiveUntil, prices). `IgnoredField`: no validator runs for them, and the domain takes only the
 * writable fields from an item.
 */
@ApiExtraModels(PriceDto)
// Class decorators run bottom-up: the computed fields are documented first.
@ReadOnlyFields(TALON_ONE_FIELDS, FROM_TALON_ONE)
@ReadOnlyFields(COMPUTED_FIELDS, COMPUTED)
export class CartItemDto {
  @ApiProperty({ minLength: 1, maxLength: 1000, example: 'SKU-1' })
  @IsString()
  @Length(1, 1000)
  sku: string;

  @ApiProperty({
    type: 'integer',
    minimum: 1,
    maximum: SESSION_LIMITS.quantityPerRequest,
    example: 1,
    description: `The quantities of one request's items add up to at most ${SESSION_LIMITS.quantityPerRequest}`,
  })
  @IsInt()
  @Min(1)
  quantity: number;

  @ApiPropertyOptional({ maxLength: 1000 })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  name?: string;

  @ApiPropertyOptional({ maxLength: 1000 })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  category?: string;

  @ApiPropertyOptional({ ...MONEY_LIMITS, example: 19.99 })
  @IsOptional()
  @IsNumber(FINITE, A_NUMBER)
  @Min(0)
  price?: number;

  @ApiPropertyOptional({ type: ProductDto })
  @IsOptional()
  @NestedObject(() => ProductDto, { message: 'product must be a JSON object {name}' })
  product?: ProductDto;

  @ApiPropertyOptional({ minimum: 0 })
  @IsOptional()
  @IsNumber(FINITE, A_NUMBER)
  @Min(0)
  weight?: number;

  @ApiPropertyOptional({ minimum: 0 })
  @IsOptional()
  @IsNumber(FINITE, A_NUMBER)
  @Min(0)
  height?: number;

  @ApiPropertyOptional({ minimum: 0 })
  @IsOptional()
  @IsNumber(FINITE, A_NUMBER)
  @Min(0)
  width?: number;

  @ApiPropertyOptional({ minimum: 0 })
  @IsOptional()
  @IsNumber(FINITE, A_NUMBER)
  @Min(0)
  length?: number;

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: ATTRIBUTES_DESCRIPTION })
  @IsOptional()
  @IsJsonObject()
  attributes?: Record<string, unknown>;

  @ApiPropertyOptional(costMapSchema())
  @IsOptional()
  @IsPriceMap()
  additionalCosts?: Record<string, PriceDto>;
}
