import { StateCache } from './state-cache';

describe('StateCache', () => {
  it('evicts the least recently used stream beyond its capacity', () => {
    const cache = new StateCache<string>(2);
    cache.set('a', { revision: 0n, state: 'A' });
    cache.set('b', { revision: 0n, state: 'B' });
    cache.get('a');
    cache.set('c', { revision: 0n, state: 'C' });
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')?.state).toBe('A');
    expect(cache.get('c')?.state).toBe('C');
  });

  it('never replaces a newer revision with an older one', () => {
    const cache = new StateCache<string>(10);
    cache.set('a', { revision: 5n, state: 'new' });
    cache.set('a', { revision: 3n, state: 'old' });
    expect(cache.get('a')).toEqual({ revision: 5n, state: 'new' });
  });
});
