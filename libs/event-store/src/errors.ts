/**
 * Refusals that come from the write path rather than the domain. Like `DomainError` they carry a stable
 * code; the HTTP layer maps them to statuses in its one exception filter. The errors the adapter itself
 * throws (`StreamRevisionConflict`, `AppendTooLargeError`, `EventStoreTimeoutError`, …) are defined in
 * `esdb-client.adapter.ts`, which imports nothing from here: some of these extend them, and the import graph
 * stays acyclic.
 */
import { DomainError, DomainErrorCode, type SessionCommand } from '@session-engine/session-domain';
import { EventStoreTimeoutError, EventStoreWriteInterruptedError } from './esdb-client.adapter';

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
 * A write of the profile claim (`ProfileClaims.claim`: the first claim, a takeover, a confirmation) that got
 * no answer within the call deadline. The claim comes before the session append, which was therefore never
 * sent: the command was not applied, and a retry (with the same `Idempotency-Key`, if it had one) is safe. The
 * claim itself may still be applied by a hung store that resumes; it names this session, so a retry takes it
 * as its own. Still an `EventStoreTimeoutError` (503, and the commands queued behind it give up at once).
 */
export class ClaimWriteTimeoutError extends EventStoreTimeoutError {
  override readonly name: string = 'ClaimWriteTimeoutError';
  constructor(timeout: EventStoreTimeoutError) {
    super(timeout.operation, timeout.streamName, timeout.timeoutMs, timeout);
  }
}

/** As `ClaimWriteTimeoutError`, for a claim write whose connection failed (`EventStoreWriteInterruptedError`). */
export class ClaimWriteInterruptedError extends EventStoreWriteInterruptedError {
  override readonly name: string = 'ClaimWriteInterruptedError';
  constructor(interrupted: EventStoreWriteInterruptedError) {
    super(interrupted.operation, interrupted.streamName, interrupted);
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

/**
 * A keyed command (`Idempotency-Key`) was applied, and its session stream no longer holds its events: an
 * operator soft-deleted the stream since (docs/command-api.md, "Deleted session streams"), and perhaps a PUT
 * then created the session anew, whose events continue the stream's revisions after a gap. The first response,
 * which the key must return again, can no longer be rebuilt, and the session as it is now is not that response.
 * Answered as a session that does not exist (any more): a `DomainError` `SESSION_NOT_FOUND` (404), whose message
 * says why. A tombstoned stream is `SessionDeletedError` instead.
 */
export class AppliedCommandDeletedError extends DomainError {
  constructor(
    readonly streamName: string,
    readonly integrationId: string,
    /** The stream holds events again: the session was created anew after the delete. */
    readonly recreated: boolean,
  ) {
    super(
      DomainErrorCode.SessionNotFound,
      `Customer session ${JSON.stringify(integrationId)} was deleted after this request was applied (an operator ` +
        'deleted its stream in the event store), so the response its Idempotency-Key returns can no longer be given' +
        (recreated ? '; the session of this id now is another one, created anew since' : ''),
    );
  }
}
