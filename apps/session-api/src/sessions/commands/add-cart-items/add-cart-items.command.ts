import { Command } from '@nestjs/cqrs';
import type { CommandReply, CommandRequest } from '../../shared/session-command.runner';
import type { AddCartItemsRequestDto } from './add-cart-items.request.dto';

export class AddCartItemsCommand extends Command<CommandReply> {
  constructor(
    readonly request: CommandRequest,
    readonly body: AddCartItemsRequestDto,
  ) {
    super();
  }
}
