import { sql } from 'kysely';
import type { ReadModelDatabase } from '@session-engine/read-models';

/** How long readiness waits for the read-model database before calling it down. */
export const READ_MODEL_PING_TIMEOUT_MS = 2_000;

/**
 * Readiness of the read-model store (SPEC §4: `/health/ready` checks it once there is one): a `SELECT 1`
 * through the management API's own pool. A pool whose server is gone fails fast (refused connection); one
 * whose server does not answer is cut off after `READ_MODEL_PING_TIMEOUT_MS`.
 */
export class ReadModelHealth {
  constructor(
    private readonly database: ReadModelDatabase,
    private readonly timeoutMs = READ_MODEL_PING_TIMEOUT_MS,
  ) {}

  async isReachable(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), this.timeoutMs);
    });
    const ping = sql`select 1`.execute(this.database.db).then(
      () => true,
      () => false,
    );
    try {
      return await Promise.race([ping, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
