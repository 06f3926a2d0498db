import type { EsdbClientAdapter } from '@session-engine/event-store';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { type RunningProjector, startProjector } from './projector';

export interface InProcessProjectorContext {
  config: { databaseUrl?: string; dataDir: string };
  /** The API's adapter: the projector subscribes through it and leaves it open. */
  store: EsdbClientAdapter;
  logger: Logger;
  registry?: Registry;
}

/** The projector as a background service of the API process (`npm start`). */
export function projectorService(context: InProcessProjectorContext) {
  let running: RunningProjector | undefined;
  return {
    name: 'projector',
    async start(): Promise<void> {
      running = await startProjector({
        client: context.store,
        databaseUrl: context.config.databaseUrl,
        dataDir: context.config.dataDir,
        logger: context.logger.child({ service: 'projector' }),
        registry: context.registry,
      });
    },
    /** Commits the batch in hand, then closes the read-model database. */
    async stop(): Promise<void> {
      await running?.stop();
    },
    position: (): bigint => running?.position() ?? 0n,
  };
}
