/** The parts of a `$metadata` event (held in the `$$<stream>` stream) that reads honour. */
export interface StreamMetadata {
  maxCount?: number;
  /** Seconds. */
  maxAge?: number;
  truncateBefore?: number;
  /** The whole JSON object as written (kept so a soft delete can add `$tb` to it). */
  raw: Record<string, unknown>;
}

const asPositiveInt = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;

export function parseStreamMetadata(data: Buffer): StreamMetadata {
  let raw: unknown;
  try {
    raw = JSON.parse(data.toString('utf8'));
  } catch {
    return { raw: {} };
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return { raw: {} };
  const obj = raw as Record<string, unknown>;
  return {
    maxCount: asPositiveInt(obj.$maxCount),
    maxAge: asPositiveInt(obj.$maxAge),
    truncateBefore: asPositiveInt(obj.$tb),
    raw: obj,
  };
}

export const metastreamOf = (stream: string): string => `$$${stream}`;
export const isMetastream = (stream: string): boolean => stream.startsWith('$$');
