import {
  isSystemEventType,
  sessionStreamName,
  StreamTombstonedError,
  type StoredEvent,
} from '@session-engine/event-store';
import { CliError } from '../cli-error';
import type { Connections } from '../connections';
import { printable, quoted } from '../printable';

export interface SessionStream {
  name: string;
  /** As stored: not upcast, not folded (what the digest covers; `readStoredEvent` reads each one). */
  stored: StoredEvent[];
  /**
   * The session's own events: `stored` without system events (`$`-typed: a link, EventStoreDB's `$streamDeleted`),
   * which change no session and are passed by, as the API's reads and the projector pass them by. Never empty.
   */
  events: StoredEvent[];
}

/** The session's stream as stored, or exit code 2 when the application has no such session (or it was deleted). */
export async function readSessionStream(
  connections: Connections,
  applicationId: number,
  integrationId: string,
): Promise<SessionStream> {
  const { client } = await connections.eventStore();
  const name = sessionStreamName(applicationId, integrationId);
  const stored = await client.readStream(name).catch((error: unknown) => {
    // An operator deleted it for good: nothing of it can be read any more, which is an answer, not a bug.
    if (error instanceof StreamTombstonedError)
      throw new CliError(
        `Customer session ${quoted(integrationId)} in application ${applicationId} was deleted for good ` +
          `(stream ${printable(name)} is tombstoned): its events can no longer be read.`,
      );
    throw error;
  });
  const events = stored.filter((event) => !isSystemEventType(event.type));
  // Only system events is no session either: GET answers 404 for it.
  if (events.length === 0) {
    throw new CliError(
      `No customer session ${quoted(integrationId)} in application ${applicationId} (stream ${printable(name)}).`,
    );
  }
  return { name, stored, events };
}
