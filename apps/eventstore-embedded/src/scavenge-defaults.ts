/** How often the embedded server scavenges its log by default (ms), and how long after start the first runs. */
export const DEFAULT_SCAVENGE_INTERVAL_MS = 60 * 60 * 1000;
export const SCAVENGE_FIRST_DELAY_MS = 60 * 1000;
