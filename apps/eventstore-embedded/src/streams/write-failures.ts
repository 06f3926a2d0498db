import type { WriteOutcome } from '../storage/types';
import type { ServerContext } from './context';

/** At most one line a minute about failed writes (a full disk fails every write), as the API's outage lines. */
export const WRITE_FAILURE_LOG_INTERVAL_MS = 60_000;

const lastLogged = new WeakMap<ServerContext, { at: number; suppressed: number }>();

/**
 * Logs a write the storage failed (`outcome.kind === 'failed'`: the disk is full, the file went read-only or
 * bad), with the storage's own words. The client is told only that the write failed — EventStoreDB's client
 * drops the message of an `Unknown` error — so this line is where an operator reads why: `error`, then at
 * most once a minute with the number of failed writes since (`suppressed`).
 */
export function noteWriteFailure(
  ctx: ServerContext,
  stream: string,
  outcome: WriteOutcome,
  now = Date.now(),
): void {
  if (outcome.kind !== 'failed') return;
  const last = lastLogged.get(ctx);
  if (last !== undefined && now - last.at < WRITE_FAILURE_LOG_INTERVAL_MS) {
    last.suppressed++;
    return;
  }
  ctx.log('error', outcome.message, {
    stream,
    ...(last === undefined ? {} : { suppressed: last.suppressed }),
  });
  lastLogged.set(ctx, { at: now, suppressed: 0 });
}
