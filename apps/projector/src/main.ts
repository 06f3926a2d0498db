import { createServer } from 'node:http';
import pino from 'pino';
import { register } from 'prom-client';
import { startProjector } from './projector';

/**
 * The projector as its own process: EVENTSTORE_CONNECTION_STRING, DATABASE_URL (SQLite under DATA_DIR
 * when unset), metrics on PROJECTOR_METRICS_HOST:PROJECTOR_METRICS_PORT (default 127.0.0.1:9464, port 0 =
 * none; compose binds 0.0.0.0 so Prometheus in another container can scrape it). SIGTERM commits the
 * batch in hand and exits.
 */
async function main(): Promise<void> {
  const logger = pino({ name: 'projector', level: process.env.LOG_LEVEL ?? 'info' });
  const env = process.env;
  const projector = await startProjector({
    connectionString: env.EVENTSTORE_CONNECTION_STRING ?? 'esdb://127.0.0.1:2113?tls=false',
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: env.DATA_DIR ?? './data',
    schema: env.READ_MODEL_SCHEMA || undefined,
    batchSize: env.PROJECTOR_BATCH_SIZE ? Number(env.PROJECTOR_BATCH_SIZE) : undefined,
    batchDelayMs: env.PROJECTOR_BATCH_DELAY_MS ? Number(env.PROJECTOR_BATCH_DELAY_MS) : undefined,
    logger,
  });

  const port = Number(env.PROJECTOR_METRICS_PORT ?? 9464);
  const host = env.PROJECTOR_METRICS_HOST || '127.0.0.1';
  const server =
    port > 0
      ? createServer((req, res) => {
          if (req.url !== '/metrics') {
            res.writeHead(404).end();
            return;
          }
          register.metrics().then(
            (text) => res.writeHead(200, { 'Content-Type': register.contentType }).end(text),
            () => res.writeHead(500).end(),
          );
        }).listen(port, host, () => logger.info({ host, port }, 'projector metrics listening'))
      : undefined;

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'projector shutting down');
    server?.close();
    projector.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'projector stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
