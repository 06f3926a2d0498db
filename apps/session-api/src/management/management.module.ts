import { Module, type DynamicModule, type OnApplicationShutdown, Inject } from '@nestjs/common';
import { openReadModelDatabase, ReadModelQueries, type ReadModelDatabase } from '@session-engine/read-models';
import { ApiKeys } from '../config/api-keys.provider';
import type { Logger } from 'pino';
import type { AppConfig } from '../config/config';
import { ManagementAuthGuard } from './management-auth.guard';
import { ReadModelHealth } from './read-model-health';
import { ManagementController } from './management.controller';
import { MANAGEMENT_QUERY_HANDLERS } from './management.queries';

const READ_MODEL_DATABASE = Symbol('READ_MODEL_DATABASE');
/**
 * The `application_name` of the API's read-model connections (`pg_stat_activity`): a DBA tells them from the
 * projector's (`session-engine-projector`). A DATABASE_URL naming an `application_name` wins.
 */
export const API_READ_MODELS_APPLICATION_NAME = 'session-engine-api';

export interface ManagementDependencies {
  /**
   * `readModelQueryTimeoutMs` (READ_MODEL_QUERY_TIMEOUT_MS) is, on PostgreSQL, the longest wait of a management
   * query (and of the readiness check's `SELECT 1`) for a connection, and for each answer: a hung database —
   * stopped, or the network dropping its packets — then answers 503 SERVICE_UNAVAILABLE instead of holding the
   * request. The `minPosition` wait has its own bound (read-model-position.ts).
   */
  config: Pick<AppConfig, 'databaseUrl' | 'readModelSchema' | 'dataDir' | 'readModelQueryTimeoutMs'>;
  keys: ApiKeys;
  /** An already open read-model database (tests); otherwise opened from the config and migrated. */
  readModels?: ReadModelDatabase;
  /** Says when the read-model database cannot be reached at start-up, or refuses its set-up later. */
  logger: Pick<Logger, 'warn' | 'error'>;
}

/** An error's `code` (a Node or PostgreSQL one), if it has one. */
function errorCode(error: Error): string | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** The Management API (SPEC §4): read models behind `ManagementKey-v1`. */
@Module({})
export class ManagementModule implements OnApplicationShutdown {
  constructor(@Inject(READ_MODEL_DATABASE) private readonly database: ReadModelDatabase) {}

  static forRoot(deps: ManagementDependencies): DynamicModule {
    return {
      module: ManagementModule,
      controllers: [ManagementController],
      providers: [
        { provide: ApiKeys, useValue: deps.keys },
        {
          provide: READ_MODEL_DATABASE,
          useFactory: async (): Promise<ReadModelDatabase> => {
            if (deps.readModels) return { ...deps.readModels, close: async () => undefined }; // owned by the caller
            let lastRefusal: string | undefined;
            const database = await openReadModelDatabase({
              databaseUrl: deps.config.databaseUrl,
              // READ_MODEL_SCHEMA: where the projector (in this process or its own) writes them.
              schema: deps.config.readModelSchema,
              dataDir: deps.config.dataDir,
              timeoutMs: deps.config.readModelQueryTimeoutMs,
              applicationName: API_READ_MODELS_APPLICATION_NAME,
              // A PostgreSQL outage at start-up must not keep the API from serving commands.
              openWhileUnreachable: true,
              onSetUpFailure: (error, unavailable) => {
                // Unreachable is what readiness says; a refusal (a role, a permission) is said once per reason.
                if (unavailable || error.message === lastRefusal) return;
                lastRefusal = error.message;
                deps.logger.error(
                  { err: { message: error.message, code: errorCode(error) } },
                  'the read-model database answers but refuses to set up the read models: the management API ' +
                    'answers 503 until it can (tried again on each query)',
                );
              },
            });
            if (database.setUpFailure) {
              deps.logger.warn(
                { err: { message: database.setUpFailure.message, code: errorCode(database.setUpFailure) } },
                'the read-model database cannot be reached: the API serves commands; /health/ready and the ' +
                  'management API answer 503 until it can, and its tables are checked on its first answer',
              );
            }
            return database;
          },
        },
        {
          provide: ReadModelQueries,
          inject: [READ_MODEL_DATABASE],
          useFactory: (database: ReadModelDatabase) => new ReadModelQueries(database.db),
        },
        {
          provide: ReadModelHealth,
          inject: [READ_MODEL_DATABASE],
          useFactory: (database: ReadModelDatabase) =>
            new ReadModelHealth(database, deps.config.readModelQueryTimeoutMs),
        },
        ManagementAuthGuard,
        ...MANAGEMENT_QUERY_HANDLERS,
      ],
      exports: [ReadModelQueries, ReadModelHealth],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.database.close();
  }
}
