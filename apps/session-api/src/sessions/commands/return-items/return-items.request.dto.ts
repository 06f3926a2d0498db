import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsDefined,
  IsInt,
  IsString,
  Length,
  Min,
  ValidateIf,
} from 'class-validator';
import { IsOptionalNotNull, NestedObject } from '../../shared/validators';

export class ReturnedCartItemDto {
  @ApiPropertyOptional({
    type: 'integer',
    minimum: 0,
    description: 'Cart line; wins over sku. One of position or sku is required',
  })
  @ValidateIf((item: ReturnedCartItemDto) => item.position !== undefined || item.sku === undefined)
  @IsDefined({ message: 'position or sku is required' })
  @IsInt()
  @Min(0)
  position?: number;

  @ApiPropertyOptional({
    minLength: 1,
    maxLength: 1000,
    description: 'First line with this sku whose remaining quantity covers the request',
  })
  @IsOptionalNotNull()
  @IsString()
  @Length(1, 1000)
  sku?: string;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, description: 'Omitted: the whole remaining quantity' })
  @IsOptionalNotNull()
  @IsInt()
  @Min(1)
  quantity?: number;
}

export class ReturnDto {
  @ApiProperty({ type: [ReturnedCartItemDto] })
  @IsDefined()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(1000, { context: { code: 'LIMIT_EXCEEDED' } })
  @NestedObject(() => ReturnedCartItemDto, { each: true, message: 'a returned item must be a JSON object' })
  returnedCartItems: ReturnedCartItemDto[];
}

export class ReturnItemsRequestDto {
  @ApiProperty({ type: ReturnDto })
  @IsDefined()
  @NestedObject(() => ReturnDto, { message: 'return must be a JSON object' })
  return: ReturnDto;
}
