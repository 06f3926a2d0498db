/**
 * Today's UTC date (`YYYY-MM-DD`) for specs that read back "today's" analytics rows, taken when at least
 * `marginMs` remain before the next UTC midnight: closer to it, this first waits for that midnight to pass, so
 * that the events the spec writes within the margin all fall on the date it returns.
 */
export async function utcDayWithMargin(marginMs: number): Promise<string> {
  const untilMidnight = 86_400_000 - (Date.now() % 86_400_000);
  if (untilMidnight < marginMs) await new Promise((resolve) => setTimeout(resolve, untilMidnight + 100));
  return new Date().toISOString().slice(0, 10);
}

/** How long a spec file's analytics checks may take after `utcDayWithMargin`: the margin they ask for. */
export const ANALYTICS_SPEC_MARGIN_MS = 120_000;
