/**
 * The keyed commands (`Idempotency-Key`) a session stream holds, found from the `idempotencyToken` in its
 * events' metadata: per token, the session right after the command's events, their revision and position,
 * and the hash of the request that caused them. With it a retry of a keyed command is recognised from the
 * stream itself, so it is never applied twice even when its remembered response was never written (a crash
 * between the session append and the record) or when two processes run the same key at once.
 *
 * Bounded: only commands younger than the idempotency window count, and at most `capacity` per stream (the
 * oldest go first); beyond that the remembered response in the idempotency store is what answers.
 */
import type { SessionEvent, SessionState } from '@session-engine/session-domain';

export interface AppliedCommand {
  requestHash: string;
  commandId: string;
  /** Revision and commit position of the command's last event. */
  revision: bigint;
  position?: bigint;
  /** The session after the command's events. */
  state: SessionState;
  events: SessionEvent[];
  /** When the command's last event was written (ms since the epoch). */
  writtenAt: number;
}

export class AppliedCommands {
  private readonly byToken = new Map<string, AppliedCommand>();

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
   * command extends it, so a command's answer is the state after its last event.
   */
  add(
    token: string,
    event: {
      requestHash: string;
      commandId: string;
      revision: bigint;
      position?: bigint;
      state: SessionState;
      event: SessionEvent;
      writtenAt: number;
    },
    now: number,
  ): void {
    const previous = this.byToken.get(token);
    const continues =
      previous !== undefined &&
      previous.commandId === event.commandId &&
      previous.revision + 1n === event.revision;
    this.remember(
      token,
      {
        requestHash: event.requestHash,
        commandId: event.commandId,
        revision: event.revision,
        position: event.position,
        state: event.state,
        events: continues ? [...previous.events, event.event] : [event.event],
        writtenAt: event.writtenAt,
      },
      now,
    );
  }

  /** Records a whole keyed command (this process has just appended it). */
  remember(token: string, applied: AppliedCommand, now: number): void {
    if (now - applied.writtenAt > this.windowMs) return;
    this.byToken.delete(token);
    this.byToken.set(token, applied);
    while (this.byToken.size > this.capacity) {
      this.byToken.delete(this.byToken.keys().next().value as string);
    }
  }

  get size(): number {
    return this.byToken.size;
  }
}
