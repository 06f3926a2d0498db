import { ApiProperty } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsDefined } from 'class-validator';
import { CartItemDto } from '../../shared/cart-item.dto';
import { NestedObject } from '../../shared/validators';

export class AddCartItemsRequestDto {
  @ApiProperty({ type: [CartItemDto], maxItems: 1000, description: 'Appended at the end of the cart' })
  @IsDefined()
  @IsArray()
  @ArrayMaxSize(1000, { context: { code: 'LIMIT_EXCEEDED' } })
  @NestedObject(() => CartItemDto, { each: true, message: 'a cart item must be a JSON object' })
  cartItems: CartItemDto[];
}
