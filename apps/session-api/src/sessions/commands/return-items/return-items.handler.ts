import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { randomSafeId } from '@session-engine/event-store';
import type { ReturnedCartItemInput } from '@session-engine/session-domain';
import { SessionCommandRunner, type CommandReply } from '../../shared/session-command.runner';
import { returnIdOf, returnState, stateOf } from '../../shared/session-response';
import { ReturnItemsCommand } from './return-items.command';

@CommandHandler(ReturnItemsCommand)
export class ReturnItemsHandler implements ICommandHandler<ReturnItemsCommand> {
  constructor(private readonly runner: SessionCommandRunner) {}

  execute({ request, body }: ReturnItemsCommand): Promise<CommandReply> {
    const returnId = randomSafeId();
    const returnedCartItems = body.return.returnedCartItems.map((item) => ({
      ...item,
    })) as ReturnedCartItemInput[];
    return this.runner.run(
      request,
      (stamp) => ({ type: 'ReturnItems', ...stamp, returnId, returnedCartItems }),
      // A replayed command answers with the return its first run recorded (that run drew another id).
      (result) => returnState(stateOf(result), returnIdOf(result.events) ?? returnId),
    );
  }
}
