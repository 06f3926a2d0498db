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
    expect(cache.get('a')?.revision).toBe(5n);
    expect(cache.get('a')?.state).toBe('new');
  });
});

describe('StateCache with a weight per entry', () => {
  const weighed = () => new StateCache<string>(10, (state) => state.length);

  it('evicts the least recently used entries until the weights fit the budget', () => {
    const cache = weighed();
    cache.set('a', { revision: 0n, state: 'aaaa' });
    cache.set('b', { revision: 0n, state: 'bbbb' });
    cache.get('a');
    cache.set('c', { revision: 0n, state: 'ccccc' });
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')?.state).toBe('aaaa');
    expect(cache.get('c')?.state).toBe('ccccc');
    expect(cache.weight).toBe(9);
  });

  it('re-weighs an entry that is replaced and forgets the weight of a deleted one', () => {
    const cache = weighed();
    cache.set('a', { revision: 0n, state: 'a' });
    cache.set('a', { revision: 1n, state: 'aaaaaaa' });
    expect(cache.weight).toBe(7);
    cache.set('b', { revision: 0n, state: 'bbb' });
    expect(cache.weight).toBe(10);
    cache.delete('a');
    expect(cache.weight).toBe(3);
    expect(cache.size).toBe(1);
  });

  it('does not keep an entry heavier than the whole budget, and drops its older state', () => {
    const cache = weighed();
    cache.set('a', { revision: 0n, state: 'aaa' });
    cache.set('b', { revision: 0n, state: 'bb' });
    cache.set('a', { revision: 1n, state: 'a'.repeat(11) });
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('b')?.state).toBe('bb');
    expect(cache.weight).toBe(2);
  });

  it('keeps an entry that weighs the whole budget, alone', () => {
    const cache = weighed();
    cache.set('b', { revision: 0n, state: 'bb' });
    cache.set('a', { revision: 0n, state: 'a'.repeat(10) });
    expect(cache.get('a')?.state).toBe('a'.repeat(10));
    expect(cache.get('b')).toBeUndefined();
    expect({ size: cache.size, weight: cache.weight }).toEqual({ size: 1, weight: 10 });
  });

  it('holds nothing with a budget of 0', () => {
    const cache = new StateCache<string>(0, (state) => state.length);
    cache.set('a', { revision: 0n, state: '' });
    expect(cache.size).toBe(0);
  });
});
