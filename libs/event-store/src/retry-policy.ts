/**
 * How `SessionCommandHandler.handle` retries a lost optimistic-concurrency race: a bounded number of attempts with
 * exponential back-off and full jitter, so writers from several processes spread out instead of colliding
 * again in lock-step.
 */
export interface RetryPolicy {
  /** Total attempts, the first one included. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 10, baseDelayMs: 2, maxDelayMs: 100 };

/** Delay before attempt `attempt + 1` after `attempt` failed (attempt counts from 1). `random` ∈ [0, 1). */
export function backoffDelayMs(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * (ceiling + 1));
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
