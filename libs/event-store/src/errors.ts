/**
 * Refusals that come from the write path rather than the domain. Like `DomainError` they carry a stable
 * code; the HTTP layer maps them to statuses in its one exception filter.
 */
import type { SessionCommand } from '@session-engine/session-domain';

export class PreconditionFailedError extends Error {
  override readonly name = 'PreconditionFailedError';
  readonly code = 'PRECONDITION_FAILED';
  /** `expectedRevision` null: the session was expected not to exist (`If-None-Match: *`). */
  constructor(
    readonly expectedRevision: bigint | null,
    readonly actualRevision: bigint | null,
  ) {
    super(
      expectedRevision === null
        ? `If-None-Match * expected no session, and this one exists (revision ${actualRevision})`
        : `If-Match expected revision ${expectedRevision}, the session is at ${actualRevision === null ? 'no revision (it does not exist)' : `revision ${actualRevision}`}`,
    );
  }
}

export class ConcurrentUpdateError extends Error {
  override readonly name = 'ConcurrentUpdateError';
  readonly code = 'CONCURRENT_UPDATE';
  constructor(
    readonly streamName: string,
    readonly attempts: number,
  ) {
    super(`The session kept changing concurrently; gave up after ${attempts} attempts`);
  }
}

/**
 * The event store refused an append as larger than its maximum append size. The domain keeps what it
 * decides under `SESSION_LIMITS.eventBytes`, so this means a server configured with a smaller limit, or a
 * session written before that limit: nothing was appended.
 */
export class AppendTooLargeError extends Error {
  override readonly name = 'AppendTooLargeError';
  readonly code = 'LIMIT_EXCEEDED';
  constructor(
    readonly streamName: string,
    readonly maxAppendSize: number | undefined,
  ) {
    super(
      `The event store refused these events as too large${maxAppendSize ? ` (it takes at most ${maxAppendSize} bytes per append)` : ''}; nothing was recorded`,
    );
  }
}

/**
 * The session's stream was deleted for good by an operator (tombstoned: an erasure request, say). The engine
 * has no delete command; this is what every read of such a session and every command on it meets, whether its
 * state came from a read (which fails) or from the cache (the append fails): the stream can never be read or
 * written again, so the session neither exists nor can be created under this id again. `command` is the
 * command that met it (absent for a read of the session): the API answers an UpdateSession (create-or-update),
 * which would otherwise create the missing session, 409 `SESSION_DELETED`, and a read or any other command 404
 * `SESSION_NOT_FOUND` saying that the session was deleted.
 */
export class SessionDeletedError extends Error {
  override readonly name = 'SessionDeletedError';
  /** The API's command metrics label a command that ended so with `outcome="session_deleted"`. */
  readonly code = 'SESSION_DELETED';
  constructor(
    readonly streamName: string,
    readonly integrationId: string,
    readonly command: SessionCommand['type'] | undefined,
    override readonly cause?: unknown,
  ) {
    super(`Session ${integrationId} was deleted for good (its stream ${streamName} is tombstoned)`);
  }
}
