/**
 * What every command endpoint does around the domain: replay a remembered `Idempotency-Key` response (or
 * refuse a reused key with 422), turn `If-Match` into the expected revision, stamp the command with ids and
 * metadata, run it through the event-store command handler, measure it, and remember the response. The command's
 * time is not stamped here: the handler reads its clock on each decision (after the session's lock and read, and
 * on each retry), so a request that waited or retried is never decided with the time it arrived at.
 */
import { Inject, Injectable } from '@nestjs/common';
import {
  EventStoreTimeoutError,
  hashCanonical,
  IdempotencyStore,
  KeyedMutex,
  LockWaitError,
  PreconditionFailedError,
  SessionCommandHandler,
  type CommandResult,
  type IdempotencyScope,
  type RecordNotWritten,
  type RememberedResponse,
  type UntimedCommand,
} from '@session-engine/event-store';
import { DomainError, mayChangeNothing, type SessionCommand } from '@session-engine/session-domain';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { IntegrationPrincipal } from '../../auth/integration-auth.guard';
import { ApiError, CommandRefused, ErrorCode, UnrecordedNoOpError } from '../../errors/api-error';
import { MetricsService } from '../../operations/metrics.service';
import { LOGGER } from '../../tokens';
import { ifMatchListFailed, type IfMatchList } from './request-options';

/** Everything the HTTP layer knows about a command request. */
export interface CommandRequest {
  principal: IntegrationPrincipal;
  integrationId: string;
  /** Method and route template, the idempotency scope's endpoint. */
  endpoint: string;
  requestId: string;
  idempotencyKey?: string;
  /** From `If-Match`; `null` from `If-None-Match: *` (the session must not exist). */
  ifMatch?: bigint | null;
  /** The revisions `If-Match` listed (`ifMatch` is one of them), for a 412 that names them all. */
  ifMatchList?: IfMatchList;
  dry: boolean;
  /** A dry run's `?now=` (ms since the epoch): the time it is decided at instead of the handler's clock. */
  decidedAt?: number;
  /** What "the same request" means for Idempotency-Key: the body and the query. */
  canonicalRequest: unknown;
  /** Where the command's input sits in the body, for error pointers. */
  pointerBase: string;
}

export interface CommandReply {
  status: number;
  body: unknown;
  etag?: string;
  eventPosition?: string;
  /** First and last revision of the events the command appended (or found, for a replay). */
  revisions?: { first: string; last: string };
  /** For a command that appended nothing (a no-op): the revision of the session it answered with. */
  unchangedAt?: string;
}

export type CommandStamp = Pick<SessionCommand, 'applicationId' | 'integrationId' | 'commandId'>;

/** A command the handler ran: its reply, and its `outcome` label in `session_command_duration_seconds`. */
interface Executed {
  reply: CommandReply;
  outcome: string;
}

@Injectable()
export class SessionCommandRunner {
  /**
   * One key (per `Idempotency-Key` scope) at a time in this process. A request waits for it at most as long
   * as for its session (`handler.lockWaitMs`: the store's call deadline), and gives up at once when the one
   * ahead ended because the store did not answer it: `LockWaitError`, nothing sent.
   */
  private readonly idempotencyLocks: KeyedMutex;

  constructor(
    private readonly handler: SessionCommandHandler,
    private readonly idempotency: IdempotencyStore,
    private readonly metrics: MetricsService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.idempotencyLocks = new KeyedMutex({ waitMs: handler.lockWaitMs, failWaitersOn: storeHung });
  }

  async run(
    request: CommandRequest,
    build: (stamp: CommandStamp) => UntimedCommand,
    shape: (result: CommandResult, command: UntimedCommand) => unknown,
  ): Promise<CommandReply> {
    if (request.idempotencyKey === undefined) return (await this.execute(request, build, shape)).reply;

    const scope: IdempotencyScope = {
      applicationId: request.principal.applicationId,
      endpoint: request.endpoint,
      integrationId: request.integrationId,
      key: request.idempotencyKey,
    };
    const requestHash = hashCanonical(request.canonicalRequest);
    const keyed = { token: IdempotencyStore.token(scope), requestHash };
    // Same key twice at once in this process: the second waits and then replays the first.
    const arrived = Date.now();
    const started = process.hrtime.bigint();
    let looked = false;
    try {
      return await this.idempotencyLocks.run(IdempotencyStore.streamName(scope), async () => {
        // One wait per request: what it waited for the key is not waited again for the session.
        const lockWaitMs =
          this.handler.lockWaitMs === undefined
            ? undefined
            : Math.max(0, this.handler.lockWaitMs - (Date.now() - arrived));
        // Only a command that changed nothing has a record (below). A close, cancel, reopen or return never does:
        // its events carry the key, and the handler finds them — no look-up (a store read) for those.
        const remembered = mayChangeNothing(build(this.stamp(request)).type)
          ? await this.idempotency.find(scope)
          : undefined;
        looked = true;
        if (remembered) {
          // A no-op's record, yet another process that had not seen it may have appended under the key since (the
          // session changed in between, or that request had another body): the key's command did change the
          // session, and its events answer — its own request 200, any other 422.
          if (remembered.unchangedAt !== undefined) {
            const appended = await this.appendedUnderKey(request, build, shape, keyed);
            if (appended) return appended;
          }
          if (remembered.requestHash !== requestHash) throw keyReused();
          return this.answer(remembered, request, build, shape);
        }
        // Not remembered: the handler still finds the command in the session stream if it ran before and its
        // record was never written (a crash in between, or the same key in another process at this moment).
        const { reply, outcome } = await this.execute(request, build, shape, keyed, lockWaitMs);
        // A command whose events are in the session stream (appended now, or found there) needs no record: its
        // events carry the key's token and the request's hash, which is what answers a retry (the handler looks
        // the token up before deciding, also past the tokens it keeps per session). Only a command that changed
        // nothing, which leaves no event, is remembered in a record of its own.
        if (request.dry || reply.revisions !== undefined) return reply;
        // Its record names the session revision it answered with, not the body: a retry folds the stream up to
        // it. So no record holds a copy of a session (an erased session leaves none behind), and every record
        // is a few hundred bytes.
        const { body: _body, ...noOp } = reply;
        const noOpRecord: RememberedResponse = { ...noOp, requestHash };
        const first = await this.idempotency.remember(scope, noOpRecord);
        if (first.notWritten) this.notRecorded(request, outcome, first.notWritten);
        // Another process that found no record and no token may have appended under the key between this
        // no-op's decision and its record: then that command is the key's answer, as for every retry after.
        const appended = await this.appendedUnderKey(request, build, shape, keyed);
        if (appended) return appended;
        if (first.response === noOpRecord) return reply;
        // Another process's request under the key, remembered first: the key's answer is its answer (rebuilt
        // from the stream), and a request with another body under the key is refused, as a retry would be.
        if (first.response.requestHash !== requestHash) throw keyReused();
        return this.answer(first.response, request, build, shape);
      });
    } catch (error) {
      // Gave up waiting for its key, or the key's lookup failed: the handler never ran the command, which is
      // measured all the same, like one that gave up waiting for its session (the time until it ended).
      if (!looked) {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        this.metrics.observeCommand(build(this.stamp(request)).type, failureOutcome(error), seconds);
      }
      throw error;
    }
  }

  /**
   * The store failed the idempotency record of a keyed command that changed nothing (see
   * `IdempotencyStore.remember`): counted and logged. It left no event to carry the key's token, and a 200 would
   * be forgotten — a retry with the key, once the session changed, would be decided again and might append,
   * against the answer given. So it is answered 503 instead: nothing was applied, and the retry with the same key
   * is safe (it is the first answer the key gets).
   */
  private notRecorded(request: CommandRequest, outcome: string, failure: RecordNotWritten): never {
    this.metrics.countRecordWriteFailure(outcome);
    this.logger.warn(
      {
        requestId: request.requestId,
        endpoint: request.endpoint,
        operation: failure.operation,
        error: failure.error.name,
        outcome,
        status: 503,
      },
      'idempotency record not written: answered 503',
    );
    throw new UnrecordedNoOpError(failure.error);
  }

  /**
   * A remembered response as the client gets it again. A record too large to keep its body names the
   * revisions of the command's events instead, or for a no-op the revision of the session it answered with:
   * the body is rebuilt from the stream up to them, by the same fold and shape as the first answer (a no-op's
   * fold has no events of its own: it stops at that revision).
   */
  private async answer(
    remembered: RememberedResponse,
    request: CommandRequest,
    build: (stamp: CommandStamp) => UntimedCommand,
    shape: (result: CommandResult, command: UntimedCommand) => unknown,
  ): Promise<CommandReply> {
    const reply = {
      status: remembered.status,
      etag: remembered.etag,
      eventPosition: remembered.eventPosition,
    };
    // A no-op's record names its revision as the empty range after it (IdempotencyStore.remember).
    const { revisions } = remembered;
    if (remembered.body !== undefined || revisions === undefined) {
      return { ...reply, body: remembered.body };
    }
    const command = build(this.stamp(request));
    const result = await this.handler.resultAt(
      command.applicationId,
      command.integrationId,
      {
        firstRevision: BigInt(revisions.first),
        revision: BigInt(revisions.last),
        position: remembered.eventPosition === undefined ? undefined : BigInt(remembered.eventPosition),
        requestHash: remembered.requestHash,
      },
      command.type,
    );
    return { ...reply, body: shape(result, command) };
  }

  /**
   * The answer of the keyed command whose events the session stream holds under this key, if it holds any —
   * `keyReused` (422) when that command was another request (another body).
   */
  private async appendedUnderKey(
    request: CommandRequest,
    build: (stamp: CommandStamp) => UntimedCommand,
    shape: (result: CommandResult, command: UntimedCommand) => unknown,
    keyed: { token: string; requestHash: string },
  ): Promise<CommandReply | undefined> {
    const command = build(this.stamp(request));
    const result = await this.handler.appliedUnder(
      command.applicationId,
      command.integrationId,
      keyed.token,
      command.type,
    );
    if (result === undefined) return undefined;
    if (result.replayed?.requestHash !== keyed.requestHash) throw keyReused();
    return replyOf(result, shape(result, command), 'replayed');
  }

  private stamp(request: CommandRequest): CommandStamp {
    return {
      applicationId: request.principal.applicationId,
      integrationId: request.integrationId,
      commandId: randomUUID(),
    };
  }

  private async execute(
    request: CommandRequest,
    build: (stamp: CommandStamp) => UntimedCommand,
    shape: (result: CommandResult, command: UntimedCommand) => unknown,
    keyed?: { token: string; requestHash: string },
    lockWaitMs?: number,
  ): Promise<Executed> {
    const command = build(this.stamp(request));
    const started = process.hrtime.bigint();
    let outcome = 'error';
    try {
      const result = await this.handler.handle(command, {
        metadata: {
          commandId: command.commandId,
          correlationId: request.requestId,
          actor: request.principal.keyId,
          ...(request.idempotencyKey !== undefined ? { idempotencyKey: request.idempotencyKey } : {}),
          ...(keyed !== undefined ? { idempotencyToken: keyed.token, requestHash: keyed.requestHash } : {}),
        },
        expectedRevision: request.ifMatch,
        dry: request.dry,
        ...(request.decidedAt !== undefined ? { decidedAt: request.decidedAt } : {}),
        lockWaitMs,
      });
      if (result.replayed) {
        outcome = 'replayed';
        if (result.replayed.requestHash !== keyed?.requestHash) throw keyReused();
      } else {
        outcome = request.dry ? 'dry' : result.appended ? 'appended' : 'unchanged';
      }
      return { reply: replyOf(result, shape(result, command), outcome), outcome };
    } catch (error) {
      if (error instanceof DomainError) {
        outcome = error.category === 'conflict' ? 'refused' : error.category;
        // A missing session is the URL's, not the body's: its 404 points into no body.
        throw new CommandRefused(error, error.category === 'not_found' ? '' : request.pointerBase);
      }
      outcome = failureOutcome(error);
      if (
        error instanceof PreconditionFailedError &&
        error.expectedRevision !== null &&
        request.ifMatchList !== undefined
      ) {
        throw ifMatchListFailed(request.ifMatchList, error.actualRevision);
      }
      throw error;
    } finally {
      this.metrics.observeCommand(command.type, outcome, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }
}

/**
 * The `outcome` label of a command that ended with `error` (not a domain refusal): its code in lower case
 * (`service_unavailable` for a timeout, an interrupted write or a give-up while waiting), else `error`.
 */
function failureOutcome(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code.toLowerCase() : 'error';
}

/** The one ahead failed because the event store did not answer it: those waiting behind it give up. */
const storeHung = (error: unknown): boolean =>
  error instanceof EventStoreTimeoutError || error instanceof LockWaitError;

function keyReused(): ApiError {
  return ApiError.of(
    422,
    ErrorCode.IdempotencyKeyReused,
    'This Idempotency-Key was already used for a different request (another body, or another dry value)',
  );
}

/** The reply to a command the handler decided (`outcome` as in `session_command_duration_seconds`), its body given. */
function replyOf(result: CommandResult, body: unknown, outcome: string): CommandReply {
  const inStream = result.appended || result.replayed !== undefined;
  return {
    status: 200,
    body,
    etag: result.revision === null ? undefined : `"${result.revision}"`,
    eventPosition: inStream && result.position !== undefined ? result.position.toString() : undefined,
    revisions:
      inStream && result.revision !== null
        ? {
            first: (result.revision - BigInt(result.events.length) + 1n).toString(),
            last: result.revision.toString(),
          }
        : undefined,
    unchangedAt: outcome === 'unchanged' && result.revision !== null ? result.revision.toString() : undefined,
  };
}
