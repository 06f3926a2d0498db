/**
 * Session events as the read side sees them: deserialized, upcast, with stream name, revision, commit
 * position and metadata. For the projector (catch-up subscription on `$all`, filtered on the server to
 * stream-name prefixes such as `session-`) and the replay tooling (`readAll`, `readStream`).
 */
import { SESSION_EVENT_SCHEMAS, type EventSchemas } from '@session-engine/session-domain';
import { isStreamDeleted, type EsdbClientAdapter, type StoredEvent } from './esdb-client.adapter';
import {
  storedEventReader,
  type RecordedSessionEvent,
  type RecordedSessionItem,
  type RecordedTombstone,
} from './serialization';

export const SESSION_STREAM_PREFIX = 'session-';

/**
 * `session-{applicationId}-{integrationId}`, the name of every session stream the engine writes. Another stream
 * that merely starts with `session-` (someone's `session-snapshots`, in the same store) is none of them.
 */
const SESSION_STREAM_NAME = /^session-\d+-./s;

/**
 * A system event (its type starts with `$`): never one of the engine's session events, wherever it is stored.
 * The type half of `isSessionEvent`, for the readers of one session stream (the API's read and fold), whose
 * stream name is the engine's already.
 */
export const isSystemEventType = (type: string): boolean => type.startsWith('$');

/**
 * An event of the engine's session streams, which the session readers fold and project: one of a stream named as
 * the engine names them, and not a system event (EventStoreDB's hard delete writes a `$streamDeleted` event into
 * the stream it tombstones: `isSessionTombstone`, which the readers of `$all` hand on as a tombstone, not as an
 * event). The readers pass any other event by, as they pass by other streams, instead of stopping at it as
 * unreadable.
 */
export const isSessionEvent = (stored: { streamName: string; type: string }): boolean =>
  SESSION_STREAM_NAME.test(stored.streamName) && !isSystemEventType(stored.type);

/**
 * The tombstone of a session stream: the `$streamDeleted` event a hard delete (`replay erase`) writes into it
 * (`isStreamDeleted`: at revision 2⁶³−1; one a client appended is passed by as any system event).
 * The session readers of `$all` (the projector, `replay verify`, `replay rebuild`) hand it on as a
 * `RecordedTombstone`, in log order, so that the read models drop the session; every other system event stays
 * passed by.
 */
export const isSessionTombstone = (stored: { streamName: string; type: string; revision: bigint }): boolean =>
  isStreamDeleted(stored) && SESSION_STREAM_NAME.test(stored.streamName);

/** A session stream's tombstone as the readers hand it on. */
export const toRecordedTombstone = (stored: StoredEvent): RecordedTombstone => ({
  kind: 'tombstone',
  streamName: stored.streamName,
  position: stored.position,
  created: stored.created,
});

export interface SessionEventSubscription extends AsyncIterable<RecordedSessionItem> {
  /**
   * The same events (and tombstones) in arrays (see `EventSubscription.batches`); iterate one way or the other.
   * An event this build cannot read ends the iteration with `UnreadableSessionEventError` after the events
   * before it.
   */
  batches(maxSize?: number): AsyncIterable<RecordedSessionItem[]>;
  close(): Promise<void>;
  /** See `EventSubscription.onCaughtUp`: called once every event before the live end has been handed on. */
  onCaughtUp(listener: () => void): void;
  /** See `EventSubscription.onConfirmed`: the server accepted the subscription. */
  onConfirmed(listener: () => void): void;
}

/**
 * A subscription met an event this build cannot read (`fromStoredEvent` refused it, `cause`: an unknown type, a
 * schema version above the ones it reads or not a version at all — a newer writer, a rollback, data changed by
 * hand). Every event before it was handed on; none after it is. Not an outage of the store: resubscribing reads
 * the same event again, and only a build that reads it gets past it. `following`: the events after it in the
 * same page, read but not handed on (the projector counts them as waiting).
 */
export class UnreadableSessionEventError extends Error {
  override readonly name = 'UnreadableSessionEventError';
  constructor(
    readonly stored: StoredEvent,
    override readonly cause: unknown,
    readonly following: readonly StoredEvent[] = [],
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/** What the session readers of `$all` hand on: a session event or a session stream's tombstone. */
export const isSessionItem = (stored: StoredEvent): boolean =>
  isSessionEvent(stored) || isSessionTombstone(stored);

export class SessionEventStore {
  private readonly fromStoredEvent: (stored: StoredEvent) => RecordedSessionEvent;

  constructor(
    readonly client: EsdbClientAdapter,
    /** The event versions this reader knows: the domain's (tests give a newer or older build's). */
    schemas: EventSchemas = SESSION_EVENT_SCHEMAS,
  ) {
    this.fromStoredEvent = storedEventReader(schemas);
  }

  /** Catch-up subscription from after `fromPosition` (from the start when omitted), never from "end". */
  subscribeToSessionEvents(options: {
    fromPosition?: bigint;
    prefixes?: string[];
    onCheckpoint?: (position: bigint) => Promise<void> | void;
  }): SessionEventSubscription {
    const subscription = this.client.subscribeToAll({
      fromPosition: options.fromPosition,
      prefixes: options.prefixes ?? [SESSION_STREAM_PREFIX],
      tombstones: true,
      onCheckpoint: options.onCheckpoint,
    });
    const fromStoredEvent = this.fromStoredEvent;
    const read = (stored: StoredEvent, page: readonly StoredEvent[], index: number): RecordedSessionItem => {
      if (isSessionTombstone(stored)) return toRecordedTombstone(stored);
      try {
        return fromStoredEvent(stored);
      } catch (error) {
        throw new UnreadableSessionEventError(stored, error, page.slice(index + 1));
      }
    };
    return {
      async *[Symbol.asyncIterator]() {
        for await (const stored of subscription) if (isSessionItem(stored)) yield read(stored, [], 0);
      },
      async *batches(maxSize?: number) {
        for await (const delivered of subscription.batches(maxSize)) {
          const page = delivered.filter(isSessionItem);
          if (page.length === 0) continue;
          const recorded: RecordedSessionItem[] = [];
          let unreadable: UnreadableSessionEventError | undefined;
          for (let i = 0; i < page.length && unreadable === undefined; i++) {
            try {
              recorded.push(read(page[i]!, page, i));
            } catch (error) {
              unreadable = error as UnreadableSessionEventError;
            }
          }
          // The events before an unreadable one are handed on first (a projector commits them), then it ends the
          // subscription: the page used to be thrown away whole, and those events with it.
          if (recorded.length > 0) yield recorded;
          if (unreadable !== undefined) throw unreadable;
        }
      },
      close: () => subscription.close(),
      onCaughtUp: (listener) => subscription.onCaughtUp(listener),
      onConfirmed: (listener) => subscription.onConfirmed(listener),
    };
  }

  /** The session events and session streams' tombstones of `$all`, in log order. */
  async *readAll(
    options: { fromPosition?: bigint; prefixes?: string[]; maxCount?: number } = {},
  ): AsyncGenerator<RecordedSessionItem> {
    for await (const stored of this.client.readAll({
      ...options,
      prefixes: options.prefixes ?? [SESSION_STREAM_PREFIX],
      tombstones: true,
    })) {
      if (isSessionEvent(stored)) yield this.fromStoredEvent(stored);
      else if (isSessionTombstone(stored)) yield toRecordedTombstone(stored);
    }
  }

  async readStream(
    streamName: string,
    options: { fromRevision?: bigint; maxCount?: number } = {},
  ): Promise<RecordedSessionEvent[]> {
    return (await this.client.readStream(streamName, options)).map(this.fromStoredEvent);
  }
}
