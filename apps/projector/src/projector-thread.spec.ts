import { ConfigError, parseConfig } from '../../session-api/src/config/config';
import { parseProjectorConfig, ProjectorConfigError } from './config';
import { projectorWorkerInput } from './projector-thread';

/** The API's configuration as `npm start` reads it, with `env` added. */
const apiConfig = (env: Record<string, string>) =>
  parseConfig(
    {
      DATA_DIR: __dirname,
      INTEGRATION_API_KEYS: 'int-key-app1-0001=1',
      MANAGEMENT_API_KEYS: 'mgmt-key-app1-0001=*',
      ...env,
    },
    '/srv',
  );

const problems = (parse: () => unknown): string[] => {
  try {
    parse();
    return [];
  } catch (error) {
    if (error instanceof ConfigError || error instanceof ProjectorConfigError) return error.problems;
    throw error;
  }
};

describe('the projector thread of npm start', () => {
  it('is started with the stall window and slow-commit threshold the API read from the environment', () => {
    const input = projectorWorkerInput({
      config: apiConfig({ PROJECTOR_STALL_AFTER_MS: '90000', PROJECTOR_SLOW_COMMIT_MS: '750' }),
      connectionString: 'esdb://127.0.0.1:2113?tls=false',
    });
    expect(input).toMatchObject({ stallAfterMs: 90_000, slowCommitMs: 750, dataDir: __dirname });
  });

  it('is started with the batch size and batch delay the API read from the environment', () => {
    const env = { PROJECTOR_BATCH_SIZE: '250', PROJECTOR_BATCH_DELAY_MS: '20' };
    const input = projectorWorkerInput({
      config: apiConfig(env),
      connectionString: 'esdb://127.0.0.1:2113?tls=false',
    });
    expect(input).toMatchObject({ batchSize: 250, batchDelayMs: 20 });
    // What the standalone projector would run with, given the same environment.
    expect(parseProjectorConfig({ ...env, DATA_DIR: __dirname }, '/srv')).toMatchObject({
      batchSize: 250,
      batchDelayMs: 20,
    });
  });

  it('is started with the read-model schema the API read from READ_MODEL_SCHEMA, as the standalone projector', () => {
    const env = {
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
      READ_MODEL_SCHEMA: 'read_models_2',
    };
    const input = projectorWorkerInput({
      config: apiConfig(env),
      connectionString: 'esdb://127.0.0.1:2113?tls=false',
    });
    expect(input).toMatchObject({ databaseUrl: env.DATABASE_URL, schema: 'read_models_2' });
    expect(parseProjectorConfig({ ...env, DATA_DIR: __dirname }, '/srv')).toMatchObject({
      databaseUrl: env.DATABASE_URL,
      schema: 'read_models_2',
    });
    const unset = projectorWorkerInput({
      config: apiConfig({}),
      connectionString: 'esdb://127.0.0.1:2113?tls=false',
    });
    expect(unset.schema).toBeUndefined();
  });

  it('refuses a bad READ_MODEL_SCHEMA at the API start with the standalone projector’s message', () => {
    const env = { READ_MODEL_SCHEMA: 'Read-Models' };
    const expected = [
      'READ_MODEL_SCHEMA: "Read-Models" is not a schema name (lower-case letters, digits and _, at most 63)',
    ];
    expect(problems(() => apiConfig(env))).toEqual(expected);
    expect(problems(() => parseProjectorConfig(env, '/srv'))).toEqual(expected);
  });

  it('is started with the projector defaults when they are unset', () => {
    const input = projectorWorkerInput({
      config: apiConfig({}),
      connectionString: 'esdb://127.0.0.1:2113?tls=false',
    });
    expect(input.stallAfterMs).toBeUndefined();
    expect(input.slowCommitMs).toBeUndefined();
    expect(input.batchSize).toBeUndefined();
    expect(input.batchDelayMs).toBeUndefined();
  });

  it('refuses a bad value at the API start with the standalone projector’s message', () => {
    const env = { PROJECTOR_STALL_AFTER_MS: '500', PROJECTOR_SLOW_COMMIT_MS: 'two seconds' };
    const expected = [
      'PROJECTOR_STALL_AFTER_MS: "500" is not a number of milliseconds (1000..3600000)',
      'PROJECTOR_SLOW_COMMIT_MS: "two seconds" is not a number of milliseconds (1..600000)',
    ];
    expect(problems(() => apiConfig(env))).toEqual(expected);
    expect(problems(() => parseProjectorConfig(env, '/srv'))).toEqual(expected);
  });

  it('refuses a bad batch size or batch delay at the API start with the standalone projector’s message', () => {
    const env = { PROJECTOR_BATCH_SIZE: '0', PROJECTOR_BATCH_DELAY_MS: '50ms' };
    const expected = [
      'PROJECTOR_BATCH_SIZE: "0" is not a number of events (1..100000)',
      'PROJECTOR_BATCH_DELAY_MS: "50ms" is not a number of milliseconds (1..60000)',
    ];
    expect(problems(() => apiConfig(env))).toEqual(expected);
    expect(problems(() => parseProjectorConfig(env, '/srv'))).toEqual(expected);
  });
});
