import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import type { Empty } from '@eventstore/db-client/generated/shared_pb';
import { SupportedMethod, SupportedMethods } from '@eventstore/db-client/generated/serverfeatures_pb';

/** Reported version: recent enough that the client takes its current code paths (BatchAppend, caughtUp). */
export const SERVER_VERSION = '24.10.0';

const STREAMS = 'event_store.client.streams.streams';

/** Only what this server really implements; the client checks this list (lower-cased) before BatchAppend. */
const METHODS: Array<[service: string, method: string, features: string[]]> = [
  [STREAMS, 'read', ['position', 'events']],
  [STREAMS, 'append', []],
  [STREAMS, 'batchappend', []],
  [STREAMS, 'delete', []],
  [STREAMS, 'tombstone', []],
  ['event_store.client.server_features.serverfeatures', 'getsupportedmethods', []],
];

export function getSupportedMethodsHandler() {
  return (
    _call: ServerUnaryCall<Empty, SupportedMethods>,
    callback: sendUnaryData<SupportedMethods>,
  ): void => {
    const methods = METHODS.map(([service, method, features]) =>
      new SupportedMethod().setServiceName(service).setMethodName(method).setFeaturesList(features),
    );
    callback(null, new SupportedMethods().setEventStoreServerVersion(SERVER_VERSION).setMethodsList(methods));
  };
}
