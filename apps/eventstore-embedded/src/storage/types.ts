/**
 * A committed event as the log holds it. Positions are the `$all` sequence (commit = prepare). Its id, content
 * type, data and metadata live only in `wire`: what readers are sent, encoded once when it was committed.
 */
export interface StoredEvent {
  position: number;
  stream: string;
  revision: number;
  type: string;
  /** .NET ticks (100 ns) since the Unix epoch, as the client expects in the `created` metadata entry. */
  created: number;
  /** The ReadResp message carrying this event, protobuf-encoded (streams/encode.ts `encodeEventResp`). */
  wire: Buffer;
}

/** An event being committed: what is stored, plus its id (indexed for idempotent re-appends). */
export interface NewEvent extends StoredEvent {
  eventId: string;
}

export interface ProposedEvent {
  eventId: string;
  type: string;
  contentType: string;
  data: Buffer;
  metadata: Buffer;
}

export type ExpectedRevision =
  | { kind: 'any' }
  | { kind: 'no_stream' }
  | { kind: 'stream_exists' }
  | { kind: 'revision'; revision: number };

/**
 * The tombstone record a hard delete writes to the log, as EventStoreDB does: an event of type `$streamDeleted`
 * in the deleted stream, with no data or metadata, at a new position of `$all` — so a reader of `$all` (an
 * outside subscriber, say) learns that the stream is gone. Its revision is EventStoreDB's `long.MaxValue`
 * (2^63 − 1) on the wire; the log stores `TOMBSTONE_REVISION` in its place, above any revision a stream reaches.
 * A scavenge keeps it, as EventStoreDB keeps its tombstones; stream reads and stream subscriptions never see it
 * (the stream answers "deleted").
 */
export const STREAM_DELETED_TYPE = '$streamDeleted';
export const TOMBSTONE_REVISION = Number.MAX_SAFE_INTEGER;

export const enum StreamState {
  Live = 0,
  /**
   * Soft-deleted by an earlier version of this server, which kept it here. A soft delete now lives where
   * EventStoreDB keeps it, in the stream's metadata (`$tb`); heads in this state are still honoured.
   */
  SoftDeleted = 1,
  Tombstoned = 2,
}

export interface StreamHead {
  /** Last revision written (-1 when the stream never had an event). */
  lastRevision: number;
  state: StreamState;
  /**
   * Revisions below this were hidden by a soft delete of an earlier version of this server (0 otherwise):
   * kept for its logs; `$tb` in the stream's metadata does this now.
   */
  truncateBefore: number;
}

export interface Position {
  commit: number;
  prepare: number;
}

export type WriteOutcome =
  | { kind: 'ok'; currentRevision: number; position: Position | null }
  | { kind: 'wrong_expected_version'; currentRevision: number; expected: ExpectedRevision }
  | { kind: 'stream_deleted' }
  | { kind: 'failed'; message: string };
