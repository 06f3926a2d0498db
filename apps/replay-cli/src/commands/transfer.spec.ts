import { PROFILE_CLAIMED } from '@session-engine/event-store';
import { SESSION_EVENT_READ_VERSIONS } from '@session-engine/session-domain';
import { doneSoFar, parseHeader, parseStreamLine, type ImportProgress } from './transfer';

const event = (type: string, revision = 0, metadata: object = {}) => ({
  revision,
  id: `00000000-0000-4000-8000-${String(revision).padStart(12, '0')}`,
  type,
  data: {},
  metadata,
});
const line = (stream: string, ...events: object[]) => JSON.stringify({ stream, events });

describe('parseHeader', () => {
  it('takes the header export writes, with its stream count (and an event count when there is one)', () => {
    const header = { format: 'session-engine/streams', version: 1, exportedAt: 'x', streams: 3 };
    expect(parseHeader(JSON.stringify(header), 1)).toEqual(header);
    expect(parseHeader(JSON.stringify({ ...header, events: 9 }), 1)).toMatchObject({ events: 9 });
  });

  it.each([
    ['> session-engine@0.1.0 replay', 'line 1: not an export'],
    [line('session-1-a', event('SessionCreated')), 'the beginning of the file is missing'],
    ['{"format":"other","version":1,"streams":1}', 'unknown export format other v1'],
    ['{"format":"session-engine/streams","version":1}', 'the header has no stream count'],
    ['{"format":"session-engine/streams","version":1,"streams":-1}', 'the header has no stream count'],
    ['{"format":"session-engine/streams","version":1,"streams":1,"events":"9"}', 'event count'],
  ])('refuses %s', (text, message) => {
    expect(() => parseHeader(text, 1)).toThrow(message);
  });

  it('says a first line that is not JSON is not JSON', () => {
    expect(() => parseHeader('{"format":', 1)).toThrow(/not an export — .*; this line is not JSON$/);
  });

  it.each([
    ['[]', 'an array'],
    ['42', 'a number'],
    ['"x"', 'a string'],
    ['null', 'null'],
    ['true', 'a boolean'],
  ])('says a first line %s is valid JSON of another kind, not that it is not JSON', (text, kind) => {
    let message = '';
    try {
      parseHeader(text, 1);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^line 1: not an export — an export's first line is its header /);
    expect(message).toMatch(new RegExp(`; this line is valid JSON, but ${kind}, not an object$`));
    expect(message).not.toContain('not JSON');
  });

  it.each([
    ['[]', 'an array'],
    ['42', 'a number'],
    ['"x"', 'a string'],
    ['null', 'null'],
  ])('says a stream line %s is valid JSON of another kind', (text, kind) => {
    expect(() => parseStreamLine(text, 3)).toThrow(
      `line 3: valid JSON, but ${kind}, not a stream line {"stream", "events": [...]}`,
    );
  });
});

describe('parseStreamLine', () => {
  it('accepts every session event type in a session stream and the claim in a profile stream', () => {
    const types = Object.keys(SESSION_EVENT_READ_VERSIONS);
    const session = line('session-12-cart-a-b', ...types.map((type, i) => event(type, i)));
    expect(parseStreamLine(session, 2).events).toHaveLength(types.length);
    expect(parseStreamLine(line('profile-1-alice', event(PROFILE_CLAIMED)), 2).stream).toBe(
      'profile-1-alice',
    );
    expect(
      parseStreamLine(line('session-1-a', event('CartItemsAdded', 0, { schemaVersion: 2 })), 2).stream,
    ).toBe('session-1-a');
  });

  it.each([
    ['$settings-foo', 'Whatever', 'line 5: stream "$settings-foo" is not one an export writes'],
    ['idempotency-1-key', 'SessionCreated', 'stream "idempotency-1-key" is not one an export writes'],
    ['session-0-a', 'SessionCreated', 'stream "session-0-a" is not one an export writes'],
    ['session-x-a', 'SessionCreated', 'is not one an export writes'],
    ['session-1-', 'SessionCreated', 'is not one an export writes'],
    ['session-1-a', 'Whatever', 'line 5 (session-1-a): event 0 has type "Whatever"'],
    ['session-1-a', PROFILE_CLAIMED, `has type "${PROFILE_CLAIMED}"`],
    ['profile-1-p', 'SessionCreated', 'has type "SessionCreated"'],
  ])('refuses stream %s with a %s event', (stream, type, message) => {
    expect(() => parseStreamLine(line(stream, event(type)), 5)).toThrow(message);
  });

  it('refuses a schema version the engine cannot read', () => {
    for (const schemaVersion of [0, 3, 1.5, '2'])
      expect(() =>
        parseStreamLine(line('session-1-a', event('CartItemsAdded', 0, { schemaVersion })), 4),
      ).toThrow('this engine reads versions 1..2');
  });

  it('refuses a profile claim of a schema version the engine cannot read, as it refuses session events', () => {
    for (const schemaVersion of [0, 3, 1.5, '2'])
      expect(() =>
        parseStreamLine(line('profile-1-p', event(PROFILE_CLAIMED, 0, { schemaVersion })), 4),
      ).toThrow(
        `line 4 (profile-1-p): event 0 (${PROFILE_CLAIMED}) has schema version ${JSON.stringify(schemaVersion)}; this engine reads versions 1..2`,
      );
    for (const schemaVersion of [1, 2])
      expect(
        parseStreamLine(line('profile-1-p', event(PROFILE_CLAIMED, 0, { schemaVersion })), 4).stream,
      ).toBe('profile-1-p');
  });

  it('refuses a second header and lines that are not streams', () => {
    expect(() => parseStreamLine('{"format":"session-engine/streams","version":1,"streams":1}', 7)).toThrow(
      'line 7: a second header',
    );
    expect(() => parseStreamLine('not json', 7)).toThrow('line 7: not JSON');
    expect(() => parseStreamLine('[1]', 7)).toThrow(
      'line 7: valid JSON, but an array, not a stream line {"stream", "events": [...]}',
    );
    expect(() => parseStreamLine('{"stream":"session-1-a"}', 7)).toThrow('expected {"stream"');
  });

  it('takes a line without events (older exports wrote deleted streams so): import skips it', () => {
    expect(parseStreamLine('{"stream":"session-1-a","events":[]}', 7).events).toEqual([]);
  });

  it.each([
    ['not a UUID', 'x'],
    ['upper case', '0B3C1A52-1111-4111-8111-111111111112'],
    ['without dashes', '0b3c1a5211114111811111111111111a'],
  ])('refuses an event id %s, naming the event', (_what, id) => {
    const text = JSON.stringify({ stream: 'session-1-a', events: [{ ...event('SessionCreated'), id }] });
    expect(() => parseStreamLine(text, 2)).toThrow(
      `line 2 (session-1-a): event 0 has the id ${JSON.stringify(id)}, which is not an event id as the store returns them`,
    );
  });

  it('refuses two events with one id', () => {
    const first = event('SessionCreated', 0);
    const text = line('session-1-a', first, { ...event('SessionClosed', 1), id: first.id });
    expect(() => parseStreamLine(text, 2)).toThrow('event 1 has the id of event 0');
  });
});

describe('doneSoFar: what an import stopped at line N says of that line', () => {
  const progress: ImportProgress = {
    counts: {
      imported: ['session-1-a', 'session-1-b'],
      'already present': [],
      'store ahead': [],
      conflict: [],
      'digest mismatch': [],
    },
    ahead: [],
    mismatchReasons: new Map(),
    empty: [],
    events: 10,
    streams: 2,
    eventsRead: 10,
  };

  it('stopped before any of its events went out (a bad line, a read that failed): nothing from it on', () => {
    const text = doneSoFar(progress, 4);
    expect(text).toMatch(/^Before line 4: 2 stream\(s\) imported \(10 event\(s\) appended\)/);
    expect(text).toContain('Nothing from line 4 on was imported.');
  });

  it('stopped with its events sent (the store lost mid-append): its stream may be there, whole or in part', () => {
    const text = doneSoFar(progress, 4, true);
    expect(text).not.toContain('Nothing from line 4 on was imported');
    expect(text).toContain(
      "Line 4's events had been sent when it stopped: its stream may be imported, whole or in part",
    );
    expect(text).toContain('nothing after line 4 was');
    expect(text).toContain('run the same import again: it is safe');
  });
});
