/**
 * Entry point of the worker thread started by `startEmbeddedEventStore({ thread: true })` (see thread.ts):
 * runs the server on this thread's event loop, reports its address, closes it when told to, then lets the
 * thread end.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { startInThisThread } from './index';
import { RPC_NAMES } from './server';
import type { WorkerInput, WorkerMessage } from './thread';

const { options, rpcCounters } = workerData as WorkerInput;
const counters = new Int32Array(rpcCounters);
const indexOf = new Map<string, number>(RPC_NAMES.map((name, i) => [name, i]));
const post = (message: WorkerMessage) => parentPort!.postMessage(message);

startInThisThread(options, (name) => Atomics.add(counters, indexOf.get(name)!, 1)).then(
  (store) => {
    parentPort!.on('message', (message: { kind: string }) => {
      if (message.kind !== 'close') return;
      store.close().then(
        () => {
          post({ kind: 'closed' });
          parentPort!.close();
        },
        (error: Error) => {
          post({ kind: 'failed', message: error.message });
          parentPort!.close();
        },
      );
    });
    post({ kind: 'listening', host: store.host, port: store.port, connectionString: store.connectionString });
  },
  (error: Error) => {
    post({ kind: 'failed', message: error.message });
    parentPort!.close();
  },
);
