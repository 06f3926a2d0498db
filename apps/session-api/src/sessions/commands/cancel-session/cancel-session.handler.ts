import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { SessionCommandRunner, type CommandReply } from '../../shared/session-command.runner';
import { integrationState, stateOf } from '../../shared/session-response';
import { CancelSessionCommand } from './cancel-session.command';

@CommandHandler(CancelSessionCommand)
export class CancelSessionHandler implements ICommandHandler<CancelSessionCommand> {
  constructor(private readonly runner: SessionCommandRunner) {}

  execute({ request }: CancelSessionCommand): Promise<CommandReply> {
    return this.runner.run(
      request,
      (stamp) => ({ type: 'CancelSession', ...stamp }),
      (result) => integrationState(stateOf(result)),
    );
  }
}
