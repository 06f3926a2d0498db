import { isCaughtUp, isStalled, lagSeconds, lastCommitAgeMs, type ProjectorReport } from './projector-report';

const AT = Date.parse('2026-01-01T00:00:00Z');
const report = (overrides: Partial<ProjectorReport> = {}): ProjectorReport => ({
  at: AT,
  leader: true,
  reachedLiveEnd: true,
  position: 10n,
  head: 10n,
  lagEvents: 0,
  readingPaused: false,
  readingPausedSince: undefined,
  readingPausedFor: undefined,
  failure: undefined,
  lagSince: undefined,
  lastCommitAt: AT - 500,
  stallAfterMs: 60_000,
  ...overrides,
});

describe('what a projector report means when it is read', () => {
  it('computes the ages at the time of reading, so they grow while the projector says nothing', () => {
    const r = report({ lagEvents: 3, lagSince: AT - 2_000 });
    expect(lastCommitAgeMs(r, AT)).toBe(500);
    expect(lastCommitAgeMs(r, AT + 30_000)).toBe(30_500);
    expect(lagSeconds(r, AT)).toBe(2);
    expect(lagSeconds(r, AT + 30_000)).toBe(32);
    expect(lagSeconds(report(), AT + 30_000)).toBe(0);
    // A standby has no commit age (the gauge reads 0).
    expect(lastCommitAgeMs(report({ leader: false }), AT)).toBeUndefined();
  });

  it('is stalled when events wait and nothing committed for the stall window, failing or blocked alike', () => {
    const waiting = report({ lagEvents: 2 });
    expect(isStalled(waiting, AT + 59_000)).toBe(false);
    expect(isStalled(waiting, AT + 59_500)).toBe(true);
    // Idle (nothing waits) is never stalled, however old the last commit; nor is a standby.
    expect(isStalled(report(), AT + 3_600_000)).toBe(false);
    expect(isStalled(report({ leader: false, lagEvents: 2 }), AT + 3_600_000)).toBe(false);
  });

  it('counts a stall from when the waiting began, not from a commit before a quiet spell', () => {
    // Given an idle hour since the last commit, when an event arrives and its batch is being committed,
    const arrived = AT + 3_600_000;
    const waiting = report({ lagEvents: 1, lagSince: arrived, lastCommitAt: AT - 500 });
    // then it is not stalled (nor not caught up) until it has waited the window.
    expect(isStalled(waiting, arrived + 100)).toBe(false);
    expect(isCaughtUp({ ...waiting, at: arrived + 100 }, arrived + 100)).toBe(true);
    expect(isStalled(waiting, arrived + 60_000)).toBe(true);
  });

  it('is caught up only at the live end, not stalled, and while the report is younger than the stall window', () => {
    expect(isCaughtUp(report(), AT)).toBe(true);
    expect(isCaughtUp(report({ reachedLiveEnd: false }), AT)).toBe(false);
    expect(isCaughtUp(report({ leader: false }), AT)).toBe(false);
    // Live events waiting a moment are normal; the same events waiting the stall window with no commit are not.
    const waiting = report({ lagEvents: 2 });
    expect(isCaughtUp(waiting, AT + 1_000)).toBe(true);
    expect(isCaughtUp(waiting, AT + 59_600)).toBe(false);
    // A projector thread silent for the stall window is not vouched for, even with nothing known to wait.
    expect(isCaughtUp(report(), AT + 59_999)).toBe(true);
    expect(isCaughtUp(report(), AT + 60_000)).toBe(false);
  });
});
