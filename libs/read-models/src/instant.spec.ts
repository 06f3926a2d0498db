import { eventTimeIso, instantBound, parseInstant } from './instant';
import { utcDay } from './projected-event';

describe('parseInstant', () => {
  it('reads a date-time with its zone, or a date as 00:00 UTC', () => {
    expect(parseInstant('2026-03-01T12:00:00Z')).toEqual({
      ok: true,
      epochMs: Date.UTC(2026, 2, 1, 12),
      subMillisecond: false,
      dateOnly: false,
    });
    expect(parseInstant('2026-03-01T12:00+01:00')).toMatchObject({ epochMs: Date.UTC(2026, 2, 1, 11) });
    expect(parseInstant('2026-03-01t12:00:00.25z')).toMatchObject({
      epochMs: Date.UTC(2026, 2, 1, 12, 0, 0, 250),
    });
    expect(parseInstant('2026-03-01')).toMatchObject({ epochMs: Date.UTC(2026, 2, 1), dateOnly: true });
    expect(parseInstant('0050-06-01')).toMatchObject({
      ok: true,
      epochMs: new Date('0050-06-01T00:00:00Z').getTime(),
    });
  });

  it('notes a fraction past milliseconds', () => {
    expect(parseInstant('2026-03-01T12:00:00.1234Z')).toMatchObject({
      epochMs: Date.UTC(2026, 2, 1, 12, 0, 0, 123),
      subMillisecond: true,
    });
    expect(parseInstant('2026-03-01T12:00:00.123000Z')).toMatchObject({ subMillisecond: false });
  });

  it('refuses other ISO-8601 forms, a missing zone, and dates or times that do not exist', () => {
    for (const input of [
      '2026-W09-7',
      '2026-060',
      '2026-012',
      '20260301T120000Z',
      '2026-03-01T12Z',
      '2026-03-01T12:00:00,5Z',
      '2026-03-01T12:00:00+01',
      'yesterday',
      '',
    ])
      expect({ input, parsed: parseInstant(input) }).toEqual({
        input,
        parsed: { ok: false, problem: 'format' },
      });
    expect(parseInstant('2026-03-01T12:00:00')).toEqual({ ok: false, problem: 'zone' });
    for (const input of [
      '2026-02-29',
      '2026-13-01',
      '2026-00-10',
      '2026-03-01T24:00:00Z',
      '2026-03-01T12:60Z',
      '2026-03-01T12:00:60Z',
      '2026-03-01T12:00+24:00',
    ])
      expect({ input, parsed: parseInstant(input) }).toEqual({
        input,
        parsed: { ok: false, problem: 'range' },
      });
  });
});

describe('instantBound', () => {
  it('compares with millisecond times as strictly before / after the instant itself', () => {
    // Strictly before .5004 is at or before .500, i.e. strictly before .501; strictly after it is after .500.
    expect(instantBound('2026-03-01T12:00:00.5004Z', 'before')).toBe('2026-03-01T12:00:00.501Z');
    expect(instantBound('2026-03-01T12:00:00.5004Z', 'after')).toBe('2026-03-01T12:00:00.500Z');
    expect(instantBound('2026-03-01T12:00:00.5Z', 'before')).toBe('2026-03-01T12:00:00.500Z');
    expect(instantBound('2026-03-01T13:00:00+01:00', 'after')).toBe('2026-03-01T12:00:00.000Z');
  });

  it('stays within years 0000–9999, where the ISO text sorts as the time', () => {
    expect(instantBound('9999-12-31T23:59:59-23:59', 'after')).toBe('9999-12-31T23:59:59.999Z');
    expect(instantBound('0000-01-01T00:00:00+01:00', 'before')).toBe('0000-01-01T00:00:00.000Z');
  });

  it('throws on what parseInstant refuses', () => {
    expect(() => instantBound('2026-012', 'after')).toThrow(RangeError);
  });
});

describe('event times in the projections', () => {
  const zone = process.env.TZ;
  // The machine's zone matters only to `Date`'s reading of a time without a zone: a zone far from UTC
  // (UTC+14) would move such a time to another day.
  beforeEach(() => {
    process.env.TZ = 'Pacific/Kiritimati';
  });
  afterEach(() => {
    if (zone === undefined) delete process.env.TZ;
    else process.env.TZ = zone;
  });

  it('keeps the engine’s own form as it is', () => {
    expect(eventTimeIso('2026-03-01T23:30:00.000Z')).toBe('2026-03-01T23:30:00.000Z');
    expect(utcDay('2026-03-01T23:30:00.000Z')).toBe('2026-03-01');
  });

  it('reads a time without a zone as UTC, whatever the machine’s zone', () => {
    expect(eventTimeIso('2026-03-01T23:30:00')).toBe('2026-03-01T23:30:00.000Z');
    expect(eventTimeIso('2026-03-01T01:30')).toBe('2026-03-01T01:30:00.000Z');
    expect(utcDay('2026-03-01T23:30:00')).toBe('2026-03-01');
    expect(utcDay('2026-03-01T01:30:00.5')).toBe('2026-03-01');
    expect(eventTimeIso('2026-03-01 23:30:00')).toBe('2026-03-01T23:30:00.000Z');
    expect(utcDay('2026-03-01 01:30')).toBe('2026-03-01');
  });

  it('reads an offset or a longer fraction as that instant in UTC', () => {
    expect(eventTimeIso('2026-03-01T23:30:00+01:00')).toBe('2026-03-01T22:30:00.000Z');
    expect(eventTimeIso('2026-03-01T23:30:00.1234567Z')).toBe('2026-03-01T23:30:00.123Z');
    expect(utcDay('2026-03-02T00:30:00+01:00')).toBe('2026-03-01');
  });

  it('throws on what is no time at all', () => {
    expect(() => eventTimeIso('yesterday')).toThrow(RangeError);
  });
});
