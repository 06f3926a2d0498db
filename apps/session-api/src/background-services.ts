/**
 * Long-running work that shares the API's process under `npm start` (the projector will be registered here:
 * it needs the event-store adapter and DATA_DIR / DATABASE_URL from the config). Started after the HTTP
 * server listens, stopped — in reverse order — before the event store closes on SIGTERM.
 */
import type { EsdbClientAdapter } from '@session-engine/event-store';
import { projectorService } from '../../projector/src/projector.service';
import type { Logger } from 'pino';
import type { AppConfig } from './config/config';

export interface BackgroundService {
  readonly name: string;
  start(): Promise<void>;
  /** Finish the current unit of work (e.g. commit the projector's batch), then return. */
  stop(): Promise<void>;
}

export interface BackgroundServiceContext {
  config: AppConfig;
  store: EsdbClientAdapter;
  logger: Logger;
}

/** The in-process services of `npm start`. The projector (apps/projector) is to be added to this list. */
export function backgroundServices(context: BackgroundServiceContext): BackgroundService[] {
  // PROJECTOR_IN_PROCESS=false: API replicas leave the read models to one separate projector process.
  return context.config.projectorInProcess ? [projectorService(context)] : [];
}
