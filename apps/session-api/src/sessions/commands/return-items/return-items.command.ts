import { Command } from '@nestjs/cqrs';
import type { CommandReply, CommandRequest } from '../../shared/session-command.runner';
import type { ReturnItemsRequestDto } from './return-items.request.dto';

export class ReturnItemsCommand extends Command<CommandReply> {
  constructor(
    readonly request: CommandRequest,
    readonly body: ReturnItemsRequestDto,
  ) {
    super();
  }
}
