/**
 * The audit digest of a stream: a SHA-256 hash chain over its events, so that a digest recorded at
 * revision R proves later that events 0..R were neither changed, removed nor reordered.
 *
 *   h(-1) = SHA-256( UTF-8("session-engine/stream-digest/v1\n" + streamName) )
 *   h(n)  = SHA-256( h(n-1) as 32 raw bytes ‖ UTF-8(canonical(event n)) )
 *   canonical(event) = the JSON object {"data", "id", "metadata", "revision", "type"} written with
 *     keys sorted by UTF-16 code units at every level, no whitespace, strings and numbers exactly as
 *     ECMAScript's JSON.stringify writes them (this is RFC 8785, JSON Canonicalization Scheme), where
 *     data and metadata are the JSON the store holds (before any upcasting), id is the event id as the
 *     store reports it (lower-case UUID), revision the event's number in its stream (an integer from 0)
 *     and type the stored event type.
 *
 * The digest printed is h(R) in lower-case hex together with R. The server's write time is left out on
 * purpose: it changes when streams are exported and imported, the history does not.
 */
import { canonicalJson } from '@session-engine/event-store';
import { createHash } from 'node:crypto';

export const DIGEST_SCHEME = 'session-engine/stream-digest/v1';

export interface DigestedEvent {
  id: string;
  type: string;
  data: unknown;
  metadata: unknown;
  revision: bigint | number;
}

export interface StreamDigestValue {
  stream: string;
  /** Revision of the last event covered (-1: none). */
  revision: number;
  events: number;
  sha256: string;
  scheme: string;
}

export function canonicalEvent(event: DigestedEvent): string {
  return canonicalJson({
    data: event.data,
    id: event.id,
    metadata: event.metadata,
    revision: Number(event.revision),
    type: event.type,
  });
}

export class StreamDigest {
  private hash: Buffer;
  private revision = -1;
  private events = 0;

  constructor(readonly stream: string) {
    this.hash = createHash('sha256').update(`${DIGEST_SCHEME}\n${stream}`, 'utf8').digest();
  }

  update(event: DigestedEvent): this {
    this.hash = createHash('sha256').update(this.hash).update(canonicalEvent(event), 'utf8').digest();
    this.revision = Number(event.revision);
    this.events++;
    return this;
  }

  value(): StreamDigestValue {
    return {
      stream: this.stream,
      revision: this.revision,
      events: this.events,
      sha256: this.hash.toString('hex'),
      scheme: DIGEST_SCHEME,
    };
  }
}

export function digestOf(stream: string, events: Iterable<DigestedEvent>): StreamDigestValue {
  const digest = new StreamDigest(stream);
  for (const event of events) digest.update(event);
  return digest.value();
}
