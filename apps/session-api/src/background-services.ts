/**
 * Long-running work that shares the API's process under `npm start`: the projector, in a worker thread of
 * its own (its own event loop, event-store client and read-model database handle), which needs the event
 * store's connection string and DATA_DIR / DATABASE_URL / READ_MODEL_SCHEMA from the config. Started after the
 * HTTP server listens, stopped — in reverse order — before the event store closes on SIGTERM.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { projectorThreadService, type ProjectorThreadService } from '../../projector/src/projector-thread';
import type { AppConfig } from './config/config';

export interface BackgroundService {
  readonly name: string;
  start(): Promise<void>;
  /** Finish the current unit of work (e.g. commit the projector's batch), then return. */
  stop(): Promise<void>;
}

export interface BackgroundServiceContext {
  config: AppConfig;
  /** The event store (embedded or external) that background services connect to with clients of their own. */
  connectionString: string;
  logger: Logger;
  /** Where background services register their metrics (the API's /metrics registry). */
  registry?: Registry;
}

/** The in-process services of `npm start`. */
export function backgroundServices(context: BackgroundServiceContext): BackgroundService[] {
  // PROJECTOR_IN_PROCESS=false: API replicas leave the read models to one separate projector process.
  return context.config.projectorInProcess ? [projectorThreadService(context)] : [];
}

/** The projector among `services`, if this process runs one (the API's /health/ready reports it). */
export function inProcessProjector(
  services: readonly BackgroundService[],
): ProjectorThreadService | undefined {
  return services.find(
    (service): service is ProjectorThreadService => service.name === 'projector' && 'health' in service,
  );
}
