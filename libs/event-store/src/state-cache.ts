/**
 * LRU cache of folded session state keyed by stream name, remembering the revision it was folded up to.
 * A hit is only a starting point: the caller still reads the events after that revision, so the result is
 * always exactly what a cold fold of the whole stream gives (the cache never changes what replay yields).
 * Entries must be treated as immutable: `evolve` returns new objects, it never mutates the state it is given.
 */
export interface CachedState<S> {
  revision: bigint;
  state: S;
}

export class StateCache<S> {
  private readonly entries = new Map<string, CachedState<S>>();

  constructor(private readonly capacity: number) {}

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
    this.entries.delete(streamName);
    this.entries.set(streamName, entry);
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  delete(streamName: string): void {
    this.entries.delete(streamName);
  }

  get size(): number {
    return this.entries.size;
  }
}
