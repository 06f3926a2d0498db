import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { CartItemInput } from '@session-engine/session-domain';
import { SessionCommandRunner, type CommandReply } from '../../shared/session-command.runner';
import { integrationState, stateOf } from '../../shared/session-response';
import { AddCartItemsCommand } from './add-cart-items.command';

@CommandHandler(AddCartItemsCommand)
export class AddCartItemsHandler implements ICommandHandler<AddCartItemsCommand> {
  constructor(private readonly runner: SessionCommandRunner) {}

  execute({ request, body }: AddCartItemsCommand): Promise<CommandReply> {
    const cartItems = body.cartItems as CartItemInput[];
    return this.runner.run(
      request,
      (stamp) => ({ type: 'AddCartItems', ...stamp, cartItems }),
      (result) => integrationState(stateOf(result)),
    );
  }
}
