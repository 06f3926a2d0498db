import { utcDayWithMargin } from './utc-day';

describe('utcDayWithMargin', () => {
  afterEach(() => jest.useRealTimers());

  it('given more than the margin before midnight, then it answers today at once', async () => {
    jest.useFakeTimers({ now: Date.parse('2026-03-01T23:57:00Z') });
    await expect(utcDayWithMargin(120_000)).resolves.toBe('2026-03-01');
  });

  it('given less than the margin before midnight, then it waits for midnight and answers the new day', async () => {
    jest.useFakeTimers({ now: Date.parse('2026-03-01T23:59:00Z') });
    let day: string | undefined;
    const answer = utcDayWithMargin(120_000).then((value) => (day = value));
    await jest.advanceTimersByTimeAsync(59_000);
    expect(day).toBeUndefined();
    await jest.advanceTimersByTimeAsync(2_000);
    await answer;
    expect(day).toBe('2026-03-02');
  });
});
