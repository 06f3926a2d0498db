import { ApiKeys } from './config/api-keys.provider';
import { parseConfig } from './config/config';
import { devIntegrationKeys, devManagementKeys } from './config/dev-keys';
import { keyIdOf } from './config/api-keys';
import { readModelsSummary, startupSummary, startupWarnings } from './startup-summary';

const keysOf = (config: ReturnType<typeof parseConfig>) =>
  new ApiKeys(config.integrationKeys!, config.managementKeys!);

describe('startupSummary', () => {
  it('says an external store, PostgreSQL read models and the configured keys per application, with no secret', () => {
    const config = parseConfig(
      {
        EVENTSTORE_CONNECTION_STRING: 'esdb://admin:es-password@es1:2113,es2:2113?tls=true',
        DATABASE_URL: 'postgres://reader:pg-password@db.internal:6432/sessions?sslmode=require',
        READ_MODEL_SCHEMA: 'read_models_2',
        PROJECTOR_IN_PROCESS: 'false',
        EVENTSTORE_CALL_TIMEOUT_MS: '4000',
        SESSION_CACHE_MB: '0',
        INTEGRATION_API_KEYS: 'checkout-key-0001=1,checkout-key-0002=2,checkout-key-0003=1',
        MANAGEMENT_API_KEYS: 'backoffice-key-0001=1|2,backoffice-key-0002=*',
      },
      '/srv',
    );
    const summary = startupSummary(config, keysOf(config), {
      port: 8080,
      embedded: false,
      connectionString: config.eventStoreConnectionString!,
    });
    expect(summary).toEqual({
      port: 8080,
      eventStore: 'external',
      eventStoreConnectionString: 'esdb://admin:***@es1:2113,es2:2113?tls=true',
      eventStoreCallTimeoutMs: 4000,
      readModels: {
        store: 'postgres',
        host: 'db.internal',
        port: 6432,
        database: 'sessions',
        schema: 'read_models_2',
      },
      projectorInProcess: false,
      sessionCacheMb: 0,
      dataDir: '/srv/data',
      apiKeys: {
        from: 'environment',
        integration: {
          '1': [keyIdOf('checkout-key-0001'), keyIdOf('checkout-key-0003')],
          '2': [keyIdOf('checkout-key-0002')],
        },
        management: {
          '1': [keyIdOf('backoffice-key-0001')],
          '2': [keyIdOf('backoffice-key-0001')],
          '*': [keyIdOf('backoffice-key-0002')],
        },
      },
    });
    const text = JSON.stringify(summary);
    for (const secret of ['es-password', 'pg-password', 'reader', 'checkout-key', 'backoffice-key'])
      expect(text).not.toContain(secret);
  });

  it('says the embedded store, SQLite read models under DATA_DIR and the development keys file', () => {
    const config = parseConfig({ DATA_DIR: '/var/lib/sessions' }, '/srv');
    const keys = { integrationKey: 'dev-int-abcdefgh', managementKey: 'dev-mgmt-abcdefgh' };
    const summary = startupSummary(config, new ApiKeys(devIntegrationKeys(keys), devManagementKeys(keys)), {
      port: 3000,
      embedded: true,
      connectionString: 'esdb://127.0.0.1:2113?tls=false',
    });
    expect(summary).toEqual({
      port: 3000,
      eventStore: 'embedded',
      eventStoreConnectionString: 'esdb://127.0.0.1:2113?tls=false',
      eventStoreCallTimeoutMs: 10_000,
      readModels: { store: 'sqlite', file: '/var/lib/sessions/read-models.sqlite' },
      projectorInProcess: true,
      sessionCacheMb: 128,
      dataDir: '/var/lib/sessions',
      apiKeys: {
        from: '/var/lib/sessions/dev-api-keys.json',
        integration: { '1': [keyIdOf('dev-int-abcdefgh')] },
        management: { '1': [keyIdOf('dev-mgmt-abcdefgh')] },
      },
    });
  });

  it('carries the TLS hint when the connection string leaves TLS on by default', () => {
    const config = parseConfig({ EVENTSTORE_CONNECTION_STRING: 'esdb://127.0.0.1:4721' }, '/srv');
    const keys = { integrationKey: 'dev-int-abcdefgh', managementKey: 'dev-mgmt-abcdefgh' };
    const summary = startupSummary(config, new ApiKeys(devIntegrationKeys(keys), devManagementKeys(keys)), {
      port: 3000,
      embedded: false,
      connectionString: 'esdb://127.0.0.1:4721',
    });
    expect(summary.eventStoreHint).toBe(
      'TLS is on by default and the connection string does not set tls: a store without TLS (the embedded one, or ' +
        'EventStoreDB started with --insecure) needs tls=false (esdb://127.0.0.1:4721?tls=false)',
    );
  });

  it.each([
    ['postgres://db/sessions', { host: 'db', port: 5432, database: 'sessions', schema: null }],
    [
      'postgresql:///sessions?host=/var/run/postgresql',
      { host: '/var/run/postgresql', database: 'sessions' },
    ],
    ['postgres://u:p@[::1]:5433', { host: '[::1]', port: 5433, database: null }],
  ])('reads %s as PostgreSQL host, port and database', (databaseUrl, expected) => {
    expect(readModelsSummary({ databaseUrl, dataDir: '/srv/data' })).toMatchObject({
      store: 'postgres',
      ...expected,
    });
  });
});

describe('startupWarnings', () => {
  it('warns when the API leaves the projector to another process and reads SQLite read models', () => {
    const config = parseConfig({ PROJECTOR_IN_PROCESS: 'false', DATA_DIR: '/var/lib/sessions' }, '/srv');
    expect(startupWarnings(config)).toEqual([
      {
        fields: { readModels: '/var/lib/sessions/read-models.sqlite' },
        msg:
          'PROJECTOR_IN_PROCESS=false without DATABASE_URL: this API reads the SQLite read models in ' +
          '/var/lib/sessions/read-models.sqlite, which only a projector started with the same DATA_DIR on this ' +
          'machine writes (`npm run start:projector`); with the projector elsewhere, set DATABASE_URL on both',
      },
    ]);
  });

  it.each([
    ['the projector runs in process', {}],
    ['the read models are in PostgreSQL', { PROJECTOR_IN_PROCESS: 'false', DATABASE_URL: 'postgres://db/s' }],
  ])('says nothing when %s', (_, env) => {
    expect(startupWarnings(parseConfig(env, '/srv'))).toEqual([]);
  });
});
