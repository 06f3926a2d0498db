/**
 * A store holding `count` generated sessions and read models under `dataDir` that have projected all of them:
 * what a replay command run against a live system finds.
 */
import type { EsdbClientAdapter } from '@session-engine/event-store';
import pino from 'pino';
import { Registry } from 'prom-client';
import { startProjector } from '../../../projector/src/projector';
import { writeGeneratedSessions } from './generated-sessions';

export async function writeProjectedSessions(
  client: EsdbClientAdapter,
  options: { connectionString: string; dataDir: string; count: number },
): Promise<void> {
  await writeGeneratedSessions(client, options.count);
  const projector = await startProjector({
    connectionString: options.connectionString,
    dataDir: options.dataDir,
    logger: pino({ level: 'silent' }),
    registry: new Registry(),
    batchDelayMs: 10,
  });
  try {
    let last = 0n;
    for await (const page of client.readAllBatches()) last = page[page.length - 1].position!;
    if (!(await projector.waitForPosition(last, 60_000))) throw new Error('the projector did not catch up');
  } finally {
    await projector.stop();
  }
}
