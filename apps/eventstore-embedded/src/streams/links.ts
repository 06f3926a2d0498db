/**
 * Link events resolved as EventStoreDB resolves them for a read or subscription that asks (`resolveLinkTos`). A link
 * is an event of type `$>` whose data is `<revision>@<stream>` (what EventStoreDB's projections write, and what any
 * client may append). Resolved, the reader receives `ReadEvent { event: the linked event, link: the link event,
 * commit_position: the link's }`; a link whose target cannot be read — never written, deleted, truncated by the
 * stream's `$tb` / `$maxCount` / `$maxAge`, tombstoned — comes as the link alone (`event` unset), as EventStoreDB's
 * `ResolvedEvent.ForFailedResolvedLink`. Without `resolveLinkTos` a link is sent as the event it is.
 */
import type { EventStore } from '../storage/event-store';
import type { StoredEvent } from '../storage/types';
import { ProtoReader } from '../proto/reader';
import { ProtoWriter } from '../proto/wire';
import { eventDataOf } from './encode';

export const LINK_EVENT_TYPE = '$>';

/** `<revision>@<stream>`: a revision in decimal, then the stream name (which may itself hold `@`). */
const LINK_DATA = /^(\d+)@(.+)$/s;

/** RecordedEvent bytes of a stored ReadResp event message (ReadResp.event = 1 → ReadEvent.event = 1): a view. */
function recordedEventOf(wire: Buffer): Buffer {
  const reader = new ProtoReader(wire);
  for (const field of [1, 1]) {
    for (;;) {
      if (reader.done) throw new Error('Not a ReadResp event message');
      const tag = reader.tag();
      if (tag === ((field << 3) | 2)) {
        reader.end = reader.delimited();
        break;
      }
      reader.skip(tag & 7);
    }
  }
  return wire.subarray(reader.pos, reader.end);
}

/** The event at `revision` of `stream`, if a read of the stream would return it now. */
function readable(store: EventStore, stream: string, revision: number): StoredEvent | undefined {
  if (store.isTombstoned(stream)) return undefined;
  const head = store.head(stream);
  if (!head || head.lastRevision < revision || store.isSoftDeleted(stream, head)) return undefined;
  const { fromRevision, minCreated } = store.visibility(stream, head);
  if (revision < fromRevision) return undefined;
  const [event] = store.readStreamForward(stream, revision, 1);
  return event && event.revision === revision && event.created >= minCreated ? event : undefined;
}

/** What a reader that asked for links to be resolved is sent for `e`: `e.wire`, unless `e` is a link. */
export function resolvedWire(store: EventStore, e: StoredEvent): Buffer {
  if (e.type !== LINK_EVENT_TYPE) return e.wire;
  const target = LINK_DATA.exec(eventDataOf(e.wire).toString('utf8'));
  const revision = target ? Number(target[1]) : NaN;
  const linked = target && Number.isSafeInteger(revision) ? readable(store, target[2]!, revision) : undefined;
  const link = recordedEventOf(e.wire);
  const writer = new ProtoWriter(link.length + (linked ? linked.wire.length : 0) + 32);
  writer.message(1, (event) => {
    if (linked) event.bytesField(1, recordedEventOf(linked.wire));
    event.bytesField(2, link).uint64Field(3, e.position);
  });
  return writer.finish();
}
