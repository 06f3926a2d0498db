import { UnavailableError } from '@eventstore/db-client';
import { EventStoreUnavailableError } from '@session-engine/event-store';
import { capturedLogger } from '@session-engine/testing';
import {
  describeSubscriptionFailure,
  OUTAGE_LOG_INTERVAL_MS,
  SubscriptionEndedError,
  SubscriptionOutage,
} from './subscription-outage';

/** What the client gives the projector when the store refuses connections: its error wrapping grpc-js's. */
function refused(): Error {
  const grpc = Object.assign(
    new Error(
      '14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:2113. Resolution note: ',
    ),
    { code: 14 },
  );
  return new UnavailableError(grpc as never);
}

function setUp() {
  const { logger, lines, raw } = capturedLogger('debug');
  let now = 1_000_000;
  const outage = new SubscriptionOutage(logger, () => now);
  return {
    lines,
    raw,
    outage,
    advance: (ms: number) => (now += ms),
    logged: (level: number) => lines.filter((l) => l.level >= level),
  };
}

const WARN = 40;
const INFO = 30;
const context = { position: '42', retryInMs: 100 };

describe('describeSubscriptionFailure', () => {
  it('tells the store being unreachable or ending the subscription from anything else, in one line', () => {
    expect(describeSubscriptionFailure(refused())).toEqual({
      kind: 'unreachable',
      reason:
        '14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:2113.',
    });
    expect(describeSubscriptionFailure(new EventStoreUnavailableError(refused())).kind).toBe('unreachable');
    expect(describeSubscriptionFailure(new SubscriptionEndedError())).toEqual({
      kind: 'ended',
      reason: 'the event store ended the subscription',
    });
    expect(describeSubscriptionFailure(new TypeError('x is not a function')).kind).toBe('error');
    expect(describeSubscriptionFailure(new Error('a'.repeat(1000))).reason).toHaveLength(300);
  });
});

describe('SubscriptionOutage', () => {
  it('logs an outage once at warn without a stack, then at most once a minute, and its end at info', () => {
    const { outage, advance, logged, lines, raw } = setUp();
    outage.failed(refused(), context);
    for (let i = 0; i < 11; i++) {
      advance(5_000);
      outage.failed(refused(), { ...context, retryInMs: 5_000 });
    }
    // 55 s of attempts every 5 s: one line.
    expect(logged(WARN)).toEqual([
      expect.objectContaining({
        msg: 'projector cannot reach the event store; resubscribing until it answers',
        kind: 'unreachable',
        reason: expect.stringContaining('ECONNREFUSED'),
        position: '42',
        retryInMs: 100,
      }),
    ]);
    expect(raw.join('')).not.toMatch(/stack|_raw/);
    expect(raw[0]!.length).toBeLessThan(400);
    expect(lines.filter((l) => l.level < INFO)).toHaveLength(11); // each attempt at debug

    advance(5_000);
    outage.failed(refused(), { ...context, retryInMs: 5_000 });
    expect(logged(WARN)).toHaveLength(2);
    expect(logged(WARN)[1]).toMatchObject({
      msg: 'projector subscription still failing; resubscribing',
      attempts: 13,
      downForMs: 60_000,
      suppressed: 11,
    });

    advance(2_500);
    expect(outage.received('42', false)).toBe('ended');
    expect(lines.at(-1)).toMatchObject({
      level: INFO,
      msg: 'projector subscription is back: the event store answers again',
      downForMs: 62_500,
      failedAttempts: 13,
      fromPosition: '42',
    });
    expect(outage.down).toBe(false);
    // No outage: the caller says "subscribed" itself.
    expect(outage.received('42', false)).toBe('none');
    expect(lines.filter((l) => l.level === INFO)).toHaveLength(1);
  });

  it('logs an unexpected error with one stack and without the client’s copy of the error', () => {
    const { outage, logged } = setUp();
    const error = Object.assign(new TypeError('cannot read properties of undefined'), {
      _raw: new Error('the same again'),
    });
    outage.failed(error, context);
    const [line] = logged(WARN);
    expect(line).toMatchObject({
      msg: 'projector subscription failed; resubscribing',
      kind: 'error',
      error: {
        type: 'TypeError',
        message: 'cannot read properties of undefined',
        stack: expect.any(String),
      },
    });
    expect(line!.error).not.toHaveProperty('_raw');
    expect(line).not.toHaveProperty('err');
  });

  it('does not end an outage of unexpected errors when the store merely answers, only at the live end', () => {
    const { outage, advance, logged } = setUp();
    // Something before the live end it fails on every time: each attempt connects, then fails on it again.
    for (let i = 0; i < 5; i++) {
      outage.failed(new TypeError('cannot read properties of undefined'), context);
      advance(1_000);
      expect(outage.received('42', false)).toBe('ongoing');
    }
    expect(logged(INFO)).toHaveLength(1);
    expect(outage.received('42', true)).toBe('ended');
    expect(logged(INFO)).toHaveLength(2);
  });

  it('forgets an outage on reset', () => {
    const { outage, logged } = setUp();
    outage.failed(refused(), context);
    outage.reset();
    expect(outage.received('42', false)).toBe('none');
    expect(logged(INFO)).toHaveLength(1);
    expect(OUTAGE_LOG_INTERVAL_MS).toBe(60_000);
  });
});
