/**
 * Refusals that come from the write path rather than the domain. Like `DomainError` they carry a stable
 * code; the HTTP layer maps them to statuses in its one exception filter.
 */
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
