import { sql } from 'kysely';
import { ReadModelsTimeoutError, type ReadModelDatabase } from '@session-engine/read-models';
import { READ_MODEL_QUERY_TIMEOUT_MS } from '../config/config';

/** How long readiness waits for the read-model database before calling it down. */
export const READ_MODEL_PING_TIMEOUT_MS = 2_000;

/**
 * Readiness of the read-model store (SPEC §4: `/health/ready` checks it once there is one): a `SELECT 1`
 * through the management API's own pool. True when it answers within `READ_MODEL_PING_TIMEOUT_MS`, or — that
 * ping still waiting — when a ping answered within `answerWindowMs` (the management queries' timeout,
 * `READ_MODEL_QUERY_TIMEOUT_MS`): a database that answers within the time a query is given is ready, however
 * slow (a link with seconds of jitter took a replica that served every query out of rotation). A ping goes on
 * after the check has answered, up to the query timeout, so its late answer counts for the next check; checks
 * that come while it waits share it. A pool whose server is gone fails fast (refused connection), and is down at
 * once whatever answered before; one whose server does not answer is down once its last answer is older than
 * `answerWindowMs`.
 */
export class ReadModelHealth {
  private lastAnswerAt = Number.NEGATIVE_INFINITY;
  private ping: Promise<boolean> | undefined;

  constructor(
    private readonly database: ReadModelDatabase,
    readonly answerWindowMs: number = READ_MODEL_QUERY_TIMEOUT_MS.default,
    private readonly timeoutMs = READ_MODEL_PING_TIMEOUT_MS,
  ) {}

  async isReachable(): Promise<boolean> {
    const ping = (this.ping ??= this.pingOnce().finally(() => {
      this.ping = undefined;
    }));
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<'waiting'>((resolve) => {
      timer = setTimeout(() => resolve('waiting'), this.timeoutMs);
    });
    const first = await Promise.race([ping, waited]).finally(() => clearTimeout(timer));
    if (first !== 'waiting') return first;
    return performance.now() - this.lastAnswerAt <= this.answerWindowMs;
  }

  /** One `SELECT 1`, bounded by the database's own query timeout: whether the server answered it. */
  private async pingOnce(): Promise<boolean> {
    try {
      await sql`select 1`.execute(this.database.db);
      this.lastAnswerAt = performance.now();
      return true;
    } catch (error) {
      // No answer in time says nothing new (the window decides); any other failure is an answer of "down".
      if (!(error instanceof ReadModelsTimeoutError)) this.lastAnswerAt = Number.NEGATIVE_INFINITY;
      return false;
    }
  }
}
