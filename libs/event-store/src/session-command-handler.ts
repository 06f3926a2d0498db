/**
 * The write path of a session: read → fold → decide → append with the expected revision.
 *
 * - A command arrives without its time: the handler reads its clock on each decision — after the lock is taken
 *   and the state read, and again on each retry — so a command that waited or retried is not decided with the
 *   time it arrived at. The domain never records a time earlier than the session's latest event either (another
 *   process's clock may run ahead): event times never go backwards in a stream. A dry run may be given its time
 *   instead (`decidedAt`, the API's `?now=`): it stores nothing, so no stream ever holds that time.
 * - Within one process, commands on one session run one at a time (`KeyedMutex`), so they never collide.
 *   With a store that has a call deadline (`withCallTimeout`) a command waits at most that long for the one
 *   ahead (`lockWaitMs`), and gives up at once when the one ahead timed out (`LockWaitError`, nothing sent).
 * - Across processes a lost race (`StreamRevisionConflict`) is retried by re-reading and re-deciding, with
 *   jittered back-off, at most `retryPolicy.maxAttempts` times; then `ConcurrentUpdateError` (409).
 * - `If-Match` arrives as `expectedRevision` (`If-None-Match: *` as `null`, no session yet): a stale revision is
 *   `PreconditionFailedError` (412), never retried. A command other than UpdateSession on a missing session is
 *   the domain's 404 whatever `expectedRevision` says (RFC 9110 §13.2.1).
 * - The profile first-session claim is made only for a command the domain accepts, never for dry runs,
 *   and before the session append, on every attempt (see `ProfileClaims`: a claim its session never committed
 *   is taken over by a later session once shown older than the grace window, on evidence no clock skew fakes).
 *   A claim write that times out or loses its connection is `ClaimWriteTimeoutError` /
 *   `ClaimWriteInterruptedError`: the session append was never sent, so the command was not applied (unlike a
 *   session append that fails so).
 * - Folded state is cached per stream with its revision. A command decides on the cached state and appends
 *   expecting the cached revision (one round trip); a conflict re-reads and re-decides, and a refusal, a
 *   failed If-Match, a no-op or a dry run is answered only from a fresh read. `load` (GET) always reads what
 *   came after the cached revision.
 * - A keyed command (`Idempotency-Key`: `metadata.idempotencyToken`) is looked up in the stream itself before
 *   it is decided, on every fresh read and on the cache (see `AppliedCommands`; past the tokens it keeps, in the
 *   whole stream): if its events are already there, the result is theirs (`replayed`) and nothing is appended.
 *   The stream is the only record of a keyed command that appended (the API writes an idempotency record only
 *   for one that changed nothing), so a crash after the append, or the same key sent to two processes at once,
 *   applies it once.
 * - A session stream an operator deleted (docs/command-api.md, "Deleted session streams"): tombstoned, every
 *   read and every append of it fails, also an append expecting the cached revision, and the command or read
 *   ends with `SessionDeletedError`; soft-deleted, it reads as a session that never existed — a read past the
 *   cached revision finds the stream missing and drops the cached state — and a create revives the stream. A
 *   command decided on a state cached before a soft delete is appended all the same (the store accepts the
 *   cached revision): a known risk, documented there. A keyed command is replayed from the stream as it is
 *   now, up to its own last event; when the stream no longer holds its events (soft-deleted since it ran, then
 *   perhaps created anew), a command found on the cache is answered from a fresh read, as a process without the
 *   cache answers it, and one found on a fresh read or named by its record is `AppliedCommandDeletedError`
 *   (404 `SESSION_NOT_FOUND`).
 * - A system event in a session stream (its type starts with `$`, written there by some other tool) is passed by
 *   as the projector, `replay verify` and `replay log` pass it by (`isSystemEventType`, the type half of
 *   `isSessionEvent`): never folded, never unreadable. The session's revision is still the stream's, so an
 *   append after one expects its revision.
 */
import {
  checkInput,
  decide,
  EventUpcastError,
  evolve,
  profileToClaim,
  SESSION_EVENT_SCHEMAS,
  type EventSchemas,
  type SessionCommand,
  type SessionEvent,
  type SessionState,
} from '@session-engine/session-domain';
import { AppliedCommands, type AppliedCommand } from './applied-commands';
import {
  EventStoreTimeoutError,
  EventStoreWriteInterruptedError,
  StreamMissingError,
  StreamRevisionConflict,
  StreamTombstonedError,
  type EsdbClientAdapter,
  type JsonObject,
  type StoredEvent,
} from './esdb-client.adapter';
import {
  AppliedCommandDeletedError,
  ClaimWriteInterruptedError,
  ClaimWriteTimeoutError,
  ConcurrentUpdateError,
  PreconditionFailedError,
  SessionDeletedError,
} from './errors';
import { KeyedMutex } from './keyed-mutex';
import { ProfileClaims, type ClaimRequest } from './profile-claims';
import { backoffDelayMs, DEFAULT_RETRY_POLICY, sleep, type RetryPolicy } from './retry-policy';
import { IDEMPOTENCY_TTL_SECONDS } from './idempotency-store';
import {
  sessionStreamName,
  storedEventReader,
  toEventToAppend,
  type CommandMetadata,
  type RecordedSessionEvent,
} from './serialization';
import { isSystemEventType } from './session-event-store';
import { approximateSessionBytes } from './session-size';
import { StateCache } from './state-cache';

/**
 * A command as the handler takes it: everything but its time (`now`), which the handler gives it on each decision.
 */
export type UntimedCommand<C extends SessionCommand = SessionCommand> = C extends SessionCommand
  ? Omit<C, 'now'>
  : never;

export interface LoadedSession {
  state: SessionState | null;
  /**
   * Revision of the stream's last event — also when that is a system event the fold passed by: the next append
   * expects it; `null` when the stream does not exist.
   */
  revision: bigint | null;
}

export interface HandleOptions {
  metadata: CommandMetadata;
  /** `If-Match`: the revision the caller last saw; `null` (`If-None-Match: *`): the session must not exist yet. */
  expectedRevision?: bigint | null;
  /** Decide and fold, store nothing, claim nothing. */
  dry?: boolean;
  /**
   * A dry run only: the time it is decided at (ms since the epoch), instead of the clock's (Talon.One's
   * `now`, a future instant to see the session as it would be then). The domain still never stamps a time
   * earlier than the session's latest event.
   */
  decidedAt?: number;
  /**
   * How long this command may wait for the command ahead of it on its session, in ms (default `lockWaitMs`):
   * what is left of the request's wait after waiting elsewhere (the API's lock per `Idempotency-Key`).
   */
  lockWaitMs?: number;
}

export interface CommandResult extends LoadedSession {
  /** Events the command decided (appended unless dry); for a replay, the events the first run appended. */
  events: SessionEvent[];
  /** Commit position of the append (or of the replayed command's); absent when nothing was appended. */
  position?: bigint;
  appended: boolean;
  /**
   * Set when the stream already held this keyed command (same `idempotencyToken`): nothing was decided or
   * appended, and state, revision, position and events are those right after the first run. `requestHash`
   * is the first run's, for the caller to tell a retry from a reuse of the key.
   */
  replayed?: { requestHash: string };
}

/** The state cache's default memory budget (approximate bytes). */
export const DEFAULT_CACHE_MAX_BYTES = 128 * 2 ** 20;

/** Hooks for metrics; the library itself knows no metrics system. */
export interface CommandObserver {
  onConflict?(streamName: string): void;
  onRetry?(streamName: string, attempt: number): void;
  onRetriesExhausted?(streamName: string): void;
}

export interface SessionCommandHandlerOptions {
  retryPolicy?: RetryPolicy;
  /**
   * Memory budget of the state cache, in approximate bytes (see session-size.ts); 0 disables the cache.
   * Default 128 MiB: some 75,000 sessions of a few lines, or 130 at the 1,000-line limit.
   */
  cacheMaxBytes?: number;
  observer?: CommandObserver;
  /** How long a keyed command is recognised in its stream (default: the idempotency window, 24 h). */
  idempotencyWindowMs?: number;
  /**
   * How old a profile claim its session never committed must be before a later session takes it over
   * (default: `profileClaimGraceMs` of the store's call deadline, at least 10 minutes).
   */
  profileClaimGraceMs?: number;
  /**
   * The wall-clock age past which a claim this process has not watched for the window counts as stale (default:
   * `profileClaimWallClockStaleMs`, the window plus an hour; see `ProfileClaims`).
   */
  profileClaimWallClockStaleMs?: number;
  /** The monotonic clock profile claims are watched by (ms; default `performance.now`). */
  monotonicNow?: () => number;
  /**
   * The clock (ms since the epoch): the time of each decision (its events' `at`), and of keyed commands' and
   * profile claims' age; default `Date.now`.
   */
  now?: () => number;
  /**
   * The event versions this build reads and writes (default: the domain's); tests give a build that rolls a
   * new version out.
   */
  schemas?: EventSchemas;
}

/** What the handler keeps per stream: the folded session and the keyed commands found in it. */
interface CachedSession {
  state: SessionState;
  applied: AppliedCommands;
}

interface Loaded extends LoadedSession {
  applied?: AppliedCommands;
}

export class SessionCommandHandler {
  /**
   * The longest a command waits for the one ahead of it on its session, in ms: the store's call deadline, so
   * that a request's wait stays within about one deadline; unbounded for a store without one.
   */
  readonly lockWaitMs: number | undefined;
  private readonly mutex: KeyedMutex;
  private readonly cache: StateCache<CachedSession>;
  private readonly claims: ProfileClaims;
  private readonly retryPolicy: RetryPolicy;
  private readonly observer: CommandObserver;
  private readonly reads = new Map<string, SharedRead>();
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly schemas: EventSchemas;
  private readonly fromStoredEvent: (stored: StoredEvent) => RecordedSessionEvent;

  constructor(
    private readonly store: EsdbClientAdapter,
    options: SessionCommandHandlerOptions = {},
  ) {
    this.lockWaitMs = store.callTimeoutMs;
    // When the command ahead timed out the store is not answering: those waiting give up at once, rather than
    // each send its calls into it after the one before timed out.
    this.mutex = new KeyedMutex({ waitMs: this.lockWaitMs, failWaitersOn: timedOut });
    this.cache = new StateCache<CachedSession>(options.cacheMaxBytes ?? DEFAULT_CACHE_MAX_BYTES, (cached) =>
      approximateSessionBytes(cached.state, cached.applied.size),
    );
    this.claims = new ProfileClaims(store, {
      graceMs: options.profileClaimGraceMs,
      wallClockStaleMs: options.profileClaimWallClockStaleMs,
      now: options.now,
      monotonicNow: options.monotonicNow,
    });
    this.retryPolicy = options.retryPolicy ?? DEFAULT_RETRY_POLICY;
    this.observer = options.observer ?? {};
    this.windowMs = options.idempotencyWindowMs ?? IDEMPOTENCY_TTL_SECONDS * 1000;
    this.now = options.now ?? Date.now;
    this.schemas = options.schemas ?? SESSION_EVENT_SCHEMAS;
    this.fromStoredEvent = storedEventReader(this.schemas);
  }

  handle(command: UntimedCommand, options: HandleOptions): Promise<CommandResult> {
    if (options.decidedAt !== undefined && options.dry !== true) {
      return Promise.reject(new Error('decidedAt is for dry runs only: a stored event takes the clock'));
    }
    const stream = sessionStreamName(command.applicationId, command.integrationId);
    return this.mutex.run(stream, { waitMs: options.lockWaitMs ?? this.lockWaitMs }, async () => {
      try {
        // Optimistic on the cache: with a cached state at revision R, decide on it and append expecting R. The
        // append's success proves R was the latest revision; anything else re-reads before answering.
        // UpdateSession (create-or-update) of a session this process has not seen assumes it is new: the
        // append expecting no stream proves it, and an existing session costs one refused append more.
        const token = options.metadata.idempotencyToken;
        let current: Loaded | undefined =
          this.cached(stream) ??
          (command.type === 'UpdateSession' ? { state: null, revision: null } : undefined);
        let verified = current === undefined || this.needsFreshState(command, current.state, options);
        if (verified) current = await this.load(stream);
        for (let attempt = 1; ; attempt++) {
          const replay = token === undefined ? undefined : await this.appliedCommand(stream, current!, token);
          if (replay) {
            try {
              return await this.replay(stream, command.integrationId, replay);
            } catch (error) {
              if (!(error instanceof AppliedCommandDeletedError)) throw error;
              // The stream no longer holds the command's events: soft-deleted since `current` was read.
              this.cache.delete(stream);
              // A fresh read found them a moment ago: deleted while this command was answered.
              if (verified) throw error;
              // Found on a cached state the delete made stale: answered as a process without it answers, from a
              // fresh read (which finds the token if the session created anew holds it, else decides anew).
              current = await this.load(stream);
              verified = true;
              attempt--;
              continue;
            }
          }
          let events: SessionEvent[];
          try {
            if (
              options.expectedRevision !== undefined &&
              current!.revision !== options.expectedRevision &&
              !missingSessionFor(command, current!)
            ) {
              // Bad input is a 400 whatever the precondition (the domain's order of checks).
              checkInput(this.timed(command, options.decidedAt), current!.state);
              throw new PreconditionFailedError(options.expectedRevision, current!.revision);
            }
            events = await this.decide(command, current!.state, options);
            if (events.length === 0 && !verified) throw STALE;
          } catch (error) {
            // A refusal, a failed If-Match or a no-op decided on the cache alone is checked on a fresh read:
            // no answer is based on a stale cache.
            if (verified) throw error;
            current = await this.load(stream);
            verified = true;
            attempt--;
            continue;
          }
          // What a read folds once they are written (the same events outside a rollout of a new version):
          // the answer, the cache and every later read of the session agree.
          const asRead = events.map((event) => this.schemas.asRead(event));
          if (events.length === 0 || options.dry) {
            return { ...current!, state: foldOnto(current!.state, asRead), events: asRead, appended: false };
          }
          try {
            const outcome = await this.store.appendToStream(
              stream,
              events.map((event) => toEventToAppend(event, options.metadata, this.schemas)),
              current!.revision ?? 'no_stream',
            );
            const state = foldOnto(current!.state, asRead)!;
            const applied = current!.applied ?? new AppliedCommands(this.windowMs);
            if (token !== undefined) {
              applied.remember(
                token,
                {
                  requestHash: options.metadata.requestHash ?? '',
                  commandId: options.metadata.commandId,
                  firstRevision: outcome.nextRevision - BigInt(events.length) + 1n,
                  revision: outcome.nextRevision,
                  position: outcome.position,
                  writtenAt: this.now(),
                },
                this.now(),
              );
            }
            this.cache.set(stream, { revision: outcome.nextRevision, state: { state, applied } });
            return {
              state,
              revision: outcome.nextRevision,
              events: asRead,
              position: outcome.position,
              appended: true,
            };
          } catch (error) {
            if (!(error instanceof StreamRevisionConflict)) throw error;
            this.observer.onConflict?.(stream);
            this.cache.delete(stream);
            if (options.expectedRevision !== undefined) {
              // The same key may have won the race in another process: that is a replay, not a 412.
              const replay =
                token === undefined
                  ? undefined
                  : await this.appliedCommand(stream, await this.load(stream), token);
              if (replay) return await this.replay(stream, command.integrationId, replay);
              throw new PreconditionFailedError(
                options.expectedRevision,
                error.actual === 'no_stream' ? null : (error.actual ?? null),
              );
            }
            if (attempt >= this.retryPolicy.maxAttempts) {
              this.observer.onRetriesExhausted?.(stream);
              throw new ConcurrentUpdateError(stream, attempt);
            }
            this.observer.onRetry?.(stream, attempt);
            // A stale cache (another process wrote) is re-read at once; a lost race on fresh state backs off.
            if (verified) await sleep(backoffDelayMs(this.retryPolicy, attempt));
            current = await this.load(stream);
            verified = true;
          }
        }
      } catch (error) {
        // Mapped while the lock is held, so the cached state of a tombstoned session is dropped before the
        // next command on it runs.
        throw this.deletedSession(error, stream, command.integrationId, command.type);
      }
    });
  }

  /**
   * A tombstoned session stream fails every read and every append (also one expecting the cached revision):
   * `StreamTombstonedError` of the session's stream becomes `SessionDeletedError`, and its cached state, which
   * no command can use any more, is dropped. Any other error is returned as it is.
   */
  private deletedSession(
    error: unknown,
    stream: string,
    integrationId: string,
    command: SessionCommand['type'] | undefined,
  ): unknown {
    if (!(error instanceof StreamTombstonedError) || error.streamName !== stream) return error;
    this.cache.delete(stream);
    return new SessionDeletedError(stream, integrationId, command, error);
  }

  /** What the state cache holds now: sessions and their approximate bytes (for metrics). */
  cacheUsage(): { sessions: number; bytes: number } {
    return { sessions: this.cache.size, bytes: this.cache.weight };
  }

  private cached(streamName: string): Loaded | undefined {
    const cached = this.cache.get(streamName);
    return cached && { state: cached.state.state, revision: cached.revision, applied: cached.state.applied };
  }

  /**
   * Commands whose answer does not come from a successful append are decided on fresh state from the start:
   * dry runs, and updates that would claim a profile (a claim is a write of its own, so it must not be made
   * for a decision that a fresh read could turn around).
   */
  private needsFreshState(
    command: UntimedCommand,
    state: SessionState | null,
    options: HandleOptions,
  ): boolean {
    return options.dry === true || profileToClaim(state, this.timed(command)) !== null;
  }

  /**
   * The session as its events fold today (read-your-writes: always reads past the cached revision).
   * Concurrent loads of one stream share reads, but never one that may have been served before the call:
   * a load arriving while a read is running waits for it and joins the single read started after it. When
   * the running read times out, the loads waiting for it fail with its timeout at once instead (the store is
   * not answering: a read of their own would only add another deadline to their wait).
   */
  load(streamName: string): Promise<Loaded> {
    const running = this.reads.get(streamName);
    if (!running) return this.startRead(streamName);
    return (running.next ??= running.settled.then((timeout) =>
      timeout === undefined ? this.startRead(streamName) : Promise.reject(timeout),
    ));
  }

  private startRead(streamName: string): Promise<Loaded> {
    const read = this.readPastCache(streamName);
    const entry: SharedRead = { settled: read.then(ignore, timeoutOf) };
    this.reads.set(streamName, entry);
    void entry.settled.then(() => {
      if (this.reads.get(streamName) === entry) this.reads.delete(streamName);
    });
    return read;
  }

  private async readPastCache(streamName: string): Promise<Loaded> {
    const cached = this.cache.get(streamName);
    let stored: StoredEvent[];
    try {
      // Past a cached revision the stream must exist: "nothing new" is `[]`, a stream soft-deleted since is
      // missing (a read from its start cannot tell it from a stream never written, nor needs to).
      stored = await this.store.readStream(
        streamName,
        cached ? { fromRevision: cached.revision + 1n, mustExist: true } : {},
      );
    } catch (error) {
      if (!(error instanceof StreamMissingError)) throw error;
      // Soft-deleted behind the cache's back: the session reads as one that never existed, as on a cold read.
      this.cache.delete(streamName);
      return { state: null, revision: null };
    }
    if (stored.length === 0) {
      return cached
        ? { state: cached.state.state, revision: cached.revision, applied: cached.state.applied }
        : { state: null, revision: null };
    }
    let state = cached?.state.state ?? null;
    let applied = cached?.state.applied ?? new AppliedCommands(this.windowMs);
    const now = this.now();
    for (const record of stored) {
      if (isSystemEventType(record.type)) continue;
      const { event, metadata } = this.fromStoredEvent(record);
      if (event.type === 'SessionCreated' && state !== null) {
        // Soft-deleted and created anew since it was cached: a cold read starts at this event, so the cached
        // state and the keyed commands found before it are no longer part of the session.
        state = null;
        applied = new AppliedCommands(this.windowMs);
      }
      state = evolveStored(state, event, record);
      addKeyed(applied, record, metadata, now);
    }
    // The stream's revision, also when its last event was passed by: the next append expects it.
    const revision = stored[stored.length - 1]!.revision;
    // Nothing but system events yet: no session, and nothing to cache.
    if (state === null) return { state, revision };
    this.cache.set(streamName, { revision, state: { state, applied } });
    return { state, revision, applied };
  }

  /**
   * The keyed command with this token that `current` holds. When `current` may have dropped it for room (a
   * session with more keyed commands in the idempotency window than `AppliedCommands` keeps), it is looked for in
   * the whole stream, read again: the stream is the only record of a keyed command that appended events.
   */
  private async appliedCommand(
    stream: string,
    current: Loaded,
    token: string,
  ): Promise<AppliedCommand | undefined> {
    const now = this.now();
    const found = current.applied?.get(token, now);
    if (found !== undefined || current.applied?.mayHaveDropped(now) !== true) return found;
    const one = new AppliedCommands(this.windowMs);
    for (const record of await this.store.readStream(stream, {})) {
      // Only the metadata is looked at, as stored: no event needs folding (or upcasting) to find the key.
      const metadata = record.metadata as unknown as RecordedSessionEvent['metadata'];
      if (!isSystemEventType(record.type) && metadata.idempotencyToken === token)
        addKeyed(one, record, metadata, now);
    }
    return one.get(token, now);
  }

  /**
   * The answer of a keyed command already in the stream: the session right after its events, and those events.
   * The stream is read from its start as it is now, which is revision 0 only until a soft delete: a session
   * created anew after one starts at the revision after the stream's last (docs/command-api.md, "Deleted
   * session streams"), so what is read may go past the command, and the fold stops at its last event. When the
   * stream no longer holds the command's events (soft-deleted since: nothing read, or what is read starts after
   * them), its answer cannot be rebuilt: `AppliedCommandDeletedError`, never a later state.
   */
  private async replay(
    stream: string,
    integrationId: string,
    applied: AppliedCommand,
  ): Promise<CommandResult> {
    // At most the command's events and those before them, wherever the stream starts now.
    const stored = await this.store.readStream(stream, { maxCount: Number(applied.revision) + 1 });
    let state: SessionState | null = null;
    const events: SessionEvent[] = [];
    let last: bigint | undefined;
    if (stored.length > 0 && stored[0]!.revision <= applied.firstRevision) {
      for (const record of stored) {
        if (record.revision > applied.revision) break;
        // A no-op's answer may be at the revision of a system event passed by: it is reached all the same.
        last = record.revision;
        if (isSystemEventType(record.type)) continue;
        const { event } = this.fromStoredEvent(record);
        state = evolveStored(state, event, record);
        if (record.revision >= applied.firstRevision) events.push(event);
      }
    }
    if (last !== applied.revision) {
      throw new AppliedCommandDeletedError(stream, integrationId, stored.length > 0);
    }
    return {
      state,
      revision: applied.revision,
      events,
      position: applied.position,
      appended: false,
      replayed: { requestHash: applied.requestHash },
    };
  }

  /**
   * The answer of a keyed command from where its events are in the stream — for a remembered response
   * whose body was too large to keep (see `IdempotencyStore`). A command that appended nothing (a no-op) has
   * `firstRevision` one past `revision`, the session revision it answered with: no events of its own, the
   * session as of that revision. A session deleted since: tombstoned, `SessionDeletedError`; soft-deleted (and
   * perhaps created anew), `AppliedCommandDeletedError`.
   */
  async resultAt(
    applicationId: number,
    integrationId: string,
    recorded: { firstRevision: bigint; revision: bigint; position?: bigint; requestHash: string },
    /** The command whose answer this is (for `SessionDeletedError`, when its session was deleted since). */
    command?: SessionCommand['type'],
  ): Promise<CommandResult> {
    const stream = sessionStreamName(applicationId, integrationId);
    try {
      return await this.replay(stream, integrationId, { ...recorded, commandId: '', writtenAt: 0 });
    } catch (error) {
      throw this.deletedSession(error, stream, integrationId, command);
    }
  }

  /**
   * The answer of the keyed command whose events the session stream holds under this `idempotencyToken`
   * (`replayed`, as `handle` answers a retry), or `undefined` when it holds none within the window. For a key
   * whose record says its command changed nothing: another process that had not seen the record may have
   * appended under the key since.
   */
  async appliedUnder(
    applicationId: number,
    integrationId: string,
    token: string,
    /** The command whose answer this is (for `SessionDeletedError`, when its session was deleted since). */
    command?: SessionCommand['type'],
  ): Promise<CommandResult | undefined> {
    const stream = sessionStreamName(applicationId, integrationId);
    try {
      const applied = await this.appliedCommand(stream, await this.load(stream), token);
      return applied && (await this.replay(stream, integrationId, applied));
    } catch (error) {
      throw this.deletedSession(error, stream, integrationId, command);
    }
  }

  async loadSession(applicationId: number, integrationId: string): Promise<LoadedSession> {
    const stream = sessionStreamName(applicationId, integrationId);
    try {
      const { state, revision } = await this.load(stream);
      return { state, revision };
    } catch (error) {
      throw this.deletedSession(error, stream, integrationId, undefined);
    }
  }

  /** The command at this moment of the handler's clock, or at a dry run's `decidedAt`. */
  private timed(command: UntimedCommand, decidedAt?: number): SessionCommand {
    return { ...command, now: new Date(decidedAt ?? this.now()).toISOString() };
  }

  /**
   * Decides at the clock's time now (on the state just read or cached: never the time the command arrived, which
   * a wait for the lock or a retry leaves behind), or a dry run at its `decidedAt`, with a tentative claim
   * outcome first; only a command the domain accepts claims the profile, and then it is decided again, at the
   * same time, with the real outcome.
   */
  private async decide(
    untimed: UntimedCommand,
    state: SessionState | null,
    options: HandleOptions,
  ): Promise<SessionEvent[]> {
    const command = this.timed(untimed, options.decidedAt);
    const profileId = profileToClaim(state, command);
    if (profileId === null || command.type !== 'UpdateSession') return decide(command, state);
    const tentative = decide({ ...command, firstSession: false }, state);
    if (tentative.length === 0) return tentative;
    const firstSession = options.dry
      ? await this.claims.peek(command.applicationId, profileId, command.integrationId)
      : await this.claim({
          applicationId: command.applicationId,
          profileId,
          sessionIntegrationId: command.integrationId,
          sessionId: state?.id ?? command.sessionId,
          at: command.now,
          metadata: claimMetadata(options.metadata),
        });
    return decide({ ...command, firstSession }, state);
  }

  /**
   * `ProfileClaims.claim`, with a write of it that timed out or lost its connection marked as made before the
   * session append (`ClaimWriteTimeoutError`, `ClaimWriteInterruptedError`). Its reads' timeouts say so already.
   */
  private async claim(request: ClaimRequest): Promise<boolean> {
    try {
      return await this.claims.claim(request);
    } catch (error) {
      if (error instanceof EventStoreTimeoutError && error.operation !== 'read')
        throw new ClaimWriteTimeoutError(error);
      if (error instanceof EventStoreWriteInterruptedError) throw new ClaimWriteInterruptedError(error);
      throw error;
    }
  }
}

/** The read of a stream now running, and the one queued behind it that later loads join. */
interface SharedRead {
  /** Settles when the read does: with its error if it timed out, else with nothing. */
  settled: Promise<EventStoreTimeoutError | undefined>;
  next?: Promise<Loaded>;
}

const ignore = (): undefined => undefined;

const timeoutOf = (error: unknown): EventStoreTimeoutError | undefined =>
  error instanceof EventStoreTimeoutError ? error : undefined;

/** A failure that ends the waits of the commands queued behind it: the store did not answer in time. */
const timedOut = (error: unknown): boolean => error instanceof EventStoreTimeoutError;

/**
 * A session that does not exist, for a command that needs one (every command but UpdateSession, which creates
 * it): its answer is the domain's 404 whatever the precondition — RFC 9110 §13.2.1, a server ignores the
 * preconditions when the response without them would be neither 2xx nor 412 — so `expectedRevision` is not
 * compared. UpdateSession keeps it: a missing session is what `If-None-Match: *` asks for, and what
 * `If-Match` refuses (412).
 */
function missingSessionFor(command: UntimedCommand, current: LoadedSession): boolean {
  return current.state === null && command.type !== 'UpdateSession';
}

/** Thrown inside `handle` when an answer decided on cached state needs a fresh read first. */
const STALE = Symbol('stale cache');

/**
 * Folds a stored event. One the domain cannot fold — its data does not fit its type (changed by hand, written by
 * some other tool), or it cannot follow the events before it (an event before `SessionCreated`) — makes the
 * stream unreadable to this build, as an event it cannot upcast does (500 `UNREADABLE_EVENT` naming it), not an
 * anonymous 500.
 */
function evolveStored(state: SessionState | null, event: SessionEvent, record: StoredEvent): SessionState {
  try {
    return evolve(state, event);
  } catch (error) {
    // The domain's own words stay in the log (the cause, with its stack): they may quote the event's data.
    throw new EventUpcastError(
      `${event.type} at revision ${record.revision} of ${record.streamName} cannot be folded (its data does not fit its type, or it cannot follow the events before it)`,
      { cause: error },
    );
  }
}

function foldOnto(state: SessionState | null, events: SessionEvent[]): SessionState | null {
  return events.reduce<SessionState | null>((current, event) => evolve(current, event), state);
}

function claimMetadata(metadata: CommandMetadata): JsonObject {
  const result: JsonObject = {
    commandId: metadata.commandId,
    correlationId: metadata.correlationId,
    actor: metadata.actor,
  };
  if (metadata.idempotencyKey !== undefined) result.idempotencyKey = metadata.idempotencyKey;
  return result;
}

/** Adds an event of a keyed command (one whose metadata carries an `idempotencyToken`) to `applied`. */
function addKeyed(
  applied: AppliedCommands,
  record: StoredEvent,
  metadata: RecordedSessionEvent['metadata'],
  now: number,
): void {
  if (typeof metadata.idempotencyToken !== 'string') return;
  applied.add(
    metadata.idempotencyToken,
    {
      requestHash: typeof metadata.requestHash === 'string' ? metadata.requestHash : '',
      commandId: metadata.commandId,
      revision: record.revision,
      position: record.position,
      writtenAt: Date.parse(record.created),
    },
    now,
  );
}
