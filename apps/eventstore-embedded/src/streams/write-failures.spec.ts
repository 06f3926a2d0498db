import type { ServerContext } from './context';
import { noteWriteFailure, WRITE_FAILURE_LOG_INTERVAL_MS } from './write-failures';

describe('noteWriteFailure: what an operator reads about writes the storage failed', () => {
  const context = () => {
    const lines: [string, string, Record<string, unknown> | undefined][] = [];
    const ctx = { log: (level, msg, fields) => lines.push([level, msg, fields]) } as Pick<
      ServerContext,
      'log'
    > as ServerContext;
    return { ctx, lines };
  };
  const full = { kind: 'failed', message: 'Write failed: database or disk is full' } as const;

  it('logs the storage’s own words at error, then at most once a minute with the failures since', () => {
    const { ctx, lines } = context();
    const t0 = 1_000_000;
    noteWriteFailure(ctx, 'session-1-a', full, t0);
    noteWriteFailure(ctx, 'session-1-b', full, t0 + 10);
    noteWriteFailure(ctx, 'session-1-c', full, t0 + WRITE_FAILURE_LOG_INTERVAL_MS - 1);
    noteWriteFailure(ctx, 'session-1-d', full, t0 + WRITE_FAILURE_LOG_INTERVAL_MS);
    expect(lines).toEqual([
      ['error', 'Write failed: database or disk is full', { stream: 'session-1-a' }],
      ['error', 'Write failed: database or disk is full', { stream: 'session-1-d', suppressed: 2 }],
    ]);
  });

  it('says nothing of writes that did not fail', () => {
    const { ctx, lines } = context();
    noteWriteFailure(ctx, 's', { kind: 'stream_deleted' });
    noteWriteFailure(ctx, 's', {
      kind: 'wrong_expected_version',
      expected: { kind: 'no_stream' },
      currentRevision: 3,
    } as never);
    expect(lines).toEqual([]);
  });
});
