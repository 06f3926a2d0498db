/**
 * Refusals that come from the write path rather than the domain. Like `DomainError` they carry a stable
 * code; the HTTP layer maps them to statuses in its one exception filter.
 */
export class PreconditionFailedError extends Error {
  override readonly name = 'PreconditionFailedError';
  readonly code = 'PRECONDITION_FAILED';
  constructor(
    readonly expectedRevision: bigint,
    readonly actualRevision: bigint | null,
  ) {
    super(
      `If-Match expected revision ${expectedRevision}, the session is at ${actualRevision === null ? 'no revision (it does not exist)' : `revision ${actualRevision}`}`,
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
