import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import type { ProjectorStatus } from './projector';
import { projectorHttpServer, readiness } from './projector-http';

const status = (overrides: Partial<ProjectorStatus> = {}): ProjectorStatus => ({
  leader: true,
  caughtUp: true,
  position: 10n,
  head: 10n,
  lagEvents: 0,
  lastCommitAgeMs: 200,
  stalled: false,
  readingPaused: false,
  readingPausedSince: undefined,
  readingPausedFor: undefined,
  failure: undefined,
  ...overrides,
});

describe('readiness of the standalone projector', () => {
  it('is ready while it projects, catches up, or waits on standby', () => {
    expect(readiness({ status: () => status() })).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(
      readiness({ status: () => status({ caughtUp: false, head: 5_000n, lagEvents: 4_990 }) }).status,
    ).toBe(200);
    // A standby must be ready: a rolling update waits for the new projector while the old one holds the lock.
    expect(
      readiness({ status: () => status({ leader: false, caughtUp: false, lastCommitAgeMs: undefined }) }),
    ).toMatchObject({ status: 200, body: { leader: false, lastCommitAgeSeconds: null } });
  });

  it('says when the projector has stopped reading, since when and what for, and is still ready', () => {
    const since = Date.parse('2026-01-01T00:00:00Z');
    const paused = readiness({
      status: () =>
        status({
          caughtUp: false,
          head: 30n,
          lagEvents: 20,
          readingPaused: true,
          readingPausedSince: since,
          readingPausedFor: 'commit',
        }),
    });
    expect(paused).toMatchObject({
      status: 200,
      body: {
        status: 'ok',
        readingPaused: true,
        readingPausedSince: '2026-01-01T00:00:00.000Z',
        readingPausedFor: 'commit',
      },
    });
    // While it reads, only `readingPaused: false`.
    const reading = JSON.parse(JSON.stringify(readiness({ status: () => status() }).body)) as object;
    expect(reading).toHaveProperty('readingPaused', false);
    expect(reading).not.toHaveProperty('readingPausedSince');
    expect(reading).not.toHaveProperty('readingPausedFor');
  });

  it('is not ready while stalled, and says where', () => {
    const since = Date.parse('2026-01-01T00:00:00Z');
    const answer = readiness({
      status: () =>
        status({
          caughtUp: false,
          head: 12n,
          lagEvents: 2,
          lastCommitAgeMs: 61_400,
          stalled: true,
          readingPaused: true,
          readingPausedSince: since + 60_000,
          readingPausedFor: 'retry',
          failure: {
            kind: 'rejected',
            attempts: 9,
            since,
            position: 11n,
            streamId: 'session-1-a',
            eventType: 'SessionClosed',
            events: 1,
          },
        }),
    });
    expect(answer).toEqual({
      status: 503,
      body: {
        status: 'stalled',
        leader: true,
        caughtUp: false,
        position: '10',
        head: '12',
        lagEvents: 2,
        lastCommitAgeSeconds: 61,
        readingPaused: true,
        readingPausedSince: '2026-01-01T00:01:00.000Z',
        readingPausedFor: 'retry',
        failure: {
          kind: 'rejected',
          attempts: 9,
          since: '2026-01-01T00:00:00.000Z',
          position: '11',
          streamId: 'session-1-a',
          eventType: 'SessionClosed',
          events: 1,
        },
      },
    });
  });
});

describe('projectorHttpServer', () => {
  it('serves /metrics, /health/live and /health/ready, nothing else', async () => {
    const registry = new Registry();
    let current = status();
    const server = projectorHttpServer({ status: () => current }, registry).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect((await fetch(`${base}/metrics`)).status).toBe(200);
      expect(await (await fetch(`${base}/health/live`)).json()).toEqual({ status: 'ok' });
      expect((await fetch(`${base}/health/ready`)).status).toBe(200);
      current = status({ stalled: true, lagEvents: 1 });
      expect((await fetch(`${base}/health/ready?verbose`)).status).toBe(503);
      expect((await fetch(`${base}/health/live`)).status).toBe(200);
      expect((await fetch(`${base}/other`)).status).toBe(404);
      expect((await fetch(`${base}/health/ready`, { method: 'POST' })).status).toBe(405);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
