import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsDefined, ValidateNested } from 'class-validator';
import { CartItemDto } from '../../shared/cart-item.dto';

export class AddCartItemsRequestDto {
  @ApiProperty({ type: [CartItemDto], maxItems: 1000, description: 'Appended at the end of the cart' })
  @IsDefined()
  @IsArray()
  @ArrayMaxSize(1000, { context: { code: 'LIMIT_EXCEEDED' } })
  @ValidateNested({ each: true })
  @Type(() => CartItemDto)
  cartItems: CartItemDto[];
}
