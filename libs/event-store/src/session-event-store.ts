/**
 * Session events as the read side sees them: deserialized, upcast, with stream name, revision, commit
 * position and metadata. For the projector (catch-up subscription on `$all`, filtered on the server to
 * stream-name prefixes such as `session-`) and the replay tooling (`readAll`, `readStream`).
 */
import type { EsdbClientAdapter } from './esdb-client.adapter';
import { fromStoredEvent, sessionStreamName, type RecordedSessionEvent } from './serialization';

export const SESSION_STREAM_PREFIX = 'session-';

export interface SessionEventSubscription extends AsyncIterable<RecordedSessionEvent> {
  /** The same events in arrays (see `EventSubscription.batches`); iterate one way or the other. */
  batches(maxSize?: number): AsyncIterable<RecordedSessionEvent[]>;
  close(): Promise<void>;
  onCaughtUp(listener: () => void): void;
  /** See `EventSubscription.onConfirmed`: the server accepted the subscription. */
  onConfirmed(listener: () => void): void;
}

export class SessionEventStore {
  constructor(readonly client: EsdbClientAdapter) {}

  /** Catch-up subscription from after `fromPosition` (from the start when omitted), never from "end". */
  subscribeToSessionEvents(options: {
    fromPosition?: bigint;
    prefixes?: string[];
    onCheckpoint?: (position: bigint) => Promise<void> | void;
  }): SessionEventSubscription {
    const subscription = this.client.subscribeToAll({
      fromPosition: options.fromPosition,
      prefixes: options.prefixes ?? [SESSION_STREAM_PREFIX],
      onCheckpoint: options.onCheckpoint,
    });
    return {
      async *[Symbol.asyncIterator]() {
        for await (const stored of subscription) yield fromStoredEvent(stored);
      },
      async *batches(maxSize?: number) {
        for await (const batch of subscription.batches(maxSize)) yield batch.map(fromStoredEvent);
      },
      close: () => subscription.close(),
      onCaughtUp: (listener) => subscription.onCaughtUp(listener),
      onConfirmed: (listener) => subscription.onConfirmed(listener),
    };
  }

  async *readAll(
    options: { fromPosition?: bigint; prefixes?: string[]; maxCount?: number } = {},
  ): AsyncGenerator<RecordedSessionEvent> {
    for await (const stored of this.client.readAll({
      ...options,
      prefixes: options.prefixes ?? [SESSION_STREAM_PREFIX],
    })) {
      yield fromStoredEvent(stored);
    }
  }

  async readStream(
    streamName: string,
    options: { fromRevision?: bigint; maxCount?: number } = {},
  ): Promise<RecordedSessionEvent[]> {
    return (await this.client.readStream(streamName, options)).map(fromStoredEvent);
  }

  readSessionStream(applicationId: number, integrationId: string): Promise<RecordedSessionEvent[]> {
    return this.readStream(sessionStreamName(applicationId, integrationId));
  }
}
