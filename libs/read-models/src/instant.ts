/**
 * An instant given by a person (a list filter, `replay state --at`), the same on every machine: an ISO-8601 /
 * RFC 3339 date-time with its zone (`Z` or `±hh:mm`; seconds and a fraction optional), or a bare date, read as
 * that day's 00:00 UTC. A date-time without a zone is refused: JavaScript would read it in the machine's local
 * zone, and the same request would mean different instants on different machines. Other ISO-8601 forms (week
 * and ordinal dates, the basic format, `±hh` offsets) are refused too, rather than guessed at (`Date.parse`
 * reads the ordinal date `2026-012` as 1 December).
 */
export type ParsedInstant =
  | {
      ok: true;
      /** Milliseconds since the epoch, the fraction truncated to milliseconds. */
      epochMs: number;
      /** The fraction went beyond milliseconds (non-zero digits past the third). */
      subMillisecond: boolean;
      /** A bare date (`YYYY-MM-DD`), read as 00:00 UTC. */
      dateOnly: boolean;
    }
  | {
      ok: false;
      /** `format`: none of the accepted forms; `zone`: a date-time without its zone; `range`: no such date or time. */
      problem: 'format' | 'zone' | 'range';
    };

export const INSTANT_FORMS =
  'a date-time with its zone, 2025-03-01T12:00:00Z or 2025-03-01T12:00:00+01:00 (seconds and fractions optional), ' +
  'or a date, 2025-03-01 (read as 00:00 UTC)';

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?([Zz]|[+-]\d{2}:\d{2})?$/;

/** `Date.UTC` would read years 0–99 as 1900–1999. */
function utc(year: number, month: number, day: number, hour = 0, minute = 0, second = 0, ms = 0): Date {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, ms);
  return date;
}

function validDate(year: number, month: number, day: number): boolean {
  const date = utc(year, month, day);
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

export function parseInstant(input: string): ParsedInstant {
  const date = DATE.exec(input);
  if (date) {
    const [year, month, day] = date.slice(1).map(Number) as [number, number, number];
    if (!validDate(year, month, day)) return { ok: false, problem: 'range' };
    return { ok: true, epochMs: utc(year, month, day).getTime(), subMillisecond: false, dateOnly: true };
  }
  const match = DATE_TIME.exec(input);
  if (!match) return { ok: false, problem: 'format' };
  const [, y, mo, d, h, mi, s, fraction = '', zone] = match;
  if (zone === undefined) return { ok: false, problem: 'zone' };
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s ?? '0'].map(Number) as number[];
  const utcZone = zone === 'Z' || zone === 'z';
  const zoneHours = utcZone ? 0 : Number(zone.slice(1, 3));
  const zoneMinutes = utcZone ? 0 : Number(zone.slice(4));
  if (
    !validDate(year!, month!, day!) ||
    hour! > 23 ||
    minute! > 59 ||
    second! > 59 ||
    zoneHours > 23 ||
    zoneMinutes > 59
  )
    return { ok: false, problem: 'range' };
  const offsetMinutes = (zone[0] === '-' ? -1 : 1) * (zoneHours * 60 + zoneMinutes);
  const ms = Number(fraction.padEnd(3, '0').slice(0, 3));
  const epochMs = utc(year!, month!, day!, hour, minute, second, ms).getTime() - offsetMinutes * 60_000;
  return { ok: true, epochMs, subMillisecond: /[1-9]/.test(fraction.slice(3)), dateOnly: false };
}

const EARLIEST = utc(0, 1, 1).getTime();
const LATEST = utc(9999, 12, 31, 23, 59, 59, 999).getTime();

/**
 * A valid `parseInstant` input as the millisecond ISO time (`2025-03-01T11:00:00.000Z`) to compare stored
 * times with (they have millisecond precision): strictly before `12:00:00.5004Z` is at or before `.500`, so
 * strictly before `.501`; strictly after it is strictly after `.500`. Clamped to years 0000–9999, where the
 * ISO text still sorts as the time.
 */
export function instantBound(input: string, side: 'before' | 'after'): string {
  const parsed = parseInstant(input);
  if (!parsed.ok) throw new RangeError(`not an instant: ${input}`);
  const ms = parsed.epochMs + (side === 'before' && parsed.subMillisecond ? 1 : 0);
  return new Date(Math.min(LATEST, Math.max(EARLIEST, ms))).toISOString();
}

const CANONICAL_ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * A stored event's time (`at`, `created`, `updated`) as `Date#toISOString` writes it, the same on every machine.
 * The engine and `replay import` only ever write that form, kept as is (a hot path of the projections). A time
 * written straight into the store by some other tool in another form is read as `parseInstant` reads it, and one
 * without a zone as UTC — the engine's zone — never as the machine's local time, so its analytics day does not
 * depend on the `TZ` the projector runs under. Anything else is left to `Date`, which throws `RangeError` on
 * what is no time at all.
 */
export function eventTimeIso(time: string): string {
  if (CANONICAL_ISO.test(time)) return time;
  // RFC 3339 allows a space for the `T` (`2026-03-01 12:00:00`), which parseInstant does not take.
  const text = /^\d{4}-\d{2}-\d{2} \d/.test(time) ? `${time.slice(0, 10)}T${time.slice(11)}` : time;
  let parsed = parseInstant(text);
  if (!parsed.ok && parsed.problem === 'zone') parsed = parseInstant(`${text}Z`);
  return new Date(parsed.ok ? parsed.epochMs : time).toISOString();
}
