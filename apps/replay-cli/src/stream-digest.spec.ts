import { createHash } from 'node:crypto';
import { canonicalEvent, digestOf } from './stream-digest';

const event = (revision: number, data: Record<string, unknown>) => ({
  id: `00000000-0000-4000-8000-00000000000${revision}`,
  type: 'SessionCreated',
  data,
  metadata: { schemaVersion: 1, commandId: 'c' },
  revision: BigInt(revision),
});

describe('stream digest', () => {
  it('writes events canonically: sorted keys at every level, no whitespace, revision as an integer', () => {
    expect(canonicalEvent(event(0, { b: 1.5, a: { d: 'x', c: [2, 1] } }))).toBe(
      '{"data":{"a":{"c":[2,1],"d":"x"},"b":1.5},"id":"00000000-0000-4000-8000-000000000000",' +
        '"metadata":{"commandId":"c","schemaVersion":1},"revision":0,"type":"SessionCreated"}',
    );
  });

  it('is the documented chain, so an auditor can recompute it with any SHA-256 tool', () => {
    const events = [event(0, { a: 1 }), event(1, { a: 2 })];
    let h = createHash('sha256').update('session-engine/stream-digest/v1\nsession-1-x').digest();
    for (const e of events) h = createHash('sha256').update(h).update(canonicalEvent(e)).digest();
    expect(digestOf('session-1-x', events)).toMatchObject({
      revision: 1,
      events: 2,
      sha256: h.toString('hex'),
    });
  });

  it('changes when any event is altered, removed or reordered, but not with key order', () => {
    const base = digestOf('s', [event(0, { a: 1, b: 2 }), event(1, { c: 3 })]).sha256;
    expect(digestOf('s', [event(0, { b: 2, a: 1 }), event(1, { c: 3 })]).sha256).toBe(base);
    expect(digestOf('s', [event(0, { a: 1, b: 3 }), event(1, { c: 3 })]).sha256).not.toBe(base);
    expect(digestOf('s', [event(0, { a: 1, b: 2 })]).sha256).not.toBe(base);
    expect(digestOf('t', [event(0, { a: 1, b: 2 }), event(1, { c: 3 })]).sha256).not.toBe(base);
  });
});
