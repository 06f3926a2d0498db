import { bind, createGrpcServer } from './server';
import { DEFAULT_MAX_APPEND_SIZE } from './errors';
import { logged, storeLogLevel, writeStoreLog, type StoreLogLevel } from './log';
import { EventStore, ScavengeResult } from './storage/event-store';
import { DEFAULT_GROUP_COMMIT_WINDOW_MS } from './storage/group-commit';
import { SynchronousMode } from './storage/sqlite-event-log';
import { ServerContext } from './streams/context';
import { SERVER_VERSION } from './server-features';
import { startInWorkerThread } from './thread';
import { DEFAULT_SCAVENGE_INTERVAL_MS, SCAVENGE_FIRST_DELAY_MS } from './scavenge-defaults';

export interface EmbeddedEventStoreOptions {
  /** Interface to bind; 127.0.0.1 unless you mean to expose it. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  dataDir: string;
  /** Largest append accepted, in bytes (EventStoreDB's default: 1 MiB). */
  maxAppendSize?: number;
  /**
   * FULL (default): an append is acknowledged only after the WAL holding it was fsynced (survives power
   * loss); NORMAL acknowledges after the commit reached the OS (survives process crashes only).
   */
  synchronous?: SynchronousMode;
  /**
   * Group-commit window in ms (default 2; 0: never wait): while appends keep arriving, a flush waits this long for
   * more to join its transaction — only while that is measured to commit more writes per second than flushing
   * on the next turn (`GroupCommitTuner`). A write into an idle store, or from a lone writer, is not held.
   */
  groupCommitWindowMs?: number;
  /** No start-up/shut-down log lines on stdout. */
  silent?: boolean;
  /**
   * The least severe line written (`silent`: none): the API under `npm start` passes its LOG_LEVEL, so that the
   * store's lines follow it as the API's and the projector's do. Default: every line.
   */
  logLevel?: StoreLogLevel | 'silent';
  /**
   * Run the server in a `worker_threads` Worker of this process: its SQLite commits (an fsync each with
   * synchronous=FULL) and gRPC encoding no longer stall this thread's event loop, and a second core is used.
   * Durability is unchanged (an append is acknowledged after its commit). Default false.
   */
  thread?: boolean;
  /**
   * The most pages (4 KiB each) the log file may hold — SQLite's `max_page_count`: past it every write fails as on
   * a full disk ("database or disk is full"), which is what the tests use it for. Unlimited by default.
   */
  maxLogPages?: number;
  /**
   * How often the server scavenges its log (`EventStore.scavenge`: removes the events no stream read can return
   * any more — past `$maxAge`, beyond `$maxCount`, before `$tb`, of tombstoned streams), in ms; the first one
   * runs `SCAVENGE_FIRST_DELAY_MS` after start (or after the interval, when shorter). 0: never (call
   * `scavenge()`). Default every hour.
   */
  scavengeIntervalMs?: number;
  /**
   * The wall clock the store uses (ms since the epoch): events' `created`, `$maxAge`, scavenges. For tests, which
   * move it forward instead of waiting; not available with `thread: true` (a function cannot cross threads).
   */
  now?: () => number;
}

export interface EmbeddedEventStore {
  host: string;
  port: number;
  /** `esdb://host:port?tls=false`, for `EventStoreDBClient.connectionString`. */
  connectionString: string;
  dataDir: string;
  /** Calls received so far per RPC (`Streams.Append`, `Streams.BatchAppend`, `Streams.Read`, ...). */
  rpcCalls(): Record<string, number>;
  /** Runs a scavenge now (or joins the one running) and says what it did; not with `thread: true`. */
  scavenge?(): Promise<ScavengeResult>;
  close(): Promise<void>;
}

const SHUTDOWN_GRACE_MS = 1000;

/**
 * Starts the EventStoreDB-compatible gRPC server in this process (in this thread, or in a worker thread with
 * `thread: true`), persisting under `dataDir`. Talk to it with @eventstore/db-client through `connectionString`.
 */
export function startEmbeddedEventStore(options: EmbeddedEventStoreOptions): Promise<EmbeddedEventStore> {
  return options.thread ? startInWorkerThread(options) : startInThisThread(options);
}

/** The server on this thread's event loop; `onRpc` is told of every call (for the worker-thread mode). */
export async function startInThisThread(
  options: EmbeddedEventStoreOptions,
  onRpc?: (name: string) => void,
): Promise<EmbeddedEventStore> {
  const host = options.host ?? '127.0.0.1';
  const silent = options.silent ?? false;
  const store = new EventStore(
    options.dataDir,
    options.synchronous ?? 'FULL',
    options.groupCommitWindowMs ?? DEFAULT_GROUP_COMMIT_WINDOW_MS,
    undefined,
    options.maxLogPages,
    options.now,
  );
  const ctx: ServerContext = {
    store,
    maxAppendSize: options.maxAppendSize ?? DEFAULT_MAX_APPEND_SIZE,
    shutdownHooks: new Set(),
    rpcCalls: new Map(),
    onRpc,
    log: (level, msg, fields = {}) => {
      if (silent && level === 'info') return;
      if (!logged(level, options.logLevel)) return;
      writeStoreLog(level, msg, fields);
    },
  };
  const server = createGrpcServer(ctx);
  let port: number;
  try {
    port = await bind(server, host, options.port ?? 2113);
  } catch (err) {
    store.close();
    throw err;
  }
  const connectionString = `esdb://${host}:${port}?tls=false`;
  ctx.log('info', `EventStoreDB-compatible server listening on ${host}:${port}`, {
    host,
    port,
    connectionString,
    dataDir: options.dataDir,
    serverVersion: SERVER_VERSION,
    maxAppendSize: ctx.maxAppendSize,
    lastPosition: store.lastPosition,
  });

  const scavenge = async (): Promise<ScavengeResult> => {
    const result = await store.scavenge();
    ctx.log('info', `scavenged the log: ${result.deleted} events removed`, { scavenge: result });
    return result;
  };
  const scavengeIntervalMs = options.scavengeIntervalMs ?? DEFAULT_SCAVENGE_INTERVAL_MS;
  let scavengeTimer: NodeJS.Timeout | undefined;
  const scheduleScavenge = (delay: number) => {
    scavengeTimer = setTimeout(() => {
      scavenge()
        .catch((err: Error) => ctx.log('warn', `scavenge failed: ${err.message}`))
        .finally(() => {
          if (!store.isClosed) scheduleScavenge(scavengeIntervalMs);
        });
    }, delay);
    scavengeTimer.unref();
  };
  if (scavengeIntervalMs > 0) scheduleScavenge(Math.min(SCAVENGE_FIRST_DELAY_MS, scavengeIntervalMs));

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      clearTimeout(scavengeTimer);
      // Stop accepting calls; let queued appends commit and be acknowledged; end subscriptions.
      const drained = new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      for (const hook of [...ctx.shutdownHooks]) hook();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        drained,
        new Promise<void>((resolve) => (timer = setTimeout(resolve, SHUTDOWN_GRACE_MS))),
      ]);
      clearTimeout(timer);
      server.forceShutdown();
      store.close();
      ctx.log('info', 'EventStoreDB-compatible server stopped', { host, port });
    })());

  const rpcCalls = () => Object.fromEntries(ctx.rpcCalls);
  return { host, port, connectionString, dataDir: options.dataDir, rpcCalls, scavenge, close };
}

export { SERVER_VERSION } from './server-features';
export { storeLogLevel };
export { DEFAULT_MAX_APPEND_SIZE } from './errors';
export { listenError, listenErrorMessage } from './listen-error';
export { parseScavengeInterval, DEFAULT_SCAVENGE_INTERVAL_MS } from './scavenge-interval';
export type { ScavengeResult } from './storage/event-store';
