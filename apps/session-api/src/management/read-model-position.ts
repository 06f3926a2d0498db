import type { ReadModelQueries } from '@session-engine/read-models';
import { ApiError, ManagementErrorCode } from '../errors/api-error';

export const MIN_POSITION_TIMEOUT_MS = 5_000;
const POLL_MS = 10;

interface Waiter {
  target: bigint;
  deadline: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

const notReady = (processed: bigint, target: bigint): ApiError =>
  ApiError.of(
    503,
    ManagementErrorCode.NotReady,
    `The read models have processed position ${processed}, not yet ${target}; retry later`,
  );

/**
 * Requests waiting for the read models to reach their `minPosition`, served by one poll of the position every
 * POLL_MS for all of them: a poll per request made 1,500 waiting requests 150,000 queries a second (any
 * management key can ask for a position the log has not reached, and wait its 5 s).
 */
export class ReadModelPositionWaits {
  private readonly waiting = new Set<Waiter>();
  private polling = false;

  constructor(
    private readonly queries: Pick<ReadModelQueries, 'processedPosition'>,
    private readonly pollMs = POLL_MS,
  ) {}

  /** Resolves once every projection has committed `target`; NOT_READY after `timeoutMs`. */
  reached(target: bigint, timeoutMs = MIN_POSITION_TIMEOUT_MS): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.add({ target, deadline: Date.now() + timeoutMs, resolve, reject });
      if (!this.polling) {
        this.polling = true;
        void this.poll();
      }
    });
  }

  /** Polls while anyone waits. Ends (and clears `polling`) in the same turn as it finds no one waiting. */
  private async poll(): Promise<void> {
    while (this.waiting.size > 0) {
      let processed: bigint;
      try {
        processed = await this.queries.processedPosition();
      } catch (error) {
        // The read models cannot be read: each waiting request fails as its own query would have.
        for (const waiter of this.waiting) waiter.reject(error);
        this.waiting.clear();
        break;
      }
      const now = Date.now();
      for (const waiter of this.waiting) {
        if (processed >= waiter.target) waiter.resolve();
        else if (now >= waiter.deadline) waiter.reject(notReady(processed, waiter.target));
        else continue;
        this.waiting.delete(waiter);
      }
      if (this.waiting.size > 0) await new Promise((resolve) => setTimeout(resolve, this.pollMs));
    }
    this.polling = false;
  }
}

const waitsOf = new WeakMap<object, ReadModelPositionWaits>();

/**
 * Read-your-writes for eventually consistent read models: waits until every projection has committed
 * `minPosition` (the checkpoints live in the read-model database, so this works whether the projector runs
 * in this process or in its own), and answers 503 NOT_READY after 5 s. A request whose position is reached
 * reads it once; the requests waiting on one read-model database share its polls.
 */
export async function awaitReadModels(
  queries: ReadModelQueries,
  minPosition: string | undefined,
  timeoutMs = MIN_POSITION_TIMEOUT_MS,
): Promise<void> {
  if (minPosition === undefined) return;
  const target = BigInt(minPosition);
  // A position already reached is answered at once, not at the next shared poll.
  if ((await queries.processedPosition()) >= target) return;
  let waits = waitsOf.get(queries);
  if (waits === undefined) {
    waits = new ReadModelPositionWaits(queries);
    waitsOf.set(queries, waits);
  }
  await waits.reached(target, timeoutMs);
}
