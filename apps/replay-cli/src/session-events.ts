/**
 * Reading and folding session events for the replay tooling, with a refusal an operator can act on when an
 * event cannot be read or folded: one line naming the stream, the revision (and, when known, the log
 * position) and what is wrong — an event type or schema version a newer writer produced ("upgrade the
 * CLI"), a stream that does not start with `SessionCreated`, data the domain cannot fold. No stack trace:
 * it is a fact about the data, not a bug of the CLI.
 *
 * Also the check `import` runs on a session stream before appending it (`checkSessionStream`): every event
 * read, upcast and folded by the domain as `state` and `history` do, shaped by `sessionView` as GET
 * does, run through the read-model projections' own folds and row builders as the projector does, the
 * stream name matching the session's application and integration id, and the session id the one the engine
 * derives from the stream name.
 */
import {
  fromStoredEvent,
  sessionIdFor,
  type EsdbClientAdapter,
  type JsonObject,
  type RecordedSessionEvent,
  type StoredEvent,
} from '@session-engine/event-store';
import {
  PROJECTION_NAMES,
  ReadModelRecomputation,
  sessionStreamParts,
  type ProjectedEvent,
  type ProjectedItem,
  type ProjectionName,
} from '@session-engine/read-models';
import {
  evolve,
  isPlainObject,
  isSchemaVersion,
  SESSION_EVENT_READ_VERSIONS,
  sessionView,
  storedSchemaVersion,
  type CustomerSessionV2,
  type SessionEventType,
  type SessionState,
  type SessionTotals,
  type SessionViewMemo,
} from '@session-engine/session-domain';
import { CliError } from './cli-error';
import { printable, quoted } from './printable';

/** Where an event sits: its stream, its revision, and its position in the log when known. */
export interface EventPlace {
  stream: string;
  revision: bigint | number;
  position?: bigint;
}

/** The stream name is the log's (an integration id, as sent): escaped for the terminal (printable.ts). */
export function describePlace(place: EventPlace): string {
  return `${printable(place.stream)} revision ${place.revision}${place.position !== undefined ? ` (log position ${place.position})` : ''}`;
}

/** An event this CLI cannot read or fold: exit 2 with one line, `<stream> revision R (log position P): why`. */
export class UnreadableEventError extends CliError {
  constructor(
    readonly place: EventPlace,
    readonly reason: string,
  ) {
    super(`${describePlace(place)}: ${reason}`);
  }
}

/**
 * Why the domain cannot read (upcast) a stored session event; `undefined` when it can. The version is taken
 * from the metadata by `fromStoredEvent`'s rule (`storedSchemaVersion`): 1 when there is none, and anything but a
 * positive integer refused, as the API and the projector refuse it.
 */
export function unreadableReason(type: string, metadata: unknown, data: unknown): string | undefined {
  if (!Object.hasOwn(SESSION_EVENT_READ_VERSIONS, type))
    return `event type ${quoted(type)} is not a session event type this CLI knows: written by a newer version of the engine? Upgrade the CLI`;
  const current = SESSION_EVENT_READ_VERSIONS[type as SessionEventType];
  const version = storedSchemaVersion(metadata);
  if (!isSchemaVersion(version))
    return `schema version ${printable(JSON.stringify(version))} of ${type} is not a schema version (a positive integer; this CLI reads 1..${current})`;
  if (version > current)
    return `schema version ${version} of ${type} is newer than this CLI reads (1..${current}): upgrade the CLI`;
  if (!isPlainObject(data)) return `the data of ${type} is not a JSON object`;
  return undefined;
}

/** A stored session event, upcast; `UnreadableEventError` (naming it) when this CLI cannot read it. */
export function readStoredEvent(stored: StoredEvent): RecordedSessionEvent {
  try {
    return fromStoredEvent(stored);
  } catch (error) {
    const place = { stream: stored.streamName, revision: stored.revision, position: stored.position };
    throw new UnreadableEventError(
      place,
      (stored.unreadable === undefined
        ? // The CLI's own words for the time and command id (they quote the value) before the domain's.
          (unreadableReason(stored.type, stored.metadata, stored.data) ??
          eventFieldsProblem(stored.type, stored.data))
        : `${printable(stored.type)} is not JSON the engine wrote: ${stored.unreadable}`) ?? messageOf(error),
    );
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A JavaScript error out of a pure function fed with data of the wrong shape (vs. the domain's own refusal). */
function malformed(error: unknown): boolean {
  return (
    error instanceof TypeError ||
    error instanceof RangeError ||
    (error instanceof Error && error.message.startsWith('[DecimalError]'))
  );
}

function foldReason(type: string, error: unknown): string {
  return malformed(error)
    ? `${type} cannot be folded: its data is malformed (${messageOf(error)})`
    : `${type} cannot be folded: ${messageOf(error)}`;
}

/**
 * A time as the engine writes every event's `at` (`Date.prototype.toISOString`: UTC, milliseconds, `Z`). Any
 * other form is refused, not read: a time without a zone would count on the day of the machine's own time zone
 * (the projector's UTC day, `replay verify`, `state --at` would each read it differently on another machine),
 * and one with an offset or more digits would be shown as written where SPEC promises UTC.
 */
function isEngineTime(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  const ms = Date.parse(value);
  return Number.isFinite(ms) && new Date(ms).toISOString() === value;
}

/**
 * Why a session event's `at` or `commandId` is not what the engine writes (`undefined`: it is). Every reader
 * relies on them — `at` is the session's `updated` and what `state --at` compares, `commandId` counts the
 * session's updates —, and `evolve` takes them as they are: a number as `at` would become a session's
 * `updated`, which GET never answers with.
 */
export function eventFieldsProblem(type: string, data: Record<string, unknown>): string | undefined {
  const { at, commandId } = data;
  if (!isEngineTime(at))
    return (
      `${type} has no valid time "at" (a UTC time as the engine writes it, such as 2026-03-01T12:00:00.000Z): ` +
      (JSON.stringify(at) ?? 'none')
    );
  if (typeof commandId !== 'string') return `${type} has no commandId`;
  return undefined;
}

/**
 * Why a `SessionCreated` does not belong to its stream (`undefined`: it does): the application and integration
 * id it carries are what the session shows, and the engine reads a session only under the stream name its own
 * events carry. A stream copied or renamed, or written by something else (an integration id that is not a
 * string).
 */
export function sessionCreatedProblem(stream: string, data: Record<string, unknown>): string | undefined {
  const name = sessionStreamParts(stream);
  if (!name || (data.applicationId === name.applicationId && data.integrationId === name.integrationId))
    return undefined;
  return (
    `SessionCreated is of application ${JSON.stringify(data.applicationId)}, session ` +
    `${JSON.stringify(data.integrationId)}, but the stream is ${printable(stream)} (application ` +
    `${name.applicationId}, session ${quoted(name.integrationId)}): a stream copied or renamed? The engine reads ` +
    'a session only under the stream name its own events carry'
  );
}

/**
 * The domain's fold (`evolve`, as `state` and the API fold a session) one event at a time, each failure an
 * `UnreadableEventError` naming the event. `lenient`: events before `SessionCreated` are skipped, as the
 * sessions projection skips a stream it cannot fold (verify and rebuild follow the projections); otherwise
 * they are refused (`state`, `history`, `import`), and so is an event whose fields every reader relies on are
 * not what the engine writes (`eventFieldsProblem`, `sessionCreatedProblem`) — what import refuses to append,
 * `state` and `history` refuse to show.
 */
export class SessionFold {
  state: SessionState | null = null;
  private first = true;

  constructor(
    readonly stream: string,
    private readonly lenient = false,
  ) {}

  apply(recorded: RecordedSessionEvent): SessionState | null {
    const place = { stream: this.stream, revision: recorded.revision, position: recorded.position };
    const type = recorded.event.type;
    const first = this.first;
    this.first = false;
    if (this.state === null && type !== 'SessionCreated') {
      if (this.lenient) return null;
      throw new UnreadableEventError(
        place,
        first && recorded.revision > 0n
          ? `the stream starts at revision ${recorded.revision} with ${type}: its earlier events, SessionCreated first, ` +
              'are gone (the stream was truncated or deleted and written again), so it cannot be folded'
          : `${type} before SessionCreated: a session stream starts with SessionCreated, so this one cannot be folded`,
      );
    }
    let next: SessionState;
    try {
      next = evolve(this.state, recorded.event);
    } catch (error) {
      throw new UnreadableEventError(place, foldReason(type, error));
    }
    if (!this.lenient) {
      const data = recorded.event.data as unknown as Record<string, unknown>;
      const problem =
        eventFieldsProblem(type, data) ??
        (type === 'SessionCreated' ? sessionCreatedProblem(this.stream, data) : undefined);
      if (problem !== undefined) throw new UnreadableEventError(place, problem);
    }
    return (this.state = next);
  }

  /**
   * The `CustomerSessionV2` of the state so far (what GET would answer), refusing data it cannot shape, and its
   * exact totals. A `memo` shared by the renders of one fold reuses what an event did not change.
   */
  view(
    recorded: RecordedSessionEvent,
    memo?: SessionViewMemo,
  ): { session: CustomerSessionV2; totals: SessionTotals } {
    try {
      return sessionView(this.state!, { memo });
    } catch (error) {
      throw new UnreadableEventError(
        { stream: this.stream, revision: recorded.revision, position: recorded.position },
        `the session after ${recorded.event.type} cannot be shown: ${malformed(error) ? 'its data is malformed ' : ''}(${messageOf(error)})`,
      );
    }
  }
}

/** An event of an exported stream, as import sees it before appending. */
export interface CheckedEvent {
  revision: number;
  id: string;
  type: string;
  data: JsonObject;
  metadata: JsonObject;
  created?: string;
}

/** Why import refuses a session stream: the revision of the event at fault, and the reason. */
export class StreamRefusal extends Error {
  override readonly name = 'StreamRefusal';
  constructor(
    readonly revision: number,
    readonly reason: string,
  ) {
    super(`revision ${revision}: ${reason}`);
  }
}

const EVERY_POSITION: Map<ProjectionName, bigint> = new Map(
  PROJECTION_NAMES.map((name) => [name, 2n ** 63n]),
);

/**
 * The check import runs on a session stream before appending anything of it (see the file's comment);
 * `StreamRefusal` naming the first event at fault. Returns the session id its `SessionCreated` carries.
 */
export function checkSessionStream(stream: string, events: readonly CheckedEvent[]): number {
  const name = sessionStreamParts(stream);
  if (!name) throw new StreamRefusal(0, `${printable(stream)} is not a session stream name`);
  const fold = new SessionFold(stream);
  const projections = new ReadModelRecomputation(EVERY_POSITION);
  let sessionId = 0;
  const folded: RecordedSessionEvent[] = [];
  for (const event of events) {
    const refuse = (reason: string) => new StreamRefusal(event.revision, reason);
    const unreadable = unreadableReason(event.type, event.metadata, event.data);
    if (unreadable) throw refuse(unreadable);
    const fields = eventFieldsProblem(event.type, event.data);
    if (fields) throw refuse(fields);
    let recorded: RecordedSessionEvent;
    try {
      recorded = fromStoredEvent({
        id: event.id,
        streamName: stream,
        revision: BigInt(event.revision),
        position: BigInt(event.revision + 1),
        type: event.type,
        data: event.data,
        metadata: event.metadata,
        created: event.created ?? (event.data.at as string),
      });
      fold.apply(recorded);
      folded.push(recorded);
    } catch (error) {
      throw refuse(error instanceof UnreadableEventError ? error.reason : messageOf(error));
    }
    if (event.revision === 0) {
      // Its application and integration id are the stream's: the fold has checked them (`sessionCreatedProblem`).
      const data = event.data;
      const expected = sessionIdFor(stream);
      if (data.sessionId !== expected)
        throw refuse(
          `SessionCreated carries the session id ${JSON.stringify(data.sessionId)}, but the engine gives ${printable(stream)} ` +
            `the id ${expected} (derived from the stream name): a copy of another session's stream? Two streams ` +
            'with one session id stop the projector',
        );
      sessionId = expected;
    }
    const projected: ProjectedEvent = {
      streamId: stream,
      revision: event.revision,
      position: BigInt(event.revision + 1),
      event: recorded.event,
      created: recorded.created,
    };
    try {
      projections.apply(projected);
    } catch (error) {
      throw refuse(`the read-model projections cannot process ${event.type}: ${messageOf(error)}`);
    }
  }
  assertViewable(stream, fold, folded);
  try {
    projections.expectedRows();
  } catch (error) {
    throw new StreamRefusal(
      events[events.length - 1].revision,
      `the read-model rows of this session cannot be written: ${messageOf(error)}`,
    );
  }
  return sessionId;
}

/**
 * The final state shapes as GET shapes it (`sessionView`). Shaping after every event would cost events ×
 * cart lines; only when the final state fails is the stream folded again, shaping each step, to name the first
 * event after which the session cannot be shown.
 */
function assertViewable(stream: string, fold: SessionFold, folded: readonly RecordedSessionEvent[]): void {
  const last = folded[folded.length - 1];
  if (last === undefined) return;
  try {
    fold.view(last);
    return;
  } catch {
    // named below
  }
  const again = new SessionFold(stream);
  for (const recorded of folded) {
    again.apply(recorded);
    try {
      again.view(recorded);
    } catch (error) {
      throw new StreamRefusal(
        Number(recorded.revision),
        error instanceof UnreadableEventError ? error.reason : messageOf(error),
      );
    }
  }
}

/**
 * Why the read-model projections (or the database beneath them) failed on `events` (one batch of the log, in
 * order), for verify and rebuild: the first event of their streams the domain cannot fold (the streams are
 * read again, up to the batch), else the error itself with the batch's log positions. Never a stack trace.
 */
export async function unprocessable(
  client: EsdbClientAdapter,
  events: readonly ProjectedItem[],
  error: unknown,
  doing = 'folding',
): Promise<CliError> {
  if (error instanceof CliError) return error;
  const reached = new Map<string, number>();
  for (const event of events) if (event.kind !== 'tombstone') reached.set(event.streamId, event.revision);
  for (const [stream, upTo] of reached) {
    const fold = new SessionFold(stream, true);
    try {
      for (const stored of await client.readStream(stream)) {
        if (stored.revision > BigInt(upTo)) break;
        const recorded = readStoredEvent(stored);
        if (fold.apply(recorded)) fold.view(recorded);
      }
    } catch (found) {
      if (found instanceof UnreadableEventError) return found;
      break; // the store itself failed: report the projections' error
    }
  }
  const first = events[0]?.position;
  const last = events[events.length - 1]?.position;
  return new CliError(
    `${doing} the session events at log positions ${first}..${last} into the read models failed: ${messageOf(error)}`,
  );
}
