import { Query } from '@nestjs/cqrs';
import type { LoadedSession } from '@session-engine/event-store';

export class GetSessionQuery extends Query<LoadedSession> {
  constructor(
    readonly applicationId: number,
    readonly integrationId: string,
  ) {
    super();
  }
}
