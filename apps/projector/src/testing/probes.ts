import type { Registry } from 'prom-client';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` every 25 ms until it returns something other than `false`, and returns that. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | false> | T | false,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** The projector_* samples of a registry, by name with labels (`projector_batch_failures_total{kind="rejected"}`). */
export async function scrape(registry: Registry): Promise<Record<string, number>> {
  const values: Record<string, number> = {};
  for (const match of (await registry.metrics()).matchAll(/^(projector_\w+(?:\{[^}]*\})?) (\S+)$/gm))
    values[match[1]!] = Number(match[2]);
  return values;
}
