import type { StoredEvent } from '@session-engine/event-store';
import { readStoredEvent, unreadableReason, UnreadableEventError } from './session-events';

const closedData = { at: '2025-04-01T08:00:00.000Z', commandId: 'c', profileId: '', total: '0', items: [] };

function stored(metadata: object): StoredEvent {
  return {
    id: '00000000-0000-4000-8000-000000000001',
    streamName: 'session-1-cart',
    revision: 4n,
    position: 77n,
    type: 'SessionClosed',
    data: closedData,
    metadata: metadata as StoredEvent['metadata'],
    created: '2025-04-01T08:00:00.000Z',
  };
}

describe('the schema version of a stored session event, as the CLI reads it', () => {
  it('reads metadata without schemaVersion as version 1 (written before versions existed)', () => {
    expect(unreadableReason('SessionClosed', {}, closedData)).toBeUndefined();
    expect(readStoredEvent(stored({})).metadata.schemaVersion).toBe(1);
  });

  it.each([
    [
      '"1"',
      '1',
      'schema version "1" of SessionClosed is not a schema version (a positive integer; this CLI reads 1..1)',
    ],
    [
      '2.5',
      2.5,
      'schema version 2.5 of SessionClosed is not a schema version (a positive integer; this CLI reads 1..1)',
    ],
    [
      'null',
      null,
      'schema version null of SessionClosed is not a schema version (a positive integer; this CLI reads 1..1)',
    ],
    [
      '0',
      0,
      'schema version 0 of SessionClosed is not a schema version (a positive integer; this CLI reads 1..1)',
    ],
    ['2', 2, 'schema version 2 of SessionClosed is newer than this CLI reads (1..1): upgrade the CLI'],
  ])(
    'refuses schemaVersion %s as unreadable (exit 2), as the API and the projector do',
    (_name, schemaVersion, reason) => {
      expect(unreadableReason('SessionClosed', { schemaVersion }, closedData)).toBe(reason);
      expect(() => readStoredEvent(stored({ schemaVersion }))).toThrow(UnreadableEventError);
      expect(() => readStoredEvent(stored({ schemaVersion }))).toThrow(
        `session-1-cart revision 4 (log position 77): ${reason}`,
      );
    },
  );
});
