import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { SessionCommandRunner, type CommandReply } from '../../shared/session-command.runner';
import { integrationState, stateOf } from '../../shared/session-response';
import { ReopenSessionCommand } from './reopen-session.command';

@CommandHandler(ReopenSessionCommand)
export class ReopenSessionHandler implements ICommandHandler<ReopenSessionCommand> {
  constructor(private readonly runner: SessionCommandRunner) {}

  execute({ request }: ReopenSessionCommand): Promise<CommandReply> {
    return this.runner.run(
      request,
      (stamp) => ({ type: 'ReopenSession', ...stamp }),
      (result) => integrationState(stateOf(result)),
    );
  }
}
