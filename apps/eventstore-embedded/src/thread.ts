/**
 * The worker-thread mode of `startEmbeddedEventStore({ thread: true })`: the gRPC server and its SQLite
 * writer run on their own event loop in a `worker_threads` Worker of this process. Clients connect over
 * 127.0.0.1 as usual; only start-up, RPC counters and shut-down cross the thread boundary.
 */
import type { EmbeddedEventStore, EmbeddedEventStoreOptions } from './index';
import { writeStoreLog } from './log';
import { RPC_NAMES } from './server';
import { startWorker } from './worker-entry';

/** Messages from the worker (see worker.ts). */
export type WorkerMessage =
  | { kind: 'listening'; host: string; port: number; connectionString: string }
  | { kind: 'failed'; message: string }
  | { kind: 'closed' };

export interface WorkerInput {
  options: EmbeddedEventStoreOptions;
  /** One Int32 counter per name in RPC_NAMES, incremented by the worker. */
  rpcCounters: SharedArrayBuffer;
}

export function startInWorkerThread(options: EmbeddedEventStoreOptions): Promise<EmbeddedEventStore> {
  const rpcCounters = new SharedArrayBuffer(RPC_NAMES.length * 4);
  const counters = new Int32Array(rpcCounters);
  const input: WorkerInput = { options: { ...options, thread: false, now: undefined }, rpcCounters };
  const worker = startWorker(__dirname, 'worker', input);

  return new Promise((resolve, reject) => {
    let exited = false;
    const exitedPromise = new Promise<void>((done) =>
      worker.once('exit', () => {
        exited = true;
        done();
      }),
    );
    const onStartFailure = (error: Error) => reject(error);
    worker.once('error', onStartFailure);
    worker.once('exit', (code) =>
      reject(new Error(`The event store worker exited during start-up (${code})`)),
    );

    worker.on('message', (message: WorkerMessage) => {
      if (message.kind === 'failed') {
        reject(new Error(message.message));
        return;
      }
      if (message.kind !== 'listening') return;
      worker.off('error', onStartFailure);
      // After start-up a crash of the worker is a crash of the store: say so instead of failing silently.
      worker.on('error', (error) => {
        writeStoreLog('error', `worker failed: ${error.message}`);
      });
      let closing: Promise<void> | undefined;
      const close = () =>
        (closing ??= (async () => {
          if (exited) return;
          worker.postMessage({ kind: 'close' });
          await exitedPromise;
        })());
      const rpcCalls = () => {
        const calls: Record<string, number> = {};
        RPC_NAMES.forEach((name, i) => {
          const count = Atomics.load(counters, i);
          if (count > 0) calls[name] = count;
        });
        return calls;
      };
      resolve({
        host: message.host,
        port: message.port,
        connectionString: message.connectionString,
        dataDir: options.dataDir,
        rpcCalls,
        close,
      });
    });
  });
}
