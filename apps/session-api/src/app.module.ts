import { Module, type DynamicModule, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { CqrsModule } from '@nestjs/cqrs';
import { EsdbClientAdapter, IdempotencyStore, SessionCommandHandler } from '@session-engine/event-store';
import type { Logger } from 'pino';
import type { ProjectorThreadService } from '../../projector/src/projector-thread';
import { IntegrationAuthGuard } from './auth/integration-auth.guard';
import { ApiKeys } from './config/api-keys.provider';
import type { AppConfig } from './config/config';
import { JsonBodyMiddleware } from './http/json-body.middleware';
import { ManagementModule } from './management/management.module';
import { MetricsService } from './operations/metrics.service';
import { OperationsController } from './operations/operations.controller';
import {
  BODY_CONTROLLERS,
  SESSION_COMMAND_HANDLERS,
  SESSION_CONTROLLERS,
  SESSION_QUERY_HANDLERS,
} from './sessions';
import { SessionCommandRunner } from './sessions/shared/session-command.runner';
import { APP_CONFIG, LOGGER, PROJECTOR_HEALTH } from './tokens';

export interface AppDependencies {
  config: AppConfig;
  keys: ApiKeys;
  store: EsdbClientAdapter;
  logger: Logger;
  /** One registry per app instance (tests run several in one process). */
  metrics?: MetricsService;
  /** The projector this process runs in a worker thread (`npm start`): /health/ready reports its condition. */
  projector?: Pick<ProjectorThreadService, 'health'>;
}

@Module({})
export class AppModule implements NestModule {
  static forRoot(deps: AppDependencies): DynamicModule {
    const metrics = deps.metrics ?? new MetricsService();
    // What a request does in the event store — load, decide, claim, append, idempotency records — gets a
    // deadline per call (EVENTSTORE_CALL_TIMEOUT_MS); the readiness probe keeps `deps.store` and its own 2 s.
    const requestStore = deps.store.withCallTimeout(deps.config.eventStoreCallTimeoutMs);
    return {
      module: AppModule,
      imports: [CqrsModule.forRoot(), ManagementModule.forRoot(deps)],
      controllers: [...SESSION_CONTROLLERS, OperationsController],
      providers: [
        { provide: APP_CONFIG, useValue: deps.config },
        { provide: LOGGER, useValue: deps.logger },
        { provide: ApiKeys, useValue: deps.keys },
        { provide: EsdbClientAdapter, useValue: deps.store },
        { provide: MetricsService, useValue: metrics },
        ...(deps.projector ? [{ provide: PROJECTOR_HEALTH, useValue: deps.projector }] : []),
        {
          provide: SessionCommandHandler,
          useFactory: () => {
            const handler = new SessionCommandHandler(requestStore, {
              observer: metrics.commandObserver,
              cacheMaxBytes: deps.config.sessionCacheMb * 2 ** 20,
            });
            metrics.watchSessionCache(() => handler.cacheUsage());
            return handler;
          },
        },
        { provide: IdempotencyStore, useFactory: () => new IdempotencyStore(requestStore) },
        SessionCommandRunner,
        IntegrationAuthGuard,
        ...SESSION_COMMAND_HANDLERS,
        ...SESSION_QUERY_HANDLERS,
      ],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    // Authenticates (IntegrationAuthGuard.authenticate) before it reads the body: no parse without a key.
    consumer.apply(JsonBodyMiddleware).forRoutes(...BODY_CONTROLLERS);
  }
}
