/** The parts of a `$metadata` event (held in the `$$<stream>` stream) that reads and writes honour. */
export interface StreamMetadata {
  maxCount?: number;
  /** Seconds. */
  maxAge?: number;
  truncateBefore?: number;
  /** `$tb` is EventStoreDB's deleted-stream marker: the stream is soft-deleted and reads as not found. */
  softDeleted: boolean;
  /**
   * The whole JSON object as written, so writing the stream again can write it back with a new `$tb`; null
   * when the data is not a JSON object (EventStoreDB then writes nothing back either).
   */
  raw: Record<string, unknown> | null;
}

/**
 * EventStoreDB's EventNumber.DeletedStream (long.MaxValue), the `$tb` a soft delete writes. Written as these
 * digits, as EventStoreDB writes it; JSON.parse (ours, the client's) reads it as 2⁶³, the nearest double —
 * any `$tb` that reads as 2⁶³ counts as the marker, since a double cannot tell them apart.
 */
const DELETED_STREAM = '9223372036854775807';
const DELETED_STREAM_AS_READ = 2 ** 63;

const asPositiveInt = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;

export function parseStreamMetadata(data: Buffer): StreamMetadata {
  let raw: unknown;
  try {
    raw = JSON.parse(data.toString('utf8'));
  } catch {
    return { softDeleted: false, raw: null };
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return { softDeleted: false, raw: null };
  const obj = raw as Record<string, unknown>;
  return {
    maxCount: asPositiveInt(obj.$maxCount),
    maxAge: asPositiveInt(obj.$maxAge),
    truncateBefore: asPositiveInt(obj.$tb),
    softDeleted: obj.$tb === DELETED_STREAM_AS_READ,
    raw: obj,
  };
}

/** What EventStoreDB's soft delete writes to `$$<stream>`: `$tb` alone, whatever the metadata held before. */
export const softDeletedMetadata = (): Buffer => Buffer.from(`{"$tb":${DELETED_STREAM}}`, 'utf8');

/** The metadata with `$tb` set to where the stream goes on from (EventStoreDB's undelete keeps the rest). */
export const withTruncateBefore = (raw: Record<string, unknown>, truncateBefore: number): Buffer =>
  Buffer.from(JSON.stringify({ ...raw, $tb: truncateBefore }), 'utf8');

export const metastreamOf = (stream: string): string => `$$${stream}`;
export const isMetastream = (stream: string): boolean => stream.startsWith('$$');
/** The stream a metastream holds the metadata of. */
export const originalStreamOf = (metastream: string): string => metastream.slice(2);
