import { INSTANT_FORMS, parseInstant } from '@session-engine/read-models';

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/**
 * `state --at <time>`: an instant, the same on every machine. A date-time must carry its zone (`Z` or
 * `±hh:mm`): without one, JavaScript reads it in the machine's local zone, and the same command would show
 * different revisions on different machines. A bare date is that day's 00:00 UTC (and the CLI says so).
 */
export interface AtTime {
  /** As given on the command line. */
  input: string;
  /** The instant, ISO-8601 UTC with milliseconds (`2025-03-01T11:00:00.000Z`). */
  instant: string;
  epochMs: number;
  /** A bare date (`YYYY-MM-DD`), read as 00:00 UTC. */
  dateOnly: boolean;
}

/** The forms `--at` accepts, for its messages. */
export const AT_TIME_FORMS = INSTANT_FORMS;

/** The instant `--at` names; throws with the accepted forms when it names none (or no single one). */
export function parseAtTime(input: string): AtTime {
  const parsed = parseInstant(input);
  if (!parsed.ok) {
    const reason = {
      format: 'is not an ISO-8601 time',
      zone: 'has no time zone, so it would mean a different instant on every machine',
      range: parsed.problem === 'range' && DATE_ONLY.test(input) ? 'is not a date' : 'is not a valid time',
    }[parsed.problem];
    throw new Error(`--at ${input} ${reason}. Give ${AT_TIME_FORMS}.`);
  }
  const { epochMs, dateOnly } = parsed;
  return { input, instant: new Date(epochMs).toISOString(), epochMs, dateOnly };
}
