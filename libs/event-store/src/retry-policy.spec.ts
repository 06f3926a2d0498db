import { backoffDelayMs, DEFAULT_RETRY_POLICY } from './retry-policy';

describe('backoffDelayMs', () => {
  const policy = { maxAttempts: 10, baseDelayMs: 2, maxDelayMs: 100 };

  it('grows the ceiling exponentially from the base delay', () => {
    expect(backoffDelayMs(policy, 1, () => 0.999)).toBe(2);
    expect(backoffDelayMs(policy, 2, () => 0.999)).toBe(4);
    expect(backoffDelayMs(policy, 4, () => 0.999)).toBe(16);
  });

  it('never exceeds the maximum delay', () => {
    expect(backoffDelayMs(policy, 30, () => 0.999)).toBe(100);
  });

  it('draws a full jitter between zero and the ceiling', () => {
    expect(backoffDelayMs(policy, 5, () => 0)).toBe(0);
    const delays = new Set(Array.from({ length: 200 }, () => backoffDelayMs(policy, 6)));
    expect(delays.size).toBeGreaterThan(10);
    for (const delay of delays) expect(delay).toBeLessThanOrEqual(64);
  });

  it('bounds the default policy to ten attempts', () => {
    expect(DEFAULT_RETRY_POLICY.maxAttempts).toBe(10);
  });
});
