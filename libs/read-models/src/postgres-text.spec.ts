import {
  comparableText,
  eventsWithoutNul,
  NUL_REPLACEMENT,
  textKeyColumn,
  withoutKeyColumns,
  withoutNul,
} from './postgres-text';
import { SessionHistory } from './testing/session-history';

describe('U+0000 on PostgreSQL', () => {
  it('reads U+0000 as U+FFFD', () => {
    expect(withoutNul('a\0b\0')).toBe(`a${NUL_REPLACEMENT}b${NUL_REPLACEMENT}`);
    expect(withoutNul('plain')).toBe('plain');
  });

  it('leaves a batch without U+0000 as it is, and copies only the events that have one', () => {
    const clean = new SessionHistory(1, 'clean', 1).created('2025-03-01T10:00:00.000Z', { profileId: 'p' });
    expect(eventsWithoutNul(clean.events)).toBe(clean.events);

    const nul = new SessionHistory(1, 'n\0', 2).created('2025-03-01T10:00:00.000Z', {
      profileId: 'p\0',
      attributes: { 'k\0': ['v\0', 1, null, true, { deep: '\0' }] },
    });
    const events = [...clean.events, ...nul.events];
    const read = eventsWithoutNul(events);
    expect(read[0]).toBe(events[0]);
    expect(read[1]).toMatchObject({
      streamId: 'session-1-n\uFFFD',
      revision: 0,
      position: events[1].position,
      event: {
        type: 'SessionCreated',
        data: {
          integrationId: 'n\uFFFD',
          profileId: 'p\uFFFD',
          attributes: { 'k\uFFFD': ['v\uFFFD', 1, null, true, { deep: '\uFFFD' }] },
        },
      },
    });
    expect(JSON.stringify(read.map((e) => [e.streamId, e.event]))).not.toContain('\\u0000');
    expect(nul.events[0].event).toMatchObject({ data: { profileId: 'p\0' } }); // the input is not changed
  });

  it('compares text and JSON text with U+0000 read as U+FFFD', () => {
    const value = { a: 'x\0y', 'k\0': '\\u0000 is not a NUL here', b: '\\\0' };
    const replaced = { a: 'x\uFFFDy', 'k\uFFFD': '\\u0000 is not a NUL here', b: '\\\uFFFD' };
    expect(comparableText(JSON.stringify(value), true)).toBe(JSON.stringify(replaced));
    expect(comparableText(JSON.stringify(replaced), true)).toBe(JSON.stringify(replaced));
    expect(comparableText('a\0', false)).toBe('a\uFFFD');
    expect(comparableText('\\u0000', false)).toBe('\\u0000');
  });
});

describe('PostgreSQL key columns', () => {
  it('names the key column of each long text column, and leaves them out of a row', () => {
    expect(textKeyColumn('sessions', 'stream_id')).toBe('stream_id_key');
    expect(textKeyColumn('sessions', 'state')).toBeUndefined();
    expect(textKeyColumn('daily_analytics', 'id')).toBeUndefined();
    expect(textKeyColumn('toString', 'id')).toBeUndefined();
    expect(withoutKeyColumns('sku_analytics', { id: '1|d|s', id_key: Buffer.from('x') })).toEqual({
      id: '1|d|s',
    });
  });
});
