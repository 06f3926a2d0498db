import type { Server as NetServer, Socket } from 'node:net';
import {
  Server,
  ServerCredentials,
  ServiceDefinition,
  setLogger,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { ServerFeaturesService } from '@eventstore/db-client/generated/serverfeatures_grpc_pb';
import { StreamsService } from '@eventstore/db-client/generated/streams_grpc_pb';
import { storeLogLine, type StoreLogLevel } from './log';
import { getSupportedMethodsHandler } from './server-features';
import { appendHandler } from './streams/append';
import { batchAppendHandler } from './streams/batch-append';
import { ServerContext } from './streams/context';
import { decodeAppendReq, decodeBatchAppendReq } from './streams/decode';
import { deleteHandler, tombstoneHandler } from './streams/delete';
import { readHandler } from './streams/read';

/**
 * Read and BatchAppend responses are encoded by hand (see proto/wire.ts), Append and BatchAppend requests are
 * decoded by hand into plain objects (streams/decode.ts); everything else uses jspb.
 */
const passThrough = (value: Buffer): Buffer => value;

function streamsDefinition(): ServiceDefinition {
  return {
    ...StreamsService,
    read: { ...StreamsService.read, responseSerialize: passThrough },
    append: { ...StreamsService.append, requestDeserialize: decodeAppendReq },
    batchAppend: {
      ...StreamsService.batchAppend,
      requestDeserialize: decodeBatchAppendReq,
      responseSerialize: passThrough,
    },
  } as unknown as ServiceDefinition;
}

/** Every RPC this server answers, in a fixed order (the worker-thread mode counts them in shared memory). */
export const RPC_NAMES = [
  'Streams.Read',
  'Streams.Append',
  'Streams.BatchAppend',
  'Streams.Delete',
  'Streams.Tombstone',
  'ServerFeatures.GetSupportedMethods',
] as const;
export type RpcName = (typeof RPC_NAMES)[number];

/** Counts calls per RPC (exposed as `rpcCalls()`, e.g. to see which append path a client took). */
function counted<Args extends unknown[]>(
  ctx: ServerContext,
  name: RpcName,
  handler: (...args: Args) => void,
) {
  return (...args: Args): void => {
    ctx.rpcCalls.set(name, (ctx.rpcCalls.get(name) ?? 0) + 1);
    ctx.onRpc?.(name);
    handler(...args);
  };
}

export function createGrpcServer(ctx: ServerContext): Server {
  const server = new Server({
    // Appends are limited by maxAppendSize; leave room for the client's 3 MiB batch-append chunks.
    'grpc.max_receive_message_length': Math.max(8 * 1024 * 1024, ctx.maxAppendSize * 2),
    'grpc.max_send_message_length': 64 * 1024 * 1024,
    'grpc.keepalive_permit_without_calls': 1,
  });
  const streams: UntypedServiceImplementation = {
    read: counted(ctx, 'Streams.Read', readHandler(ctx)),
    append: counted(ctx, 'Streams.Append', appendHandler(ctx)),
    batchAppend: counted(ctx, 'Streams.BatchAppend', batchAppendHandler(ctx)),
    delete: counted(ctx, 'Streams.Delete', deleteHandler(ctx)),
    tombstone: counted(ctx, 'Streams.Tombstone', tombstoneHandler(ctx)),
  };
  server.addService(streamsDefinition(), streams);
  const features: UntypedServiceImplementation = {
    getSupportedMethods: counted(ctx, 'ServerFeatures.GetSupportedMethods', getSupportedMethodsHandler()),
  };
  server.addService(ServerFeaturesService as unknown as ServiceDefinition, features);
  return server;
}

/**
 * grpc-js leaves Nagle's algorithm on for server sockets; with small unary replies that interacts with the
 * peer's delayed ACKs and costs ~40 ms per round trip. Turn it off on every accepted connection.
 * (grpc-js exposes no option for this; its http2 servers are reached through a private field.)
 */
function disableNagle(server: Server): void {
  const http2Servers = (server as unknown as { http2Servers?: Map<NetServer, unknown> }).http2Servers;
  for (const http2Server of http2Servers?.keys() ?? []) {
    http2Server.prependListener('connection', (socket: Socket) => socket.setNoDelay(true));
  }
}

/**
 * grpc-js's own messages as the server's JSON log lines on stderr, not bare `E …` lines among them. The one
 * about an address it could not bind is left out: `bind` rejects with it, and the caller says it plainly.
 * (grpc-js has one logger per thread; the embedded server sets it when it starts.)
 */
function logGrpcAsJson(): void {
  const line =
    (level: StoreLogLevel) =>
    (message?: unknown, ...rest: unknown[]) => {
      const text = [message, ...rest].map(String).join(' ');
      if (text.startsWith('No address added out of total')) return;
      process.stderr.write(`${storeLogLine(level, text, { component: 'grpc-js' })}\n`);
    };
  setLogger({ error: line('error'), info: line('info'), debug: line('debug') });
}

/** Listens on host:port; rejects with an error whose message names the address and the system's reason. */
export function bind(server: Server, host: string, port: number): Promise<number> {
  logGrpcAsJson();
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (err, boundPort) => {
      if (err) return reject(err);
      disableNagle(server);
      resolve(boundPort);
    });
  });
}
