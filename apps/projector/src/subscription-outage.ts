/**
 * What the projector's log says while its subscription to the event store keeps failing, and when it is back.
 * The resubscribe loop tries again every 5 s at most (100 ms doubling), for as long as the store is away: one
 * line per attempt, each with a stack trace or two, buried everything else. So, as for a batch that keeps
 * failing (`batchFailed` in projector.ts):
 *
 * - the first failure of an outage is logged at `warn` with a short reason — a plain "unreachable" (refused or
 *   dropped connection, a deadline, a node that is not the leader) or the store ending the subscription, without
 *   a stack: it says nothing an operator needs; anything else, unexpected, with its stack (once);
 * - then at most one `warn` line a minute while it lasts (how long, how many attempts, how many were not
 *   logged), the attempts in between at `debug`;
 * - and one `info` line when the subscription is back — when it first receives something from the store (its
 *   confirmation, an event, caught-up or a checkpoint), not when it is merely opened — with how long it was down.
 *   After an unexpected error, only once it reaches the live end: such a subscription may reach the store each
 *   time, then fail again on the same thing. The live end counts only once the events before it have been
 *   handled (the adapter's caught-up signal comes in their order), so one that fails on them never ends it.
 *
 * An event the projector cannot read is not an outage: the subscription hands on the events before it and the
 * projector reports it as a batch that fails (`UnreadableSessionEventError`, `unreadable` in projector.ts).
 */
import { isEventStoreUnreachable } from '@session-engine/event-store';
import type { Logger } from 'pino';

/** At most one line a minute while the subscription keeps failing, as for a batch that keeps failing. */
export const OUTAGE_LOG_INTERVAL_MS = 60_000;

/** The longest reason logged: a message from the client, not a dump. */
const MAX_REASON_LENGTH = 300;

/** The subscription ended without an error: the store closed it (a store shutting down does so). */
export class SubscriptionEndedError extends Error {
  override readonly name = 'SubscriptionEndedError';
  constructor() {
    super('the event store ended the subscription');
  }
}

/**
 * - `unreachable`: the store could not be reached or did not answer (gRPC UNAVAILABLE, a deadline, not the
 *   leader);
 * - `ended`: the store ended the subscription (it is shutting down);
 * - `error`: anything else — unexpected, logged with its stack.
 */
export type SubscriptionFailureKind = 'unreachable' | 'ended' | 'error';

export interface SubscriptionFailure {
  kind: SubscriptionFailureKind;
  /** One line: the error's message, without the client's empty "Resolution note". */
  reason: string;
}

export function describeSubscriptionFailure(error: unknown): SubscriptionFailure {
  const kind: SubscriptionFailureKind =
    error instanceof SubscriptionEndedError
      ? 'ended'
      : isEventStoreUnreachable(error)
        ? 'unreachable'
        : 'error';
  const message = error instanceof Error ? error.message : String(error);
  const reason = message
    .replace(/\s*Resolution note:\s*$/, '')
    .replace(/\s+/g, ' ')
    .trim();
  return {
    kind,
    reason: reason.length > MAX_REASON_LENGTH ? `${reason.slice(0, MAX_REASON_LENGTH - 1)}…` : reason,
  };
}

/**
 * An unexpected error as one object with one stack, logged under `error` (as a batch's error is): pino's `err`
 * serializer would also copy every enumerable field, such as the client's `_raw` — the same error again, with a
 * second stack.
 */
function withStack(error: unknown): Record<string, string> {
  if (!(error instanceof Error)) return { message: String(error) };
  const code = (error as { code?: unknown }).code;
  return {
    type: error.constructor?.name ?? error.name,
    message: error.message,
    ...(code === undefined ? {} : { code: String(code) }),
    ...(error.stack === undefined ? {} : { stack: error.stack }),
  };
}

interface Outage {
  since: number;
  attempts: number;
  lastLoggedAt: number;
  /** Attempts since the last line that were logged at debug only. */
  suppressed: number;
  /** What the last attempt failed on. */
  lastKind: SubscriptionFailureKind;
}

/** The failures of the subscription in a row, until it receives from the store again. */
export class SubscriptionOutage {
  private outage: Outage | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
    private readonly intervalMs = OUTAGE_LOG_INTERVAL_MS,
  ) {}

  /** Failures since the subscription last received from the store. */
  get down(): boolean {
    return this.outage !== undefined;
  }

  /**
   * The subscription failed (before or after it received anything); the loop resubscribes from the committed
   * `position` in `retryInMs`.
   */
  failed(error: unknown, context: { position: string; retryInMs: number }): void {
    const now = this.now();
    const { kind, reason } = describeSubscriptionFailure(error);
    const outage = this.outage;
    if (outage === undefined) {
      this.outage = { since: now, attempts: 1, lastLoggedAt: now, suppressed: 0, lastKind: kind };
      if (kind === 'error') {
        this.logger.warn(
          { kind, reason, error: withStack(error), ...context },
          'projector subscription failed; resubscribing',
        );
      } else {
        this.logger.warn(
          { kind, reason, ...context },
          kind === 'ended'
            ? 'projector subscription ended by the event store; resubscribing until it answers'
            : 'projector cannot reach the event store; resubscribing until it answers',
        );
      }
      return;
    }
    outage.attempts += 1;
    outage.lastKind = kind;
    const fields = { kind, reason, attempts: outage.attempts, downForMs: now - outage.since, ...context };
    if (now - outage.lastLoggedAt >= this.intervalMs) {
      this.logger.warn(
        { ...fields, suppressed: outage.suppressed },
        'projector subscription still failing; resubscribing',
      );
      outage.lastLoggedAt = now;
      outage.suppressed = 0;
    } else {
      outage.suppressed += 1;
      this.logger.debug(fields, 'projector subscription failed again');
    }
  }

  /**
   * The subscription received from the store (`live`: it reached the live end, every event before it handled).
   * Ends an outage, logged at info with how long it lasted — unless its last failure was unexpected (`error`)
   * and the subscription has not reached the live end: a store that answers does not cure that, and every
   * attempt would otherwise log the outage's end and its start again, with its back-off back at the start.
   * Returns `none` when there was no outage (the caller logs a first subscription itself), `ended`, or `ongoing`.
   */
  received(fromPosition: string, live: boolean): 'none' | 'ended' | 'ongoing' {
    const outage = this.outage;
    if (outage === undefined) return 'none';
    if (outage.lastKind === 'error' && !live) return 'ongoing';
    this.outage = undefined;
    this.logger.info(
      { downForMs: this.now() - outage.since, failedAttempts: outage.attempts, fromPosition },
      'projector subscription is back: the event store answers again',
    );
    return 'ended';
  }

  /** Forgets an outage without a word (the projector stops, or lost the read-model lock). */
  reset(): void {
    this.outage = undefined;
  }
}
