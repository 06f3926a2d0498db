import path from 'node:path';
import { startEmbeddedEventStore } from './index';

/**
 * Runs the embedded EventStoreDB-compatible server alone:
 *   npm run start:eventstore -- --port 2113 --data ./data [--host 127.0.0.1] [--max-append-size 1048576]
 *     [--synchronous FULL|NORMAL] [--group-commit-window-ms 1]
 * Environment: EMBEDDED_EVENTSTORE_PORT, DATA_DIR, EMBEDDED_EVENTSTORE_HOST, EMBEDDED_EVENTSTORE_SYNCHRONOUS.
 * `--port 0` picks a free port; the start-up log line (JSON on stdout) says which.
 */
function arg(name: string): string | undefined {
  const argv = process.argv.slice(2);
  const i = argv.indexOf(`--${name}`);
  if (i >= 0) return argv[i + 1];
  const inline = argv.find((a) => a.startsWith(`--${name}=`));
  return inline?.slice(name.length + 3);
}

function fail(message: string): never {
  process.stderr.write(
    `${JSON.stringify({ level: 'error', service: 'eventstore-embedded', msg: message })}\n`,
  );
  process.exit(2);
}

async function main(): Promise<void> {
  const port = Number(arg('port') ?? process.env.EMBEDDED_EVENTSTORE_PORT ?? 2113);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`Invalid port: ${port}`);
  const maxAppendSize = arg('max-append-size') ? Number(arg('max-append-size')) : undefined;
  if (maxAppendSize !== undefined && !(maxAppendSize > 0)) fail('Invalid --max-append-size');
  const synchronous = (
    arg('synchronous') ??
    process.env.EMBEDDED_EVENTSTORE_SYNCHRONOUS ??
    'FULL'
  ).toUpperCase();
  if (synchronous !== 'FULL' && synchronous !== 'NORMAL') fail('--synchronous must be FULL or NORMAL');
  const window = arg('group-commit-window-ms');
  const groupCommitWindowMs = window !== undefined ? Number(window) : undefined;
  if (groupCommitWindowMs !== undefined && !(groupCommitWindowMs >= 0))
    fail('Invalid --group-commit-window-ms');
  const store = await startEmbeddedEventStore({
    host: arg('host') ?? process.env.EMBEDDED_EVENTSTORE_HOST ?? '127.0.0.1',
    port,
    dataDir: path.resolve(arg('data') ?? process.env.DATA_DIR ?? './data'),
    maxAppendSize,
    synchronous,
    groupCommitWindowMs,
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(
      `${JSON.stringify({ level: 'info', service: 'eventstore-embedded', msg: `${signal} received, shutting down` })}\n`,
    );
    store.close().then(
      () => process.exit(0),
      (err: Error) => fail(`Shutdown failed: ${err.message}`),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: Error) => fail(`Start-up failed: ${err.message}`));
