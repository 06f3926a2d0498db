import { randomSafeId, sessionIdFor } from './ids';

describe('session ids', () => {
  it('derives a stable safe integer > 0 from the stream name', () => {
    const id = sessionIdFor('session-1-abc');
    expect(Number.isSafeInteger(id)).toBe(true);
    expect(id).toBeGreaterThan(0);
    expect(sessionIdFor('session-1-abc')).toBe(id);
    expect(sessionIdFor('session-2-abc')).not.toBe(id);
  });

  it('draws random safe integers > 0', () => {
    const ids = Array.from({ length: 1000 }, randomSafeId);
    expect(ids.every((id) => Number.isSafeInteger(id) && id > 0)).toBe(true);
    expect(new Set(ids).size).toBe(1000);
  });
});
