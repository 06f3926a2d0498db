/**
 * A store that stops answering in the middle of a command — the event store stopped (gracefully: its calls in
 * flight are CANCELLED; or killed: UNAVAILABLE, the connection dropped), or a read-model connection cut
 * (`pg_terminate_backend`, a restart, a network cut) — is no bug of the CLI and no finding of an audit: the
 * command says so in one line and exits 2 (could not run), whatever command and whichever pass it was in.
 */
import {
  EventStoreUnavailableError,
  EventStoreWriteFailedError,
  shownConnectionString,
} from '@session-engine/event-store';

/** gRPC status codes: CANCELLED (the server closed the call: a graceful stop), DEADLINE_EXCEEDED, UNAVAILABLE. */
const GRPC_STOPPED = new Set([1, 4, 14]);

/**
 * Whether `error` says the event store stopped answering: the adapter's `EventStoreUnavailableError`, or a
 * client error it passes on as it is (`readAll`'s, an append's raw gRPC error) with a gRPC code of a call the
 * server cancelled, could not carry, or left unanswered. A cancellation the client made itself (a read left
 * early) never gets here: it is not reported as an error.
 */
export function eventStoreStopped(error: unknown): boolean {
  // A write the store failed with an error of its own (a full disk) is no stop: it answers.
  if (error instanceof EventStoreWriteFailedError) return false;
  if (error instanceof EventStoreUnavailableError) return true;
  if (!(error instanceof Error)) return false;
  const { code, details } = error as { code?: unknown; details?: unknown };
  return typeof code === 'number' && GRPC_STOPPED.has(code) && details !== 'Cancelled on client';
}

/** What the event store's failure said (the client's message: `14 UNAVAILABLE: Connection dropped`). */
export function eventStoreFailure(error: unknown): string {
  const cause = error instanceof EventStoreUnavailableError ? error.cause : error;
  if (cause instanceof Error && cause.message) return cause.message;
  return error instanceof Error ? error.message : String(error);
}

/** `the event store at … stopped answering: <why>.` — the start of the line a command ends with. */
export function eventStoreStoppedLine(connectionString: string | undefined, error: unknown): string {
  return `the event store${connectionString ? ` at ${shownConnectionString(connectionString)}` : ''} stopped answering: ${eventStoreFailure(error)}.`;
}

/** Node's network errors that mean the connection is gone. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH']);
/** SQLSTATEs of a connection the server ended: admin_shutdown (pg_terminate_backend), crash_shutdown, cannot_connect_now. */
const ENDED_STATES = new Set(['57P01', '57P02', '57P03']);

/**
 * Whether `error` says the connection to the PostgreSQL read models was lost while a command used it: the
 * server ended it (SQLSTATE 57P01 `terminating connection due to administrator command`, a shutdown), a
 * connection exception (class 08), the socket failed, or pg's `Connection terminated unexpectedly` and
 * `Client has encountered a connection error and is not queryable` (a query on, or the rollback of, a
 * transaction whose connection went). A lock timeout or a cancelled statement is not: the connection is fine.
 */
export function readModelConnectionLost(error: unknown): boolean {
  return lostConnectionError(error) !== undefined;
}

/** The error (`error` or one of its causes: the read models' own errors wrap pg's) saying the connection was lost. */
function lostConnectionError(error: unknown, depth = 0): Error | undefined {
  if (!(error instanceof Error) || depth > 4) return undefined;
  const code = (error as { code?: unknown }).code;
  const lost =
    typeof code === 'string'
      ? ENDED_STATES.has(code) || code.startsWith('08') || NETWORK_CODES.has(code)
      : /^Connection terminated|is not queryable/.test(error.message);
  return lost ? error : lostConnectionError(error.cause, depth + 1);
}

/** `the connection to the read-model database (…) was lost: <why>.` — the start of the line a command ends with. */
export function readModelConnectionLostLine(where: string, error: unknown): string {
  const why = lostConnectionError(error)?.message ?? (error as Error).message;
  return `the connection to the read-model database (${where}) was lost: ${why}.`;
}
