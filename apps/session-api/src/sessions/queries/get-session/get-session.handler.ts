import { QueryHandler, type IQueryHandler } from '@nestjs/cqrs';
import { SessionCommandHandler, type LoadedSession } from '@session-engine/event-store';
import { GetSessionQuery } from './get-session.query';

/** Read-your-writes: the session folded from its stream (cached state + everything after it). */
@QueryHandler(GetSessionQuery)
export class GetSessionHandler implements IQueryHandler<GetSessionQuery> {
  constructor(private readonly sessions: SessionCommandHandler) {}

  execute({ applicationId, integrationId }: GetSessionQuery): Promise<LoadedSession> {
    return this.sessions.loadSession(applicationId, integrationId);
  }
}
