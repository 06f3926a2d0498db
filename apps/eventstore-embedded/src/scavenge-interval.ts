import { DEFAULT_SCAVENGE_INTERVAL_MS } from './scavenge-defaults';

export { DEFAULT_SCAVENGE_INTERVAL_MS };

/** Bounds of EMBEDDED_EVENTSTORE_SCAVENGE_INTERVAL_MS besides 0 (never): a minute to a day. */
export const SCAVENGE_INTERVAL_RANGE = { min: 60_000, max: 24 * 60 * 60 * 1000 } as const;

/**
 * EMBEDDED_EVENTSTORE_SCAVENGE_INTERVAL_MS (or `--scavenge-interval-ms`) as the API and the standalone store
 * both read it: unset → every hour; `0` → never; else whole milliseconds from a minute to a day. An error
 * message naming `source` for anything else.
 */
export function parseScavengeInterval(
  source: string,
  text: string | undefined,
): { value: number } | { error: string } {
  if (text === undefined) return { value: DEFAULT_SCAVENGE_INTERVAL_MS };
  const ms = /^\d{1,9}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (ms === 0 || (ms >= SCAVENGE_INTERVAL_RANGE.min && ms <= SCAVENGE_INTERVAL_RANGE.max))
    return { value: ms };
  return {
    error:
      `${source}: "${text}" is not 0 (no scavenge) or a whole number of milliseconds from ` +
      `${SCAVENGE_INTERVAL_RANGE.min} to ${SCAVENGE_INTERVAL_RANGE.max} (how often the embedded event store ` +
      `scavenges its log; default ${DEFAULT_SCAVENGE_INTERVAL_MS})`,
  };
}
