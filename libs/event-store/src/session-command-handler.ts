/**
 * The write path of a session: read → fold → decide → append with the expected revision.
 *
 * - Within one process, commands on one session run one at a time (`KeyedMutex`), so they never collide.
 * - Across processes a lost race (`StreamRevisionConflict`) is retried by re-reading and re-deciding, with
 *   jittered back-off, at most `retryPolicy.maxAttempts` times; then `ConcurrentUpdateError` (409).
 * - `If-Match` arrives as `expectedRevision`: a stale revision is `PreconditionFailedError` (412), never retried.
 * - The profile first-session claim is made only for a command the domain accepts, never for dry runs,
 *   and before the session append (see `ProfileClaims`).
 * - Folded state is cached per stream with its revision; every load still reads what came after it.
 */
import {
  decide,
  evolve,
  profileToClaim,
  type SessionCommand,
  type SessionEvent,
  type SessionState,
} from '@session-engine/session-domain';
import { StreamRevisionConflict, type EsdbClientAdapter, type JsonObject } from './esdb-client.adapter';
import { ConcurrentUpdateError, PreconditionFailedError } from './errors';
import { KeyedMutex } from './keyed-mutex';
import { ProfileClaims } from './profile-claims';
import { backoffDelayMs, DEFAULT_RETRY_POLICY, sleep, type RetryPolicy } from './retry-policy';
import { fromStoredEvent, sessionStreamName, toEventToAppend, type CommandMetadata } from './serialization';
import { StateCache } from './state-cache';

export interface LoadedSession {
  state: SessionState | null;
  /** Revision of the stream's last event; `null` when the session does not exist. */
  revision: bigint | null;
}

export interface HandleOptions {
  metadata: CommandMetadata;
  /** `If-Match`: the revision the caller last saw. */
  expectedRevision?: bigint;
  /** Decide and fold, store nothing, claim nothing. */
  dry?: boolean;
}

export interface CommandResult extends LoadedSession {
  /** Events the command decided (appended unless dry). */
  events: SessionEvent[];
  /** Commit position of the append; absent when nothing was appended. */
  position?: bigint;
  appended: boolean;
}

/** Hooks for metrics; the library itself knows no metrics system. */
export interface CommandObserver {
  onConflict?(streamName: string): void;
  onRetry?(streamName: string, attempt: number): void;
  onRetriesExhausted?(streamName: string): void;
}

export interface SessionCommandHandlerOptions {
  retryPolicy?: RetryPolicy;
  cacheCapacity?: number;
  observer?: CommandObserver;
}

export class SessionCommandHandler {
  private readonly mutex = new KeyedMutex();
  private readonly cache: StateCache<SessionState>;
  private readonly claims: ProfileClaims;
  private readonly retryPolicy: RetryPolicy;
  private readonly observer: CommandObserver;

  constructor(
    private readonly store: EsdbClientAdapter,
    options: SessionCommandHandlerOptions = {},
  ) {
    this.cache = new StateCache(options.cacheCapacity ?? 10_000);
    this.claims = new ProfileClaims(store);
    this.retryPolicy = options.retryPolicy ?? DEFAULT_RETRY_POLICY;
    this.observer = options.observer ?? {};
  }

  handle(command: SessionCommand, options: HandleOptions): Promise<CommandResult> {
    const stream = sessionStreamName(command.applicationId, command.integrationId);
    return this.mutex.run(stream, async () => {
      for (let attempt = 1; ; attempt++) {
        const current = await this.load(stream);
        if (options.expectedRevision !== undefined && current.revision !== options.expectedRevision) {
          throw new PreconditionFailedError(options.expectedRevision, current.revision);
        }
        const events = await this.decide(command, current.state, options);
        if (events.length === 0 || options.dry) {
          return { ...current, state: foldOnto(current.state, events), events, appended: false };
        }
        try {
          const outcome = await this.store.appendToStream(
            stream,
            events.map((event) => toEventToAppend(event, options.metadata)),
            current.revision ?? 'no_stream',
          );
          const state = foldOnto(current.state, events)!;
          this.cache.set(stream, { revision: outcome.nextRevision, state });
          return {
            state,
            revision: outcome.nextRevision,
            events,
            position: outcome.position,
            appended: true,
          };
        } catch (error) {
          if (!(error instanceof StreamRevisionConflict)) throw error;
          this.observer.onConflict?.(stream);
          this.cache.delete(stream);
          if (options.expectedRevision !== undefined) {
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
          await sleep(backoffDelayMs(this.retryPolicy, attempt));
        }
      }
    });
  }

  /** The session as its events fold today (read-your-writes: always reads past the cached revision). */
  async load(streamName: string): Promise<LoadedSession> {
    const cached = this.cache.get(streamName);
    const stored = await this.store.readStream(
      streamName,
      cached ? { fromRevision: cached.revision + 1n } : {},
    );
    if (stored.length === 0)
      return cached ? { state: cached.state, revision: cached.revision } : { state: null, revision: null };
    let state = cached?.state ?? null;
    for (const record of stored) state = evolve(state, fromStoredEvent(record).event);
    const revision = stored[stored.length - 1]!.revision;
    this.cache.set(streamName, { revision, state: state! });
    return { state, revision };
  }

  loadSession(applicationId: number, integrationId: string): Promise<LoadedSession> {
    return this.load(sessionStreamName(applicationId, integrationId));
  }

  /**
   * Decides with a tentative claim outcome first; only a command the domain accepts claims the profile,
   * and then it is decided again with the real outcome.
   */
  private async decide(
    command: SessionCommand,
    state: SessionState | null,
    options: HandleOptions,
  ): Promise<SessionEvent[]> {
    const profileId = profileToClaim(state, command);
    if (profileId === null || command.type !== 'UpdateSession') return decide(command, state);
    const tentative = decide({ ...command, firstSession: false }, state);
    if (tentative.length === 0) return tentative;
    const firstSession = options.dry
      ? await this.claims.peek(command.applicationId, profileId, command.integrationId)
      : await this.claims.claim({
          applicationId: command.applicationId,
          profileId,
          sessionIntegrationId: command.integrationId,
          sessionId: state?.id ?? command.sessionId,
          at: command.now,
          metadata: claimMetadata(options.metadata),
        });
    return decide({ ...command, firstSession }, state);
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
