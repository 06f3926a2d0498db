import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { sessionIdFor, sessionStreamName } from '@session-engine/event-store';
import type { SessionPatch } from '@session-engine/session-domain';
import { SessionCommandRunner, type CommandReply } from '../../shared/session-command.runner';
import { stateOf, updateSessionState } from '../../shared/session-response';
import { UpdateSessionCommand } from './update-session.command';

@CommandHandler(UpdateSessionCommand)
export class UpdateSessionHandler implements ICommandHandler<UpdateSessionCommand> {
  constructor(private readonly runner: SessionCommandRunner) {}

  execute({ request, body }: UpdateSessionCommand): Promise<CommandReply> {
    const patch = { ...body.customerSession } as SessionPatch;
    const echoed = request.dry ? (body.customerSession.evaluableCampaignIds ?? undefined) : undefined;
    const previousReturns = body.responseContent?.includes('previousReturns') === true;
    return this.runner.run(
      request,
      (stamp) => ({
        type: 'UpdateSession',
        ...stamp,
        sessionId: sessionIdFor(sessionStreamName(stamp.applicationId, stamp.integrationId)),
        patch,
      }),
      (result) => updateSessionState(stateOf(result), echoed, previousReturns),
    );
  }
}
