/**
 * What the projector has not committed, measured against the log's head as far as the subscription has
 * delivered it: every event delivered past the committed checkpoint counts once, whether it sits in the
 * buffer, in a batch being committed, or was dropped with a failed batch and is being read again after a
 * resubscription. The head only moves forwards (a high-water mark across resubscriptions), so while a batch
 * keeps failing the lag stays — and grows with what the retries read — instead of dropping to the few
 * events of the current attempt. Positions and times only: no event is kept.
 */
export class Backlog {
  private positions: bigint[] = [];
  private created: (string | undefined)[] = [];
  private start = 0;
  private headPosition: bigint;
  private committedPosition: bigint;

  constructor(committed: bigint) {
    this.headPosition = committed;
    this.committedPosition = committed;
  }

  /** An event the subscription delivered; one already counted (or committed) is ignored. */
  delivered(position: bigint, created: string | undefined): void {
    if (position <= this.headPosition) return;
    this.positions.push(position);
    this.created.push(created);
    this.headPosition = position;
  }

  /** Everything up to `position` is committed (a checkpoint only moves forwards). */
  committed(position: bigint): void {
    if (position <= this.committedPosition) return;
    this.committedPosition = position;
    if (position > this.headPosition) this.headPosition = position;
    const positions = this.positions;
    let start = this.start;
    while (start < positions.length && positions[start]! <= position) start++;
    if (start === positions.length) {
      this.positions = [];
      this.created = [];
      start = 0;
    } else if (start > 1024 && start * 2 > positions.length) {
      this.positions = positions.slice(start);
      this.created = this.created.slice(start);
      start = 0;
    }
    this.start = start;
  }

  /** Starts again from a checkpoint (the projector became the leader, or went back to standby). */
  reset(committed: bigint): void {
    this.positions = [];
    this.created = [];
    this.start = 0;
    this.headPosition = committed;
    this.committedPosition = committed;
  }

  /** Events delivered and not committed. */
  get size(): number {
    return this.positions.length - this.start;
  }

  /** The highest position delivered (or committed). */
  get head(): bigint {
    return this.headPosition;
  }

  /** Server time of the oldest event delivered and not committed. */
  get oldestCreated(): string | undefined {
    return this.size > 0 ? this.created[this.start] : undefined;
  }
}
