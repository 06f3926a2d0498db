import { ProjectorLockLostError } from '@session-engine/read-models';
import { capturedLogger } from '@session-engine/testing';
import { LOCK_LOSS_LOG_INTERVAL_MS, LockLoss } from './lock-loss';

const DEBUG = 20;
const INFO = 30;
const WARN = 40;
const ERROR = 50;
const WINDOW_MS = 60_000;

/** What pg gives the lease when the database ends its lock connection (a restart, a dropped link). */
function terminated(): Error {
  return Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
}

function setUp() {
  jest.useFakeTimers({ now: 1_000_000 });
  const { logger, lines, raw } = capturedLogger('debug');
  const loss = new LockLoss(logger, WINDOW_MS);
  return { lines, raw, loss, at: (level: number) => lines.filter((line) => line.level === level) };
}

afterEach(() => {
  jest.useRealTimers();
});

describe('LockLoss', () => {
  it('logs a loss that is retaken within the window once, at warn, with its cause and no stack', () => {
    const { lines, raw, loss, at } = setUp();
    loss.lost(terminated());
    jest.advanceTimersByTime(1_000);
    loss.retaken();
    jest.advanceTimersByTime(10 * WINDOW_MS);

    expect(lines).toEqual([
      expect.objectContaining({
        level: WARN,
        msg: 'projector lost the read-model lock; dropping the batch in hand and taking the lock again',
        error: {
          type: 'Error',
          message: 'terminating connection due to administrator command',
          code: '57P01',
        },
        suppressed: 0,
      }),
    ]);
    expect(at(ERROR)).toEqual([]);
    expect(raw.join('')).not.toContain('stack');
    expect(loss.active).toBe(false);
  });

  it('logs a spell without the lock once at error when it lasts the window, and at info when retaken after', () => {
    const { lines, raw, loss, at } = setUp();
    loss.lost(
      new ProjectorLockLostError('The projector lock connection did not answer a probe within 10000 ms'),
    );
    expect(loss.active).toBe(true);
    jest.advanceTimersByTime(WINDOW_MS - 1);
    expect(at(ERROR)).toEqual([]);
    jest.advanceTimersByTime(1);
    jest.advanceTimersByTime(5 * WINDOW_MS); // once, not once per window
    expect(at(ERROR)).toEqual([
      expect.objectContaining({
        msg: 'projector has not taken the read-model lock back within the stall window; retrying',
        withoutLockForMs: WINDOW_MS,
        lostAt: new Date(1_000_000).toISOString(),
        stallAfterMs: WINDOW_MS,
        error: {
          type: 'ProjectorLockLostError',
          message: 'The projector lock connection did not answer a probe within 10000 ms',
        },
      }),
    ]);

    loss.retaken();
    expect(at(INFO)).toEqual([
      expect.objectContaining({
        msg: 'projector leads again: it took the read-model lock back',
        withoutLockForMs: 6 * WINDOW_MS,
      }),
    ]);
    expect(lines.map((line) => line.level)).toEqual([WARN, ERROR, INFO]);
    expect(raw.join('')).not.toContain('stack');
    // Taking the lock with no spell on (a first take, a standby's) says nothing.
    loss.retaken();
    expect(lines).toHaveLength(3);
  });

  it('logs repeated blips at warn once a minute, those in between at debug, and none at error', () => {
    const { loss, at } = setUp();
    for (let blip = 0; blip < 10; blip += 1) {
      loss.lost(terminated());
      jest.advanceTimersByTime(500);
      loss.retaken();
      jest.advanceTimersByTime(9_500);
    }
    expect(at(ERROR)).toEqual([]);
    expect(at(INFO)).toEqual([]);
    expect(at(DEBUG).map((line) => line.msg)).toEqual(
      Array(8).fill('projector lost the read-model lock again'),
    );
    expect(at(WARN)).toEqual([
      expect.objectContaining({ suppressed: 0 }),
      expect.objectContaining({ suppressed: 5 }),
    ]);
    expect(at(WARN)[1]!.time).toBe((at(WARN)[0]!.time as number) + LOCK_LOSS_LOG_INTERVAL_MS);
  });

  it('ends a spell without a word on standby (another projector holds the lock) or on stop', () => {
    const { lines, loss } = setUp();
    loss.lost(terminated());
    loss.reset();
    jest.advanceTimersByTime(2 * WINDOW_MS);
    loss.retaken();
    expect(lines.map((line) => line.level)).toEqual([WARN]);
  });
});
