import { Command } from '@nestjs/cqrs';
import type { CommandReply, CommandRequest } from '../../shared/session-command.runner';

export class CloseSessionCommand extends Command<CommandReply> {
  constructor(readonly request: CommandRequest) {
    super();
  }
}
