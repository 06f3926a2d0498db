import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { SessionCommandRunner, type CommandReply } from '../../shared/session-command.runner';
import { integrationState, stateOf } from '../../shared/session-response';
import { CloseSessionCommand } from './close-session.command';

@CommandHandler(CloseSessionCommand)
export class CloseSessionHandler implements ICommandHandler<CloseSessionCommand> {
  constructor(private readonly runner: SessionCommandRunner) {}

  execute({ request }: CloseSessionCommand): Promise<CommandReply> {
    return this.runner.run(
      request,
      (stamp) => ({ type: 'CloseSession', ...stamp }),
      (result) => integrationState(stateOf(result)),
    );
  }
}
