import { EventStore } from '../storage/event-store';

export interface ServerContext {
  store: EventStore;
  maxAppendSize: number;
  /** Hooks run when the server shuts down (end subscriptions, half-close batch-append calls). */
  shutdownHooks: Set<() => void>;
  /** Calls received per RPC, e.g. `Streams.BatchAppend`. */
  rpcCalls: Map<string, number>;
  /** Also told of every call (the worker-thread mode mirrors the counts into shared memory). */
  onRpc?(name: string): void;
  /** Structured log line (one JSON object per line). */
  log(level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void;
}
