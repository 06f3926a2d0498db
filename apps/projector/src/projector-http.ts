/**
 * The standalone projector's HTTP endpoint (main.ts): `GET /metrics` (Prometheus text), `GET /health/live`
 * (the process answers) and `GET /health/ready` — 200 while the projector projects or waits on standby,
 * 503 `{"status":"stalled", …}` while it holds the lock, events wait, and nothing has committed for
 * `stallAfterMs` (a batch the database keeps refusing, a database it cannot reach, or a commit waiting on a
 * lock another writer holds) — the definitions of projector-report.ts, as on /metrics —, and 503
 * `{"status":"unavailable", …}` while it does not hold the lock and its lock poll fails: it cannot reach the
 * read-model database, so it is no standby (`failure.kind` `unavailable`, since when). A standby is ready:
 * it is healthy, and a rolling update waits for the new projector to be ready while the old one holds the
 * lock. Its body says `leader: false` and `caughtUp: false` (it projects nothing), with the committed
 * checkpoint it read from the database at its last lock poll as `position` and `head`. `readingPaused` says
 * the leader has stopped reading the log (`projector_reading_paused`), with since when and what for. The API's
 * own /health/ready reports its in-process projector with the same body (`projectorHealthBody`) but stays 200
 * for it: the API serves the write path, which works without the projector.
 */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { RunningProjector } from './projector';
import type { ProjectorStatus, ReadingPauseReason } from './projector-report';

function json(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}

/** The projector's condition as /health/ready reports it (JSON: positions as decimal strings, times in ISO 8601). */
export interface ProjectorHealthBody {
  /**
   * `stalled`: it holds the lock and has committed nothing for the stall window while events wait;
   * `unavailable`: it cannot reach the read-model database (its lock poll fails), so it neither projects nor
   * knows that another projector does — no standby; otherwise `ok`.
   */
  status: 'ok' | 'stalled' | 'unavailable';
  leader: boolean;
  caughtUp: boolean;
  position: string;
  head: string;
  lagEvents: number;
  lastCommitAgeSeconds: number | null;
  readingPaused: boolean;
  /** Only while `readingPaused`. */
  readingPausedSince?: string;
  readingPausedFor?: ReadingPauseReason;
  failure?: {
    kind: string;
    attempts: number;
    since: string;
    position: string;
    streamId: string;
    eventType: string;
    events: number;
  };
}

/** The body of /health/ready for a projector in `s`. */
export function projectorHealthBody(s: ProjectorStatus): ProjectorHealthBody {
  return {
    status: s.stalled ? 'stalled' : !s.leader && s.failure?.kind === 'unavailable' ? 'unavailable' : 'ok',
    leader: s.leader,
    caughtUp: s.caughtUp,
    position: s.position.toString(),
    head: s.head.toString(),
    lagEvents: s.lagEvents,
    lastCommitAgeSeconds: s.lastCommitAgeMs === undefined ? null : Math.round(s.lastCommitAgeMs / 1000),
    readingPaused: s.readingPaused,
    // Only while paused (JSON drops the undefined ones).
    readingPausedSince:
      s.readingPaused && s.readingPausedSince !== undefined
        ? new Date(s.readingPausedSince).toISOString()
        : undefined,
    readingPausedFor: s.readingPaused ? s.readingPausedFor : undefined,
    // Where it is stuck: stream and type of the event, never its payload or the database's message.
    failure: s.failure && {
      kind: s.failure.kind,
      attempts: s.failure.attempts,
      since: new Date(s.failure.since).toISOString(),
      position: s.failure.position.toString(),
      streamId: s.failure.streamId,
      eventType: s.failure.eventType,
      events: s.failure.events,
    },
  };
}

/** What the standalone projector's /health/ready answers: the status code and the body. */
export function readiness(projector: Pick<RunningProjector, 'status'>): { status: number; body: unknown } {
  const body = projectorHealthBody(projector.status());
  return { status: body.status === 'ok' ? 200 : 503, body };
}

export function projectorHttpServer(projector: Pick<RunningProjector, 'status'>, registry: Registry): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    switch (path) {
      case '/metrics':
        registry.metrics().then(
          (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
          () => res.writeHead(500).end(),
        );
        return;
      case '/health/live':
        json(res, 200, { status: 'ok' });
        return;
      case '/health/ready': {
        const { status, body } = readiness(projector);
        json(res, status, body);
        return;
      }
      default:
        res.writeHead(404).end();
    }
  });
}
