import type { ReadModelQueries } from '@session-engine/read-models';
import { ApiError, ManagementErrorCode } from '../errors/api-error';

export const MIN_POSITION_TIMEOUT_MS = 5_000;
const POLL_MS = 10;

/**
 * Read-your-writes for eventually consistent read models: waits until every projection has committed
 * `minPosition` (the checkpoints live in the read-model database, so this works whether the projector runs
 * in this process or in its own), and answers 503 NOT_READY after 5 s.
 */
export async function awaitReadModels(
  queries: ReadModelQueries,
  minPosition: string | undefined,
  timeoutMs = MIN_POSITION_TIMEOUT_MS,
): Promise<void> {
  if (minPosition === undefined) return;
  const target = BigInt(minPosition);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const processed = await queries.processedPosition();
    if (processed >= target) return;
    if (Date.now() >= deadline) {
      throw ApiError.of(
        503,
        ManagementErrorCode.NotReady,
        `The read models have processed position ${processed}, not yet ${target}; retry later`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
