import { sessionStreamName, type StoredEvent } from '@session-engine/event-store';
import { CliError } from '../cli-error';
import type { Connections } from '../connections';

export interface SessionStream {
  name: string;
  /** As stored: not upcast, not folded (what the digest covers; `readStoredEvent` reads each one). */
  stored: StoredEvent[];
}

/** The session's stream as stored, or exit code 2 when the application has no such session. */
export async function readSessionStream(
  connections: Connections,
  applicationId: number,
  integrationId: string,
): Promise<SessionStream> {
  const { client } = await connections.eventStore();
  const name = sessionStreamName(applicationId, integrationId);
  const stored = await client.readStream(name);
  if (stored.length === 0) {
    throw new CliError(
      `No customer session "${integrationId}" in application ${applicationId} (stream ${name}).`,
    );
  }
  return { name, stored };
}
