/**
 * The first-session claim of a customer profile, in the profile's own stream `profile-{app}-{profileId}`.
 * The stream's first event names the first session; appending it with expected revision `no_stream` makes
 * the race safe (exactly one writer can create the stream), and reading it first makes the claim idempotent:
 * a retried or crashed command of the same session finds its own claim and is still the first session.
 * Later sessions append nothing — whether they are first is decided by reading that one event.
 */
import { StreamRevisionConflict, type EsdbClientAdapter, type JsonObject } from './esdb-client.adapter';
import { profileStreamName } from './serialization';

export const PROFILE_CLAIMED = 'ProfileFirstSessionClaimed';
const MAX_ATTEMPTS = 5;

export interface ClaimRequest {
  applicationId: number;
  profileId: string;
  sessionIntegrationId: string;
  sessionId: number;
  at: string;
  metadata: JsonObject;
}

export class ProfileClaims {
  constructor(private readonly store: EsdbClientAdapter) {}

  /** Whether the session would be the profile's first, without claiming (dry runs). */
  async peek(applicationId: number, profileId: string, sessionIntegrationId: string): Promise<boolean> {
    const winner = await this.winner(applicationId, profileId);
    return winner === undefined || winner === sessionIntegrationId;
  }

  /** Claims the profile for the session if nobody has; returns whether the session is the first one. */
  async claim(request: ClaimRequest): Promise<boolean> {
    const stream = profileStreamName(request.applicationId, request.profileId);
    for (let attempt = 1; ; attempt++) {
      const winner = await this.winner(request.applicationId, request.profileId);
      if (winner !== undefined) return winner === request.sessionIntegrationId;
      try {
        await this.store.appendToStream(
          stream,
          [
            {
              type: PROFILE_CLAIMED,
              data: {
                applicationId: request.applicationId,
                profileId: request.profileId,
                sessionIntegrationId: request.sessionIntegrationId,
                sessionId: request.sessionId,
                at: request.at,
              },
              metadata: request.metadata,
            },
          ],
          'no_stream',
        );
        return true;
      } catch (error) {
        // Someone else created the stream first: the next read tells who.
        if (!(error instanceof StreamRevisionConflict) || attempt >= MAX_ATTEMPTS) throw error;
      }
    }
  }

  private async winner(applicationId: number, profileId: string): Promise<string | undefined> {
    const [first] = await this.store.readStream(profileStreamName(applicationId, profileId), { maxCount: 1 });
    return first ? String(first.data.sessionIntegrationId) : undefined;
  }
}
