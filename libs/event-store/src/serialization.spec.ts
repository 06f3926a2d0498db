import { EventSchemas, EventUpcastError, type SessionEvent } from '@session-engine/session-domain';
import type { StoredEvent } from './esdb-client.adapter';
import { fromStoredEvent, storedEventReader, toEventToAppend } from './serialization';

const metadata = { commandId: 'c-1', correlationId: 'r-1', actor: 'key-1' };

function stored(type: string, data: object, meta: object): StoredEvent {
  return {
    id: '00000000-0000-4000-8000-000000000001',
    streamName: 'session-1-cart',
    revision: 3n,
    position: 42n,
    type,
    data: data as StoredEvent['data'],
    metadata: meta as StoredEvent['metadata'],
    created: '2025-04-01T08:00:00.000Z',
  };
}

const AT = '2025-04-01T08:00:00.000Z';
const closed = (extra: object = {}) =>
  stored('SessionClosed', { at: AT, commandId: 'c', profileId: '', total: '0', items: [] }, extra);

describe('the schema version in the metadata (fromStoredEvent)', () => {
  it('reads an event whose metadata has no schemaVersion as version 1 (written before versions existed)', () => {
    const recorded = fromStoredEvent(closed({ commandId: 'c' }));
    expect(recorded.event.type).toBe('SessionClosed');
    expect(recorded.metadata.schemaVersion).toBe(1);
  });

  it('reads an event of a version it knows, and says which', () => {
    expect(fromStoredEvent(closed({ schemaVersion: 1 })).metadata.schemaVersion).toBe(1);
  });

  it('takes one argument, so that a list of stored events can be mapped with it', () => {
    expect([closed({ schemaVersion: 1 })].map(fromStoredEvent)[0]!.event.type).toBe('SessionClosed');
  });

  it.each([
    ['a string', '1', 'Unknown schema version "1" of SessionClosed'],
    ['a fraction', 2.5, 'Unknown schema version 2.5 of SessionClosed'],
    ['null', null, 'Unknown schema version null of SessionClosed'],
    ['0', 0, 'Unknown schema version 0 of SessionClosed'],
    [
      'a version above the ones it reads',
      2,
      'Unknown schema version 2 of SessionClosed (versions 1..1 are known)',
    ],
  ])(
    'refuses a schemaVersion that is %s as unreadable, not as version 1',
    (_name, schemaVersion, message) => {
      // EventUpcastError: the API answers it 500 UNREADABLE_EVENT, the projector stops before it, the CLI exits 2.
      expect(() => fromStoredEvent(closed({ schemaVersion }))).toThrow(EventUpcastError);
      expect(() => fromStoredEvent(closed({ schemaVersion }))).toThrow(message);
    },
  );
});

/**
 * The release that rolls a new version of `SessionClosed` out readers first: it reads v2 (which adds `reason`)
 * and still writes v1, through the downcaster.
 */
describe('writing below the version read (toEventToAppend)', () => {
  const readsV2 = new EventSchemas({
    read: { SessionClosed: 2 },
    write: { SessionClosed: 1 },
    upcasters: { SessionClosed: { 1: (data) => ({ ...data, reason: 'unknown' }) } },
    downcasters: { SessionClosed: { 2: ({ reason: _reason, ...data }) => data } },
  });
  const readV2 = storedEventReader(readsV2);
  const v2 = {
    type: 'SessionClosed',
    data: { at: AT, commandId: 'c', profileId: '', total: '0', items: [], reason: 'unknown' },
  } as unknown as SessionEvent;

  it('writes the event at the write version, brought down by the downcaster', () => {
    const appended = toEventToAppend(v2, metadata, readsV2);
    expect(appended.metadata.schemaVersion).toBe(1);
    expect(appended.data).toEqual({ at: AT, commandId: 'c', profileId: '', total: '0', items: [] });
    expect(appended.data).not.toHaveProperty('reason');
  });

  it('reads what it wrote and what the next release writes to the same event', () => {
    const v1 = toEventToAppend(v2, metadata, readsV2);
    expect(readV2(stored(v1.type, v1.data, v1.metadata)).event).toEqual(v2);
    const written = readV2(stored('SessionClosed', v2.data, { schemaVersion: 2 }));
    expect(written.event).toEqual(v2);
    expect(written.metadata.schemaVersion).toBe(2);
  });

  it('is what a build that reads only v1 reads, and it refuses v2', () => {
    const v1 = toEventToAppend(v2, metadata, readsV2);
    expect(fromStoredEvent(stored(v1.type, v1.data, v1.metadata)).event.type).toBe('SessionClosed');
    expect(() => fromStoredEvent(stored('SessionClosed', v2.data, { schemaVersion: 2 }))).toThrow(
      EventUpcastError,
    );
  });

  it('writes the domain’s events at the version it reads today', () => {
    const appended = toEventToAppend(v2, metadata);
    expect(appended.metadata).toMatchObject({ schemaVersion: 1, ...metadata });
    expect(appended.data).toBe(v2.data);
  });
});
