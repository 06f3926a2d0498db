import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsNumber, IsOptional, IsString, Length, MaxLength, Min } from 'class-validator';
import { IsJsonObject, IsPriceMap, NestedObject } from './validators';

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
  @ApiProperty({ minimum: 0 })
  price: number;
}

/**
 * Talon.One `CartItem`, writable fields only (position, returnedQuantity and remainingQuantity are computed).
 * An optional field sent as `null` is a field not given (generated SDK clients send unset fields as null), as
 * it is at the session level; `sku` and `quantity` stay required.
 */
export class CartItemDto {
  @ApiProperty({ minLength: 1, maxLength: 1000, example: 'SKU-1' })
  @IsString()
  @Length(1, 1000)
  sku: string;

  @ApiProperty({ minimum: 1, example: 1 })
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

  @ApiPropertyOptional({ minimum: 0, example: 19.99 })
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

  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  @IsOptional()
  @IsJsonObject()
  attributes?: Record<string, unknown>;

  @ApiPropertyOptional({ type: 'object', additionalProperties: { $ref: '#/components/schemas/PriceDto' } })
  @IsOptional()
  @IsPriceMap()
  additionalCosts?: Record<string, PriceDto>;
}
