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

export const AT_TIME_FORMS =
  'a date-time with its zone, 2025-03-01T12:00:00Z or 2025-03-01T12:00:00+01:00 (seconds and fractions optional), ' +
  'or a date, 2025-03-01 (read as 00:00 UTC)';

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?$/;

function validDate(year: number, month: number, day: number): boolean {
  const date = new Date(Date.UTC(year, month - 1, day));
  return (
    month >= 1 &&
    month <= 12 &&
    date.getUTCFullYear() === year &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day
  );
}

/** The instant `--at` names; throws with the accepted forms when it names none (or no single one). */
export function parseAtTime(input: string): AtTime {
  const date = DATE.exec(input);
  if (date) {
    const [year, month, day] = date.slice(1).map(Number);
    if (!validDate(year, month, day)) throw new Error(`--at ${input} is not a date. Give ${AT_TIME_FORMS}.`);
    const epochMs = Date.UTC(year, month - 1, day);
    return { input, instant: new Date(epochMs).toISOString(), epochMs, dateOnly: true };
  }
  const match = DATE_TIME.exec(input);
  if (!match) throw new Error(`--at ${input} is not an ISO-8601 time. Give ${AT_TIME_FORMS}.`);
  const [, y, mo, d, h, mi, s, fraction, zone] = match;
  if (zone === undefined) {
    throw new Error(
      `--at ${input} has no time zone, so it would mean a different instant on every machine. Give ${AT_TIME_FORMS}.`,
    );
  }
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s ?? '0'].map(Number);
  const offset =
    zone === 'Z' ? 0 : (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4)));
  if (
    !validDate(year, month, day) ||
    hour > 23 ||
    minute > 59 ||
    second > 59 ||
    (zone !== 'Z' && (Number(zone.slice(1, 3)) > 23 || Number(zone.slice(4)) > 59))
  )
    throw new Error(`--at ${input} is not a valid time. Give ${AT_TIME_FORMS}.`);
  const millis = fraction === undefined ? 0 : Number(`${fraction.slice(1)}00`.slice(0, 3));
  const epochMs = Date.UTC(year, month - 1, day, hour, minute, second, millis) - offset * 60_000;
  return { input, instant: new Date(epochMs).toISOString(), epochMs, dateOnly: false };
}
