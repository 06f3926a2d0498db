/**
 * Ids drawn outside the domain. The internal session id is a hash of the stream name, not a counter:
 * nothing global allocates it (no bottleneck, no coordination between processes), a retried create draws
 * the same id, and once written it travels inside `SessionCreated`, so replays, exports and imports keep it.
 * 53 bits of SHA-256 leave a collision chance of about n² / 2⁵⁴ (≈ 5 × 10⁻⁵ for ten million sessions).
 */
import { createHash, randomBytes } from 'node:crypto';

const fiftyThreeBits = (bytes: Buffer): number => {
  const high = bytes.readUInt32BE(0) & 0x1fffff; // 21 bits
  const low = bytes.readUInt32BE(4); // 32 bits
  return high * 2 ** 32 + low;
};

/** A safe integer in [1, 2⁵³ − 1] derived from the stream name. */
export function sessionIdFor(streamName: string): number {
  return fiftyThreeBits(createHash('sha256').update(streamName).digest()) || 1;
}

/** A random safe integer in [1, 2⁵³ − 1] (return records). */
export function randomSafeId(): number {
  return fiftyThreeBits(randomBytes(8)) || 1;
}
