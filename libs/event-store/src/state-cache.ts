/**
 * LRU cache of folded session state keyed by stream name, remembering the revision it was folded up to.
 * A hit is only a starting point: the caller still reads the events after that revision, so the result is
 * always exactly what a cold fold of the whole stream gives (the cache never changes what replay yields).
 * Entries must be treated as immutable: `evolve` returns new objects, it never mutates the state it is given.
 *
 * The capacity is a budget in the unit of `weigh` (1 per entry by default; the command handler weighs entries
 * in approximate bytes, so a budget in MiB holds many small carts or a few huge ones). The least recently used
 * entries go first once the total exceeds it; an entry heavier than the whole budget is not kept.
 */
export interface CachedState<S> {
  revision: bigint;
  state: S;
}

interface Entry<S> extends CachedState<S> {
  weight: number;
}

export class StateCache<S> {
  private readonly entries = new Map<string, Entry<S>>();
  private total = 0;

  constructor(
    private readonly capacity: number,
    private readonly weigh: (state: S) => number = () => 1,
  ) {}

  get(streamName: string): CachedState<S> | undefined {
    const entry = this.entries.get(streamName);
    if (entry) {
      // Map keeps insertion order: re-inserting marks the entry as most recently used.
      this.entries.delete(streamName);
      this.entries.set(streamName, entry);
    }
    return entry;
  }

  set(streamName: string, entry: CachedState<S>): void {
    if (this.capacity <= 0) return;
    const existing = this.entries.get(streamName);
    if (existing && existing.revision > entry.revision) return;
    if (existing) this.remove(streamName, existing);
    const weight = this.weigh(entry.state);
    if (weight > this.capacity) return;
    this.entries.set(streamName, { revision: entry.revision, state: entry.state, weight });
    this.total += weight;
    while (this.total > this.capacity) {
      const [oldest, evicted] = this.entries.entries().next().value as [string, Entry<S>];
      this.remove(oldest, evicted);
    }
  }

  delete(streamName: string): void {
    const existing = this.entries.get(streamName);
    if (existing) this.remove(streamName, existing);
  }

  /** Entries held. */
  get size(): number {
    return this.entries.size;
  }

  /** Sum of the entries' weights (≤ capacity). */
  get weight(): number {
    return this.total;
  }

  private remove(streamName: string, entry: Entry<S>): void {
    this.entries.delete(streamName);
    this.total -= entry.weight;
  }
}
