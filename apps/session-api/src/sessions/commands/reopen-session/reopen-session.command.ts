import { Command } from '@nestjs/cqrs';
import type { CommandReply, CommandRequest } from '../../shared/session-command.runner';

export class ReopenSessionCommand extends Command<CommandReply> {
  constructor(readonly request: CommandRequest) {
    super();
  }
}
