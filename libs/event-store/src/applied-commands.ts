/**
 * The keyed commands (`Idempotency-Key`) a session stream holds, found from the `idempotencyToken` in its
 * events' metadata: per token, where the command's events are in the stream (first and last revision, commit
 * position) and the hash of the request that caused them. With it a retry of a keyed command is recognised
 * from the stream itself, so it is never applied twice even when its remembered response was never written
 * (a crash between the session append and the record) or when two processes run the same key at once.
 *
 * Bounded and small: no session state is kept (a replay reads the stream up to the command again; replays
 * are rare), only commands younger than the idempotency window count, and at most `capacity` per stream (the
 * oldest go first). A command dropped for room within its window is not forgotten by the handler: while one may
 * have been dropped (`mayHaveDropped`), a token not found here is looked for in the whole stream
 * (`SessionCommandHandler`), since the stream is what answers a retry — a command that appended events has no
 * other record of its key.
 */

export interface AppliedCommand {
  requestHash: string;
  commandId: string;
  /** Revisions of the command's first and last event, and the commit position of its last. */
  firstRevision: bigint;
  revision: bigint;
  position?: bigint;
  /** When the command's last event was written (ms since the epoch). */
  writtenAt: number;
}

export class AppliedCommands {
  private readonly byToken = new Map<string, AppliedCommand>();
  /** Until when (ms since the epoch) a command dropped for room would still count: 0 when none was dropped. */
  private droppedUntil = 0;

  constructor(
    private readonly windowMs: number,
    private readonly capacity = 256,
  ) {}

  /** The command with this token, if it was written within the window of `now`. */
  get(token: string, now: number): AppliedCommand | undefined {
    const applied = this.byToken.get(token);
    return applied && now - applied.writtenAt <= this.windowMs ? applied : undefined;
  }

  /**
   * Records one event of a keyed command, in stream order: an event right after the previous one of the same
   * command extends it, so the command spans from its first event to its last.
   */
  add(
    token: string,
    event: { requestHash: string; commandId: string; revision: bigint; position?: bigint; writtenAt: number },
    now: number,
  ): void {
    const previous = this.byToken.get(token);
    const continues =
      previous !== undefined &&
      previous.commandId === event.commandId &&
      previous.revision + 1n === event.revision;
    this.remember(
      token,
      { ...event, firstRevision: continues ? previous.firstRevision : event.revision },
      now,
    );
  }

  /** Records a whole keyed command (this process has just appended it). */
  remember(token: string, applied: AppliedCommand, now: number): void {
    if (now - applied.writtenAt > this.windowMs) return;
    this.byToken.delete(token);
    this.byToken.set(token, applied);
    while (this.byToken.size > this.capacity) {
      const [oldest, dropped] = this.byToken.entries().next().value as [string, AppliedCommand];
      this.byToken.delete(oldest);
      this.droppedUntil = Math.max(this.droppedUntil, dropped.writtenAt + this.windowMs);
    }
  }

  /** Whether a command still within its window at `now` was dropped for room: a token missing here may exist. */
  mayHaveDropped(now: number): boolean {
    return now <= this.droppedUntil;
  }

  get size(): number {
    return this.byToken.size;
  }
}
