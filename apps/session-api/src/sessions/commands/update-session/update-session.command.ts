import { Command } from '@nestjs/cqrs';
import type { CommandReply, CommandRequest } from '../../shared/session-command.runner';
import type { UpdateSessionRequestDto } from './update-session.request.dto';

export class UpdateSessionCommand extends Command<CommandReply> {
  constructor(
    readonly request: CommandRequest,
    readonly body: UpdateSessionRequestDto,
  ) {
    super();
  }
}
