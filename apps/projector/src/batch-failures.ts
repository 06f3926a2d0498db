/**
 * What the projector does with a batch that did not commit: which kind of failure it was (a bounded label
 * for `projector_batch_failures_total`), how long to wait before the next attempt, and what of the error
 * may be logged. The database's own error text is kept, but never its `detail` / `where`, which quote the
 * row (PostgreSQL: "Failing row contains (…)", "JSON data, line 1: …"): the payload of an event stays out
 * of the logs.
 */
import { UnreadableSessionEventError } from '@session-engine/event-store';
import {
  CheckpointConflictError,
  ProjectorLockLostError,
  readModelsDamaged,
} from '@session-engine/read-models';

export const BATCH_FAILURE_KINDS = [
  'rejected',
  'unavailable',
  'conflict',
  'lock_lost',
  'unreadable',
  'ahead_of_log',
  'refused',
  'other',
] as const;

/**
 * - `rejected`: the database refused what the batch writes (a row too large for an index, a character it
 *   cannot store, a constraint or trigger) — the same batch fails again until the read models or the data
 *   change;
 * - `unavailable`: the database could not be reached or ran out of a resource (connection, disk, memory);
 * - `conflict`: another writer moved a checkpoint (the batch rolled back; resumed from the stored one);
 * - `lock_lost`: the read-model lock was lost inside the batch;
 * - `unreadable`: an event this build cannot read (an unknown type, or a schema version above the ones it reads:
 *   a newer writer, a rollback) — it fails on every attempt until a build that reads it is deployed;
 * - `ahead_of_log`: no batch at all — the read models' checkpoint is past the end of the event log (the store
 *   was restored from a backup or replaced); nothing is projected until they are rebuilt;
 * - `refused`: the database refuses the projector's statements whatever the batch holds — a privilege revoked
 *   (42501), a table, column or schema missing (42P01, 42703, 3F000; SQLite "no such table"), a read-only or
 *   otherwise unusable transaction (class 25), a statement cancelled or a lock not granted (57014, 55P03), the
 *   role or database refused (28, 3D), a damaged file or page (SQLite SQLITE_CORRUPT, SQLITE_NOTADB; PostgreSQL
 *   XX001, XX002) — retried whole, never narrowed down to blame one event: an operator's to fix;
 * - `other`: anything else.
 */
export type BatchFailureKind = (typeof BATCH_FAILURE_KINDS)[number];

/** Kinds where the batch's own contents may be the cause: retried in smaller batches to find the event. */
export const CONTENT_FAILURES: ReadonlySet<BatchFailureKind> = new Set(['rejected', 'other']);

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/** SQLite result codes (better-sqlite3's `code`) for a row or value it refuses. */
const SQLITE_REJECTED = /^SQLITE_(CONSTRAINT|TOOBIG|MISMATCH|RANGE)/;
/** SQLite result codes for a database it cannot use right now. */
const SQLITE_UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|NOMEM|READONLY|PROTOCOL)/;
/** SQLite result codes for a database it will not let write whatever the batch holds (the OS, an authorizer). */
const SQLITE_REFUSED = /^SQLITE_(PERM|AUTH)/;

/** Errors by shape, not `instanceof`: a native module's errors (better-sqlite3) may come from another realm. */
function fieldOf(error: unknown, key: string): string | undefined {
  const value =
    typeof error === 'object' && error !== null ? (error as Record<string, unknown>)[key] : undefined;
  return typeof value === 'string' ? value : undefined;
}

export function classifyBatchError(error: unknown): BatchFailureKind {
  const name = fieldOf(error, 'name');
  if (error instanceof CheckpointConflictError || name === 'CheckpointConflictError') return 'conflict';
  if (error instanceof ProjectorLockLostError || name === 'ProjectorLockLostError') return 'lock_lost';
  if (error instanceof UnreadableSessionEventError || name === 'UnreadableSessionEventError')
    return 'unreadable';
  const code = fieldOf(error, 'code') ?? '';
  if (SQLITE_REJECTED.test(code)) return 'rejected';
  if (SQLITE_UNAVAILABLE.test(code) || NETWORK_CODES.has(code)) return 'unavailable';
  // A damaged file or page (`readModelsDamaged`): restored or rebuilt by an operator, whatever the batch holds.
  if (SQLITE_REFUSED.test(code) || readModelsDamaged(error)) return 'refused';
  if (/^[0-9A-Z]{5}$/.test(code)) {
    // PostgreSQL SQLSTATE: 22 data exception (e.g. 22P05 "unsupported Unicode escape sequence"), 23 integrity
    // constraint, 54 program limit ("index row size exceeds maximum"), P0001 raised by a trigger.
    if (/^(22|23|54)/.test(code) || code === 'P0001') return 'rejected';
    // 08 connection, 53 insufficient resources (disk full, too many connections), 57P0x shutting down.
    if (/^(08|53)/.test(code) || /^57P0/.test(code)) return 'unavailable';
    const message = fieldOf(error, 'message') ?? '';
    // 42501 for a row a row-level security policy refuses: the row's content, like a constraint.
    if (code === '42501' && /row-level security/i.test(message)) return 'rejected';
    // 42 access rule or missing object, 3F/3D no such schema/database, 28 authorization, 25 transaction state
    // (read-only, idle timeout), 57014 cancelled, 55P03 lock not available: not what any event holds.
    if (/^(42|3F|3D|28|25)/.test(code) || code === '57014' || code === '55P03') return 'refused';
    // 40001 serialization failure, 40P01 deadlock: another writer's timing, retried whole.
    if (code === '40001' || code === '40P01') return 'unavailable';
    return 'other';
  }
  const message = fieldOf(error, 'message') ?? '';
  if (code === 'SQLITE_ERROR' && /no such (table|column)/.test(message)) return 'refused';
  if (/Connection terminated|connection timeout|Client has encountered a connection error/i.test(message))
    return 'unavailable';
  return 'other';
}

/**
 * The error without the parts that may quote the row (see the top of this file). Logged under `error`:
 * pino's `err` serializer would rename its type and add a stack.
 */
export function describeBatchError(error: unknown): Record<string, string> {
  const message = fieldOf(error, 'message');
  if (message === undefined) return { message: String(error) };
  // pg's DatabaseError is named after the protocol message ("error"): its class says more.
  const constructor = (error as { constructor?: { name?: unknown } }).constructor?.name;
  const type =
    typeof constructor === 'string' && constructor !== 'Object'
      ? constructor
      : (fieldOf(error, 'name') ?? 'Error');
  const described: Record<string, string> = { type, message };
  for (const key of ['code', 'table', 'constraint', 'schema', 'routine']) {
    const value = fieldOf(error, key);
    if (value !== undefined && value !== '') described[key] = value;
  }
  return described;
}

export const RETRY_MIN_MS = 100;
export const RETRY_MAX_MS = 30_000;

/**
 * Wait before retrying after `failures` consecutive failed batches (1, 2, …): 100 ms doubling up to 30 s,
 * with "equal jitter" — a random point in the upper half of the step, so projectors retrying against one
 * database spread out while, below the cap, every wait is at least as long as any one before it.
 */
export function retryDelayMs(
  failures: number,
  random: () => number = Math.random,
  min = RETRY_MIN_MS,
  max = RETRY_MAX_MS,
): number {
  const step = Math.min(max, min * 2 ** Math.min(Math.max(failures, 1) - 1, 30));
  return Math.round(step / 2 + random() * (step / 2));
}
