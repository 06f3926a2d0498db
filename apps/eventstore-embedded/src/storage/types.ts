/** A committed event as held in the log. Positions are the `$all` sequence (commit = prepare). */
export interface StoredEvent {
  position: number;
  stream: string;
  revision: number;
  eventId: string;
  type: string;
  contentType: string;
  data: Buffer;
  metadata: Buffer;
  /** .NET ticks (100 ns) since the Unix epoch, as the client expects in the `created` metadata entry. */
  created: number;
  /** Cached wire encoding of the ReadResp carrying this event (shared by all live subscribers). */
  encoded?: Buffer;
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

export const enum StreamState {
  Live = 0,
  SoftDeleted = 1,
  Tombstoned = 2,
}

export interface StreamHead {
  /** Last revision written (-1 when the stream never had an event). */
  lastRevision: number;
  state: StreamState;
  /** Revisions below this were removed by a soft delete. */
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
