import { AddCartItemsController } from './commands/add-cart-items/add-cart-items.controller';
import { AddCartItemsHandler } from './commands/add-cart-items/add-cart-items.handler';
import { CancelSessionController } from './commands/cancel-session/cancel-session.controller';
import { CancelSessionHandler } from './commands/cancel-session/cancel-session.handler';
import { CloseSessionController } from './commands/close-session/close-session.controller';
import { CloseSessionHandler } from './commands/close-session/close-session.handler';
import { ReopenSessionController } from './commands/reopen-session/reopen-session.controller';
import { ReopenSessionHandler } from './commands/reopen-session/reopen-session.handler';
import { ReturnItemsController } from './commands/return-items/return-items.controller';
import { ReturnItemsHandler } from './commands/return-items/return-items.handler';
import { UpdateSessionController } from './commands/update-session/update-session.controller';
import { UpdateSessionHandler } from './commands/update-session/update-session.handler';
import { GetSessionController } from './queries/get-session/get-session.controller';
import { GetSessionHandler } from './queries/get-session/get-session.handler';

export const SESSION_CONTROLLERS = [
  UpdateSessionController,
  GetSessionController,
  AddCartItemsController,
  CloseSessionController,
  CancelSessionController,
  ReturnItemsController,
  ReopenSessionController,
];

/** Controllers that read a JSON body (the body middleware is bound to them). */
export const BODY_CONTROLLERS = SESSION_CONTROLLERS.filter(
  (controller) => controller !== GetSessionController,
);

export const SESSION_COMMAND_HANDLERS = [
  UpdateSessionHandler,
  AddCartItemsHandler,
  CloseSessionHandler,
  CancelSessionHandler,
  ReturnItemsHandler,
  ReopenSessionHandler,
];

export const SESSION_QUERY_HANDLERS = [GetSessionHandler];
