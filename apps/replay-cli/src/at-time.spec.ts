import { parseAtTime } from './at-time';

describe('parseAtTime', () => {
  it.each([
    ['2025-03-01T12:00:00Z', '2025-03-01T12:00:00.000Z'],
    ['2025-03-01T12:00Z', '2025-03-01T12:00:00.000Z'],
    ['2025-03-01T12:00:00.5Z', '2025-03-01T12:00:00.500Z'],
    ['2025-03-01T12:00:00.123456Z', '2025-03-01T12:00:00.123Z'],
    ['2025-03-01T12:00:00+01:00', '2025-03-01T11:00:00.000Z'],
    ['2025-03-01T00:30:00-05:30', '2025-03-01T06:00:00.000Z'],
    ['2025-03-01T00:30:00+00:00', '2025-03-01T00:30:00.000Z'],
  ])('reads %s as the instant %s, whatever the machine’s zone', (input, instant) => {
    expect(parseAtTime(input)).toEqual({ input, instant, epochMs: Date.parse(instant), dateOnly: false });
  });

  it('reads a bare date as 00:00 UTC and says it was a date', () => {
    expect(parseAtTime('2025-03-01')).toEqual({
      input: '2025-03-01',
      instant: '2025-03-01T00:00:00.000Z',
      epochMs: Date.UTC(2025, 2, 1),
      dateOnly: true,
    });
  });

  it.each(['2025-03-01T12:00', '2025-03-01T12:00:00', '2025-03-01T12:00:00.000'])(
    'refuses %s: a date-time without a zone',
    (input) => {
      expect(() => parseAtTime(input)).toThrow(
        `--at ${input} has no time zone, so it would mean a different instant on every machine. Give a date-time with its zone, 2025-03-01T12:00:00Z or 2025-03-01T12:00:00+01:00`,
      );
    },
  );

  it.each([
    '2025-02-30',
    '2025-02-30T12:00:00Z',
    '2025-13-01T00:00:00Z',
    '2025-03-01T24:00:00Z',
    '2025-03-01T12:60:00Z',
    '2025-03-01T12:00:60Z',
    '2025-03-01T12:00:00+24:00',
  ])('refuses %s: no such day or time', (input) => {
    expect(() => parseAtTime(input)).toThrow(/is not a (valid time|date)\. Give /);
  });

  it.each(['yesterday', '2025-03-01 12:00:00Z', '1740830400', '2025-3-1', '2025-03-01T12Z'])(
    'refuses %s: not ISO-8601',
    (input) => {
      expect(() => parseAtTime(input)).toThrow('is not an ISO-8601 time');
    },
  );
});
