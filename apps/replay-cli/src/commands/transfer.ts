/**
 * export / import: the event-sourced streams (`session-…` and the profile claims `profile-…`) as NDJSON,
 * to move them between the embedded store and EventStoreDB/KurrentDB.
 *
 * Line 1: {"format":"session-engine/streams","version":1,"exportedAt":…,"streams":N} — import requires it
 * first and checks at the end that N stream lines (and, when the header has "events", that many events) came.
 * Then one line per stream, in the order streams first appear in the log:
 *   {"stream":"session-1-abc","digest":{…},"events":[{"revision":0,"id":"…","type":"…","data":{…},"metadata":{…},"created":"…"}]}
 * Import appends each stream with its own event ids, the first chunk with expected revision `no_stream`,
 * the next ones with the exact revision reached, then checks the imported stream's digest against the line's
 * (every field of the line's digest must be its events'). A stream already there is skipped when it holds the
 * line's events (and maybe more after them: "store ahead"); one holding the line's first events gets the rest.
 * Idempotency records (`idempotency-…`, kept 24 h) are not exported: they are a cache, not history.
 *
 * Export writes only what import can restore: a deleted stream (no events to read), a truncated one (its
 * first events gone, so it cannot be appended again with the same revisions) and one import would refuse (its
 * own checks, run by export: import stops at such a line) are left out, each with a line on stderr. Import refuses, before appending anything of it, a session stream the engine could not process
 * (`checkSessionStream`: read, folded, projected, its name and session id its own), and a profile stream
 * holding a claim the engine could not read (`readProfileClaim`: type, schema version, session, `kind`).
 */
import {
  PROFILE_CLAIMED,
  PROFILE_CLAIMED_SCHEMA_VERSION,
  ProfileClaimSchemaError,
  profileStreamName,
  readProfileClaim,
  sessionStreamName,
  StreamRevisionConflict,
  StreamTombstonedError,
  type EsdbClientAdapter,
  type ReadStreamOptions,
  type StoredEvent,
} from '@session-engine/event-store';
import { sessionStreamParts } from '@session-engine/read-models';
import {
  isSchemaVersion,
  SESSION_EVENT_READ_VERSIONS,
  storedSchemaVersion,
} from '@session-engine/session-domain';
import { StringDecoder } from 'node:string_decoder';
import { CliError, EXIT, StdoutClosedError, StdoutWriteError } from '../cli-error';
import { eventStoreFailure, eventStoreStopped, eventStoreStoppedLine } from '../connection-lost';
import type { Connections } from '../connections';
import {
  printJson,
  printTable,
  progressBar,
  progressCounter,
  type CliIo,
  type OutputOptions,
  type Progress,
} from '../io';
import { jsonEscaped, jsonText, neutralized, printable, quoted } from '../printable';
import { checkSessionStream, StreamRefusal, type CheckedEvent } from '../session-events';
import { digestOf, type StreamDigestValue } from '../stream-digest';

export const EXPORT_FORMAT = 'session-engine/streams';
const EXPORTED_PREFIXES = ['session-', 'profile-'];
/** Appends stay well under the server's maximum append size (EventStoreDB's default: 1 MiB). */
const MAX_CHUNK_BYTES = 512 * 1024;
const MAX_CHUNK_EVENTS = 500;

/** An event as export writes it (and import checks it before appending). */
export type ExportedEvent = CheckedEvent;

export interface ExportedStream {
  stream: string;
  digest?: StreamDigestValue;
  events: ExportedEvent[];
}

const PROFILE_STREAM = /^profile-(\d+)-(.+)$/s;

/** Reads `profile-{applicationId}-{profileId}`; `undefined` for a name of any other form. */
function profileStreamParts(stream: string): { applicationId: number; profileId: string } | undefined {
  const match = PROFILE_STREAM.exec(stream);
  return match ? { applicationId: Number(match[1]), profileId: match[2] } : undefined;
}

function streamApplication(stream: string): number | undefined {
  return sessionStreamParts(stream)?.applicationId ?? profileStreamParts(stream)?.applicationId;
}

/** A stream export leaves out: import could not restore it. */
export interface LeftOut {
  stream: string;
  /**
   * deleted: soft-deleted (reads return nothing); tombstoned: deleted for good; truncated: its first events gone;
   * refused: import would refuse it (`why`), so a file holding it could not be restored past it.
   */
  reason: 'deleted' | 'tombstoned' | 'truncated' | 'refused';
  /** truncated: the first revision a read returns. */
  firstRevision?: number;
  /** refused: import's reason, naming the event at fault (`revision 3: …`) when it is one event. */
  why?: string;
  /** Deleted or truncated between the pass that counted the streams and the one that wrote them. */
  meanwhile?: boolean;
  /**
   * refused, found only by the full check on the line about to be written (a fold, a projection, a session id
   * of another stream: what one event alone does not show), so the header counts it.
   */
  countedInHeader?: boolean;
}

/** Streams probed at once during export's first pass. */
const PROBES = 16;

/** The stream's events (`options`: as `readStream` takes them), `undefined` when it is tombstoned. */
async function readUnlessTombstoned(
  client: EsdbClientAdapter,
  stream: string,
  options?: ReadStreamOptions,
): Promise<StoredEvent[] | undefined> {
  try {
    return await client.readStream(stream, options);
  } catch (error) {
    if (error instanceof StreamTombstonedError) return undefined;
    throw error;
  }
}

/**
 * Whether a stream can be exported, from a read of it from its start (`readUnlessTombstoned`): `undefined`
 * when it reads from revision 0, else why not.
 */
function whyLeftOut(stream: string, read: StoredEvent[] | undefined): LeftOut | undefined {
  if (read === undefined) return { stream, reason: 'tombstoned' };
  const [first] = read;
  if (first === undefined) return { stream, reason: 'deleted' };
  if (first.revision > 0n) return { stream, reason: 'truncated', firstRevision: Number(first.revision) };
  return undefined;
}

/** `whyLeftOut` from the stream's first event alone. */
async function leftOut(client: EsdbClientAdapter, stream: string): Promise<LeftOut | undefined> {
  return whyLeftOut(stream, await readUnlessTombstoned(client, stream, { maxCount: 1 }));
}

function leftOutLine(skip: LeftOut): string {
  const what =
    skip.reason === 'refused'
      ? `import would refuse it — ${neutralized(skip.why ?? '')} (import stops at such a line: no stream after it ` +
        'would be restored)'
      : skip.reason === 'deleted'
        ? 'the stream is deleted (a read of it returns no events; they stay in $all until a scavenge)'
        : skip.reason === 'tombstoned'
          ? 'the stream is deleted for good (tombstoned)'
          : `it starts at revision ${skip.firstRevision}: its earlier events are gone (truncated by its stream ` +
            'metadata — $tb, $maxCount or $maxAge — or deleted and written again), and import restores a stream ' +
            'only from revision 0, with the same revisions';
  // The stream name is the log's: escaped for the terminal (printable.ts).
  const stream = printable(skip.stream);
  if (skip.countedInHeader)
    return (
      `session-replay: export: ${stream} was left out: ${what} — found while writing the streams, after the ` +
      'header counted it, so import will report this file as incomplete (exit 1) once it has restored every ' +
      'other stream\n'
    );
  return skip.meanwhile
    ? `session-replay: export: ${stream} was left out: ${what} — this happened while exporting, after the ` +
        'header counted it, so import will report this file as incomplete (exit 1); export again\n'
    : `session-replay: export: ${stream} was left out: ${what}\n`;
}

/**
 * Why import would refuse the stream of `event` because of this one event, as import's per-event rule says
 * (`parseStreamLine`: a type of the stream's category, a schema version readers know; and JSON the engine
 * wrote), or `undefined`. Export's first pass runs it on every event of `$all` it reads anyway, so a stream
 * holding such an event is left out before the header counts the streams.
 */
function refusedEvent(event: StoredEvent): string | undefined {
  const index = Number(event.revision);
  if (event.unreadable !== undefined)
    return `event ${index} (${printable(event.type)}) is not JSON the engine wrote: ${event.unreadable}; export copies JSON events only`;
  const category = STREAM_CATEGORIES.find((c) => namedByEngine(c, event.streamName));
  if (category === undefined) return undefined; // the stream's name is refused on its own
  return eventTypeProblem(category, index, event.type, event.metadata);
}

/**
 * Import's refusal of `line` as line `lineNumber` of a file (`checkStreamLine`, then `checkStream`), without
 * the line's number: `undefined` when import would take it. `sessionIds` as import keeps it over the file.
 */
function importRefusal(
  line: ExportedStream,
  lineNumber: number,
  sessionIds: Map<number, string>,
): string | undefined {
  try {
    checkStream(checkStreamLine(line, lineNumber), lineNumber, sessionIds);
    return undefined;
  } catch (error) {
    if (error instanceof StreamLineRefusal) return error.reason;
    if (error instanceof CliError) return error.message;
    throw error;
  }
}

/**
 * Writes the header, then one line per stream. A first pass over the log finds the streams (in the order
 * they first appear) and probes each one's first event, so the header counts exactly the streams written:
 * deleted and truncated streams, and streams import would refuse (`refusedEvent` in the first pass,
 * `importRefusal` on each line before it is written), are left out (see `LeftOut`), one line each on stderr.
 * Exit 1 when a truncated or refused stream was left out — the store serves events this file does not hold —,
 * else 0 (a deleted stream holds nothing a reader sees). `--json`: the summary on stderr as one JSON object instead of text.
 */
export async function exportCommand(
  io: CliIo,
  connections: Connections,
  options: OutputOptions & { application?: number },
): Promise<number> {
  const { client } = await connections.eventStore();
  // `--json 2> summary.json`: the summary is the only line on a stderr that is not a terminal (no progress
  // lines); on a terminal the progress is drawn and cleared as usual.
  const shown: OutputOptions = options.json && !io.stderr.isTTY ? { ...options, progress: false } : options;
  const state: { announced?: number; written: number } = { written: 0 };
  const incomplete = () =>
    state.announced === undefined
      ? 'nothing was written to stdout yet (no header), so it is no export: import refuses it as empty'
      : `the export on stdout is incomplete: ${state.written} of the ${state.announced} stream(s) its header announces were ` +
        'written (a last line may be cut), and import reports such a file as truncated (exit 1) after importing ' +
        'the streams it holds';
  // SIGINT / SIGTERM end the process at once (nothing to clean up): it says what the file is.
  const forget = io.interruption?.atExit((signal) =>
    io.stderr.write(`session-replay: interrupted by ${signal}: ${incomplete()}. Run the export again.\n`),
  );
  try {
    return await writeExport(io, client, options, shown, state);
  } catch (error) {
    // `> /dev/full`, a full disk: the file is not an export to keep (a write error, not a finding: exit 2).
    if (error instanceof StdoutWriteError)
      throw new CliError(
        `writing the export to stdout failed (${error.failure.message}): the file on stdout is incomplete — ` +
          (state.announced === undefined
            ? 'not even its header reached it'
            : `at most ${state.written} of the ${state.announced} stream(s) its header announces reached it, its ` +
              'last line may be cut, and import reports such a file as truncated (exit 1) or refuses it') +
          '; do not keep it as a backup. Run the export again where it can be written.',
      );
    if (!eventStoreStopped(error)) throw error;
    throw new CliError(
      `${eventStoreStoppedLine(connections.config.connectionString, error)} The export stopped: ${incomplete()}. ` +
        'Run the export again once the store answers.',
    );
  } finally {
    forget?.();
  }
}

/**
 * The export itself (see `exportCommand`): `state` tells, at any moment, what it has written — its header's
 * stream count once written, and the stream lines after it.
 */
async function writeExport(
  io: CliIo,
  client: EsdbClientAdapter,
  options: OutputOptions & { application?: number },
  shown: OutputOptions,
  state: { announced?: number; written: number },
): Promise<number> {
  const names: string[] = [];
  const seen = new Set<string>();
  const probes: Promise<LeftOut | undefined>[] = [];
  const inFlight = new Set<Promise<unknown>>();
  /** Streams import would refuse, from what one event of them shows (see `refusedEvent`): the first such event. */
  const refused = new Map<string, LeftOut>();
  const selected = new Set<string>();
  let read = 0;
  const scan = progressCounter(io, shown, 'export: reading the log', 'events');
  let verdicts: (LeftOut | undefined)[];
  try {
    for await (const event of client.readAll({ prefixes: EXPORTED_PREFIXES })) {
      scan.update(++read);
      if (selected.has(event.streamName) && !refused.has(event.streamName)) {
        const why = refusedEvent(event);
        if (why !== undefined)
          refused.set(event.streamName, { stream: event.streamName, reason: 'refused', why });
      }
      if (seen.has(event.streamName)) continue;
      seen.add(event.streamName);
      if (options.application !== undefined && streamApplication(event.streamName) !== options.application)
        continue;
      selected.add(event.streamName);
      const why = streamNameProblem(event.streamName) ?? refusedEvent(event);
      if (why !== undefined)
        refused.set(event.streamName, { stream: event.streamName, reason: 'refused', why });
      names.push(event.streamName);
      if (inFlight.size >= PROBES) await Promise.race(inFlight);
      const probe = leftOut(client, event.streamName);
      probe.catch(() => undefined); // awaited below; a failure must not go unhandled meanwhile
      const settled: Promise<unknown> = probe.then(
        () => inFlight.delete(settled),
        () => inFlight.delete(settled),
      );
      inFlight.add(settled);
      probes.push(probe);
    }
    // What a read from its start shows comes first (a deleted stream's events stay in $all); then import's refusal.
    verdicts = (await Promise.all(probes)).map((verdict, i) => verdict ?? refused.get(names[i]));
  } finally {
    scan.stop();
  }
  const skipped = verdicts.filter((v): v is LeftOut => v !== undefined);
  const kept = names.filter((_, i) => verdicts[i] === undefined);
  if (!options.json) for (const skip of skipped) io.stderr.write(leftOutLine(skip));

  // The NDJSON is written as the CLI writes any JSON (`jsonText`, `jsonEscaped`): what JSON.stringify leaves raw
  // that a terminal acts on (DEL, C1 and bidi controls, U+2028/9) is escaped, for whoever `cat`s or `head`s the
  // file. Import parses the lines, and the digests are of the parsed events, so nothing else changes.
  io.stdout.write(
    `${jsonText({ format: EXPORT_FORMAT, version: 1, exportedAt: new Date().toISOString(), streams: kept.length })}\n`,
  );
  state.announced = kept.length;
  const bar = progressBar(io, shown, 'export', kept.length, 'streams');
  let events = 0;
  const sessionIds = new Map<number, string>();
  try {
    for (const [index, name] of kept.entries()) {
      const stored = await readUnlessTombstoned(client, name);
      const late = whyLeftOut(name, stored);
      if (stored === undefined || late !== undefined) {
        const skip: LeftOut = { ...late!, meanwhile: true }; // whyLeftOut leaves out every stream not read
        skipped.push(skip);
        if (!options.json) bar.note(leftOutLine(skip));
        continue;
      }
      // Export carries JSON; an event that is none (another tool's binary event, metadata that does not parse)
      // would be written as {} — a copy that is not the log. Left out, naming it (the first pass found it, unless
      // it was written since).
      const foreign = stored.find((e) => e.unreadable !== undefined);
      if (foreign !== undefined) {
        const skip: LeftOut = {
          stream: name,
          reason: 'refused',
          why: refusedEvent(foreign),
          countedInHeader: true,
        };
        skipped.push(skip);
        if (!options.json) bar.note(leftOutLine(skip));
        continue;
      }
      const line: ExportedStream = {
        stream: name,
        digest: digestOf(name, stored),
        events: stored.map((e) => ({
          revision: Number(e.revision),
          id: e.id,
          type: e.type,
          data: e.data,
          metadata: e.metadata,
          created: e.created,
        })),
      };
      // The very check import runs on this line (shape, types and versions, then the session stream's fold and
      // projections, or the profile claims, and one session id per stream): a stream it would refuse is left out —
      // import stops at such a line, and a backup that cannot be restored past it must not pass.
      const refusal = importRefusal(line, state.written + 2, sessionIds);
      if (refusal !== undefined) {
        const skip: LeftOut = { stream: name, reason: 'refused', why: refusal, countedInHeader: true };
        skipped.push(skip);
        if (!options.json) bar.note(leftOutLine(skip));
        continue;
      }
      events += stored.length;
      state.written++;
      io.stdout.write(`${jsonEscaped(JSON.stringify(line))}\n`);
      bar.update(index + 1);
    }
    // Every line must have reached the file before the summary says what it holds (a write error is reported
    // after `write` returned).
    await io.settled?.();
  } finally {
    bar.stop();
  }
  const incomplete = skipped.some((s) => s.reason === 'truncated' || s.reason === 'refused' || s.meanwhile);
  if (options.json) {
    io.stderr.write(`${jsonText({ ok: !incomplete, streams: state.written, events, leftOut: skipped })}\n`);
  } else {
    const count = (reason: LeftOut['reason']) => skipped.filter((s) => s.reason === reason).length;
    const left =
      skipped.length === 0
        ? ''
        : `; left out ${skipped.length} stream(s) import could not restore (${count('deleted') + count('tombstoned')} ` +
          `deleted, ${count('truncated')} truncated${count('refused') > 0 ? `, ${count('refused')} that import would refuse` : ''} — see above)`;
    io.stderr.write(`exported ${state.written} stream(s), ${events} event(s)${left}\n`);
  }
  return incomplete ? EXIT.findings : EXIT.ok;
}

/** Line 1 of an export. `events` is optional (exports of this version do not write it). */
export interface ExportHeader {
  format: typeof EXPORT_FORMAT;
  version: 1;
  exportedAt?: string;
  streams: number;
  events?: number;
}

/** The streams export writes, and the event types each may hold (what the engine itself appends). */
const STREAM_CATEGORIES: {
  /** The application id of a stream name of this category's form, `undefined` for a name of another form. */
  applicationOf: (stream: string) => number | undefined;
  /** The name the engine gives a stream of this category. */
  name: (applicationId: number, id: string) => string;
  form: string;
  types: readonly string[];
  /** The schema versions readers know, per type (`metadata.schemaVersion`, 1 when absent). */
  versions: Readonly<Record<string, number>>;
}[] = [
  {
    applicationOf: (stream) => sessionStreamParts(stream)?.applicationId,
    name: sessionStreamName,
    form: 'session-{applicationId}-{integrationId}',
    types: Object.keys(SESSION_EVENT_READ_VERSIONS),
    versions: SESSION_EVENT_READ_VERSIONS,
  },
  {
    applicationOf: (stream) => profileStreamParts(stream)?.applicationId,
    name: profileStreamName,
    form: 'profile-{applicationId}-{profileId}',
    types: [PROFILE_CLAIMED],
    versions: { [PROFILE_CLAIMED]: PROFILE_CLAIMED_SCHEMA_VERSION },
  },
];

/**
 * Whether `stream` is named as the engine names a stream of `category`: its form, with an application id that
 * is a positive (safe) integer written without leading zeros (the name starts as the engine's name of a stream
 * of that application does).
 */
function namedByEngine(category: (typeof STREAM_CATEGORIES)[number], stream: string): boolean {
  const applicationId = category.applicationOf(stream);
  return (
    applicationId !== undefined &&
    Number.isSafeInteger(applicationId) &&
    applicationId > 0 &&
    stream.startsWith(category.name(applicationId, ''))
  );
}

/** An event id as the store returns it. */
const EVENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const isNonNegativeInteger = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/** What a JSON value that is not an object is, for a refusal: `an array`, `a number`, `null`… */
function jsonKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'number' ? 'a number' : typeof value === 'string' ? 'a string' : 'a boolean';
}

/**
 * Import's refusal of a stream line (exit 2), naming the line; `reason` is what is wrong with the stream itself,
 * without the line — what export says when it leaves out a stream import would refuse.
 */
export class StreamLineRefusal extends CliError {
  override readonly name = 'StreamLineRefusal';
  constructor(
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}

/** `line N (stream): reason; nothing of this stream was appended` (`appended`: that ending). */
function lineRefusal(lineNumber: number, stream: string, reason: string, appended = true): StreamLineRefusal {
  return new StreamLineRefusal(
    `line ${lineNumber} (${printable(stream)}): ${reason}${appended ? '; nothing of this stream was appended' : ''}`,
    reason,
  );
}

/**
 * Why import refuses an event of type `type` with `metadata` in a stream of `category`, `undefined` when it
 * does not: a type of another category, or a schema version readers do not know (the readers' rule,
 * `storedSchemaVersion`: no `schemaVersion` is 1, anything but a positive integer is refused).
 */
function eventTypeProblem(
  category: (typeof STREAM_CATEGORIES)[number],
  index: number,
  type: string,
  metadata: unknown,
): string | undefined {
  if (!category.types.includes(type))
    return `event ${index} has type ${quoted(type)}, which is not an event of ${category.form} streams (${category.types.join(', ')})`;
  const current = category.versions[type];
  const version = storedSchemaVersion(metadata);
  if (current !== undefined && (!isSchemaVersion(version) || version > current))
    return `event ${index} (${type}) has schema version ${JSON.stringify(version)}; this engine reads versions 1..${current} (written by a newer version?)`;
  return undefined;
}

/** The stream name is not one import takes: why, or `undefined` (and its category). */
function streamNameProblem(name: string): string | undefined {
  return STREAM_CATEGORIES.some((c) => namedByEngine(c, name))
    ? undefined
    : `stream ${quoted(name)} is not one an export writes (${STREAM_CATEGORIES.map((c) => c.form).join(' or ')})`;
}

/**
 * A line's JSON object; a `CliError` saying what the line is instead — not JSON at all, or valid JSON but no
 * object (`[]`, `42`, `"x"`, `null`: the file is JSON of another kind, not damaged), `expected` naming what the
 * line should have been.
 */
function parseJsonLine(text: string, lineNumber: number, expected: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CliError(`line ${lineNumber}: not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new CliError(`line ${lineNumber}: valid JSON, but ${jsonKind(value)}, not ${expected}`);
  return value as Record<string, unknown>;
}

/** Line 1: the header, or a refusal saying what the file is instead. */
export function parseHeader(text: string, lineNumber: number): ExportHeader {
  const notAnExport = `line ${lineNumber}: not an export — an export's first line is its header {"format":"${EXPORT_FORMAT}","version":1,…,"streams":N}`;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CliError(`${notAnExport}; this line is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new CliError(`${notAnExport}; this line is valid JSON, but ${jsonKind(value)}, not an object`);
  const header = value as Record<string, unknown>;
  if (header.format === undefined) {
    throw new CliError(
      `${notAnExport}${typeof header.stream === 'string' ? ' (this is a stream line: the beginning of the file is missing)' : ''}`,
    );
  }
  if (header.format !== EXPORT_FORMAT || header.version !== 1)
    throw new CliError(
      `line ${lineNumber}: unknown export format ${printable(String(header.format))} v${printable(String(header.version))}`,
    );
  if (!isNonNegativeInteger(header.streams))
    throw new CliError(`line ${lineNumber}: the header has no stream count ("streams": N)`);
  if (header.events !== undefined && !isNonNegativeInteger(header.events))
    throw new CliError(`line ${lineNumber}: the header's event count ("events") is not a number`);
  return header as unknown as ExportHeader;
}

/**
 * A stream line, checked before anything of it is appended: its shape, a stream name of the categories
 * export writes, and event types the engine knows for that category (with a schema version it can read).
 */
export function parseStreamLine(text: string, lineNumber: number): ExportedStream {
  return checkStreamLine(
    parseJsonLine(text, lineNumber, 'a stream line {"stream", "events": [...]}'),
    lineNumber,
  );
}

/** `parseStreamLine`'s checks on a line already parsed (export runs them on each line before writing it). */
function checkStreamLine(value: object, lineNumber: number): ExportedStream {
  const line = value as Partial<ExportedStream> & { format?: unknown };
  if (line.format !== undefined)
    throw new CliError(
      `line ${lineNumber}: a second header (two exports joined into one file?); import each file on its own`,
    );
  if (typeof line.stream !== 'string' || !Array.isArray(line.events))
    throw new CliError(`line ${lineNumber}: expected {"stream", "events": [...]}`);
  // The stream name and event types are the file's: escaped in every message (printable.ts).
  const name = line.stream;
  const category = STREAM_CATEGORIES.find((c) => namedByEngine(c, name));
  if (!category) {
    const reason = streamNameProblem(name)!;
    throw new StreamLineRefusal(`line ${lineNumber}: ${reason}; nothing of it was appended`, reason);
  }
  const ids = new Map<string, number>();
  line.events.forEach((event, i) => {
    if (
      event?.revision !== i ||
      typeof event.id !== 'string' ||
      typeof event.type !== 'string' ||
      typeof event.data !== 'object' ||
      event.data === null ||
      typeof event.metadata !== 'object' ||
      event.metadata === null
    )
      throw lineRefusal(
        lineNumber,
        name,
        `event ${i} needs revision ${i}, id, type, data and metadata`,
        false,
      );
    if (!EVENT_ID.test(event.id))
      throw lineRefusal(
        lineNumber,
        name,
        `event ${i} has the id ${JSON.stringify(event.id)}, which is not an event id as the store returns them (a ` +
          'UUID in lower case, 8-4-4-4-12 hex digits)',
      );
    if (ids.has(event.id))
      throw lineRefusal(
        lineNumber,
        name,
        `event ${i} has the id of event ${ids.get(event.id)} (${printable(event.id)})`,
      );
    ids.set(event.id, i);
    const problem = eventTypeProblem(category, i, event.type, event.metadata);
    if (problem !== undefined) throw lineRefusal(lineNumber, name, problem);
  });
  return line as ExportedStream;
}

function chunks(events: ExportedEvent[]): ExportedEvent[][] {
  const result: ExportedEvent[][] = [];
  let current: ExportedEvent[] = [];
  let bytes = 0;
  for (const event of events) {
    const size = JSON.stringify(event.data).length + JSON.stringify(event.metadata).length + 100;
    if (current.length > 0 && (bytes + size > MAX_CHUNK_BYTES || current.length >= MAX_CHUNK_EVENTS)) {
      result.push(current);
      current = [];
      bytes = 0;
    }
    current.push(event);
    bytes += size;
  }
  if (current.length > 0) result.push(current);
  return result;
}

type Outcome = 'imported' | 'already present' | 'store ahead' | 'conflict' | 'digest mismatch';

/** The fields of a line's digest, each of which must be what the line's own events give. */
const DIGEST_FIELDS = ['stream', 'revision', 'events', 'sha256', 'scheme'] as const;

/**
 * Why the line's digest is not the digest of its events (`undefined`: it is): its hash, or another of its fields
 * — a digest naming another stream, revision or event count is no digest of this line, whatever its hash.
 */
function digestDisagrees(line: ExportedStream, computed: StreamDigestValue): string | undefined {
  const given: unknown = line.digest;
  if (typeof given !== 'object' || given === null || Array.isArray(given))
    return `its digest is ${jsonKind(given)}, not a digest object`;
  const fields = given as Record<string, unknown>;
  if (fields.sha256 !== computed.sha256) return "the line's events do not hash to its digest";
  for (const field of DIGEST_FIELDS)
    if (fields[field] !== computed[field])
      return `its digest's ${field} is ${JSON.stringify(fields[field]) ?? 'missing'}, but the line's events give ${JSON.stringify(computed[field])}`;
  return undefined;
}

interface StreamOutcome {
  outcome: Outcome;
  /** The events this call appended. */
  appended: number;
  /** A digest mismatch: why. */
  reason?: string;
  /** Store ahead: how many events the store holds (the line's are its first ones). */
  storeEvents?: number;
}

/**
 * Appends one stream line. A stream already there with the same history is skipped; one holding only the
 * line's first events (an import interrupted inside a long stream) gets the rest appended; one holding the
 * line's events and more after them (the store went on after the export) is skipped as ahead — every event of
 * the line is there; any other history is a conflict.
 */
async function importStream(
  client: EsdbClientAdapter,
  line: ExportedStream,
  sending: () => void,
): Promise<StreamOutcome> {
  const digest = (events: ExportedEvent[]) => digestOf(line.stream, events.map(withBigRevision)).sha256;
  const computed = digestOf(line.stream, line.events.map(withBigRevision));
  const expected = computed.sha256;
  // The line's own digest (from the source store) must be its events': an edited file is refused.
  const disagreement = line.digest === undefined ? undefined : digestDisagrees(line, computed);
  if (disagreement !== undefined) return { outcome: 'digest mismatch', appended: 0, reason: disagreement };
  const readBack = async () => digestOf(line.stream, await client.readStream(line.stream)).sha256;
  // A stream already there: a second import of the same file finds the same history, or a conflict.
  const existing = await client.readStream(line.stream);
  if (existing.length > 0) {
    const present = digestOf(line.stream, existing).sha256;
    if (present === expected) return { outcome: 'already present', appended: 0 };
    if (
      existing.length > line.events.length &&
      digestOf(line.stream, existing.slice(0, line.events.length)).sha256 === expected
    )
      return { outcome: 'store ahead', appended: 0, storeEvents: existing.length };
    if (existing.length >= line.events.length || present !== digest(line.events.slice(0, existing.length)))
      return { outcome: 'conflict', appended: 0 };
  }
  let revision: bigint | 'no_stream' = existing.length > 0 ? BigInt(existing.length - 1) : 'no_stream';
  const rest = line.events.slice(existing.length);
  try {
    for (const chunk of chunks(rest)) {
      sending();
      const outcome = await client.appendToStream(
        line.stream,
        chunk.map((e) => ({ id: e.id, type: e.type, data: e.data, metadata: e.metadata })),
        revision,
      );
      revision = outcome.nextRevision;
    }
  } catch (error) {
    if (!(error instanceof StreamRevisionConflict)) throw error;
    return { outcome: 'conflict', appended: 0 }; // written to concurrently while importing
  }
  return (await readBack()) === expected
    ? { outcome: 'imported', appended: rest.length }
    : {
        outcome: 'digest mismatch',
        appended: rest.length,
        reason: 'the stream reads back differently from the line after the import',
      };
}

const withBigRevision = (e: ExportedEvent) => ({ ...e, revision: BigInt(e.revision) });

/** The stream line being appended: its number, its stream, and whether any of its events went to the store. */
interface AppendingLine {
  line: number;
  stream: string;
  sent: boolean;
}

export interface ImportProgress {
  counts: Record<Outcome, string[]>;
  /** Store ahead: the streams, with how many events the store holds and the line held. */
  ahead: { stream: string; storeEvents: number; fileEvents: number }[];
  /** Digest mismatches: why, per stream. */
  mismatchReasons: Map<string, string>;
  /** Stream lines without events (older exports wrote deleted streams so): skipped. */
  empty: string[];
  /** Events appended by this run. */
  events: number;
  /** Stream lines read (whatever their outcome). */
  streams: number;
  /** Events on the stream lines read. */
  eventsRead: number;
}

/**
 * What this run did before it stopped, and that running it again is safe. `sent`: line `lineNumber`'s events had
 * gone to the store when it stopped (a connection lost mid-append), so its stream may be there, whole or in part.
 */
export function doneSoFar(progress: ImportProgress, lineNumber: number, sent = false): string {
  const { counts, events } = progress;
  const done =
    progress.streams === 0
      ? 'Nothing was imported before it.'
      : `Before line ${lineNumber}: ${counts.imported.length} stream(s) imported (${events} event(s) appended), ` +
        `${counts['already present'].length} already present, ` +
        (counts['store ahead'].length > 0
          ? `${counts['store ahead'].length} with more events in the store (skipped), `
          : '') +
        (progress.empty.length > 0 ? `${progress.empty.length} without events (skipped), ` : '') +
        `${counts.conflict.length + counts['digest mismatch'].length} refused (conflict or digest mismatch).`;
  return (
    `${done} ` +
    (sent
      ? `Line ${lineNumber}'s events had been sent when it stopped: its stream may be imported, whole or in part; ` +
        `nothing after line ${lineNumber} was. Fix what stopped it and run the same import again: it is safe — ` +
        'streams already imported are recognised by their digest and skipped, one imported in part is completed.'
      : `Nothing from line ${lineNumber} on was imported. Fix the file (or export again) and run the same import ` +
        'again: it is safe — streams already imported are recognised by their digest and skipped.')
  );
}

function npmBannerError(preamble: string[]): CliError {
  const banner = preamble.find((l) => l.startsWith('> '))!;
  return new CliError(
    `line ${preamble.indexOf(banner) + 1}: ${quoted(banner)} is npm's banner, not an export: the file was written ` +
      "through `npm run` without `-s`, which prints its own lines on stdout before the command's. " +
      'Nothing was imported. Export again with `npm run -s replay -- export > sessions.ndjson` (or ' +
      '`./apps/replay-cli/bin/session-replay.js export > sessions.ndjson`); do not cut the lines off by hand — ' +
      'the file may be damaged in other ways.',
  );
}

/**
 * The input's lines (`\n` or `\r\n`), each with whether its newline came: `complete` is false only for a
 * last line without one — a file cut short (`head -c`, a failed copy, a full disk) or saved without its final
 * newline; which one, the line's text tells (a cut line is not JSON).
 */
export async function* inputLines(
  input: AsyncIterable<Buffer | string>,
): AsyncGenerator<{ text: string; complete: boolean }> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of input) {
    const text = rest + (typeof chunk === 'string' ? chunk : decoder.write(chunk));
    let start = 0;
    for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
      const line = text.slice(start, end);
      yield { text: line.endsWith('\r') ? line.slice(0, -1) : line, complete: true };
      start = end + 1;
    }
    rest = text.slice(start);
  }
  rest += decoder.end();
  if (rest !== '') yield { text: rest, complete: false };
}

const parses = (text: string): boolean => {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};

/**
 * What import checks on a stream line beyond its shape, before appending anything of it: a session stream
 * must be one the engine can process (`checkSessionStream`), its session id not that of another stream of the
 * file; a profile stream's claims must name its own application and profile, and each must be one the engine
 * reads (`readProfileClaim`: a session named, a v2 claim's `kind`). A `CliError` naming the line.
 */
function checkStream(line: ExportedStream, lineNumber: number, sessionIds: Map<number, string>): void {
  const refuse = (reason: string) => lineRefusal(lineNumber, line.stream, reason);
  const profile = profileStreamParts(line.stream);
  if (profile) {
    for (const event of line.events) {
      const { applicationId, profileId } = event.data;
      if (applicationId !== profile.applicationId || profileId !== profile.profileId)
        throw refuse(
          `revision ${event.revision}: the claim is of application ${JSON.stringify(applicationId)}, profile ` +
            `${JSON.stringify(profileId)}, but the stream is ${printable(line.stream)}: a stream copied or renamed?`,
        );
      try {
        const revision = BigInt(event.revision);
        readProfileClaim({ ...event, streamName: line.stream, revision, created: event.created ?? '' });
      } catch (error) {
        if (error instanceof ProfileClaimSchemaError)
          throw refuse(`revision ${event.revision}: ${error.message}`);
        throw error;
      }
    }
    return;
  }
  let sessionId: number;
  try {
    sessionId = checkSessionStream(line.stream, line.events);
  } catch (error) {
    if (error instanceof StreamRefusal) throw refuse(error.message);
    throw error;
  }
  const other = sessionIds.get(sessionId);
  if (other !== undefined && other !== line.stream)
    throw refuse(
      `revision 0: its session id ${sessionId} is also the session id of ${printable(other)}, earlier in the file; two ` +
        'streams with one session id stop the projector',
    );
  sessionIds.set(sessionId, line.stream);
}

/** A failure while appending, in one line (a client error may have no message of its own). */
function describeFailure(error: unknown): string {
  // Stopped (CANCELLED), killed (UNAVAILABLE), unanswered: the store's state, not a refusal of this stream.
  if (eventStoreStopped(error)) return `the event store stopped answering (${eventStoreFailure(error)})`;
  if (error instanceof Error)
    return `the event store refused or failed the append: ${error.name}${error.message ? `: ${error.message}` : ''}`;
  return String(error);
}

export async function importCommand(
  io: CliIo,
  connections: Connections,
  options: OutputOptions,
): Promise<number> {
  const { client } = await connections.eventStore();
  const progress: ImportProgress = {
    counts: { imported: [], 'already present': [], 'store ahead': [], conflict: [], 'digest mismatch': [] },
    ahead: [],
    mismatchReasons: new Map(),
    empty: [],
    events: 0,
    streams: 0,
    eventsRead: 0,
  };
  const { counts } = progress;
  /** The stream line being appended, if one is: a signal may end the process between two of its chunks. */
  const current: { appending?: AppendingLine } = {};
  // SIGINT / SIGTERM end the process at once (nothing to clean up): it says what was imported, and that the
  // same import completes it — streams present are skipped, a stream partly imported gets the rest appended.
  const forget = io.interruption?.atExit((signal) => {
    const { imported } = counts;
    const { appending } = current;
    const partly = appending
      ? ` The stream of line ${appending.line} (${printable(appending.stream)}) was being appended: it may be ` +
        'partly imported.'
      : '';
    io.stderr.write(
      `session-replay: interrupted by ${signal}: import stopped after ${progress.streams} stream line(s) — ` +
        `${imported.length} stream(s) imported, ${progress.events} event(s) appended, ` +
        `${counts['already present'].length + counts['store ahead'].length} already present.${partly} Running ` +
        'the same import again is safe: it skips the streams already present and completes one partly ' +
        'imported.\n',
    );
  });
  try {
    return await importLines(io, client, options, progress, current);
  } finally {
    forget?.();
  }
}

/**
 * The import itself (see `importCommand`): `progress` and `current` tell, at any moment, what it has done and the
 * stream line it is appending.
 */
async function importLines(
  io: CliIo,
  client: EsdbClientAdapter,
  options: OutputOptions,
  progress: ImportProgress,
  current: { appending?: AppendingLine },
): Promise<number> {
  const { counts } = progress;
  let header: ExportHeader | undefined;
  /** Lines before the header: npm's banner ("> …" and blank lines) when written through `npm run`. */
  const preamble: string[] = [];
  let lineNumber = 0;
  /** The line the file ends in the middle of (cut short), if it does. */
  let cutAt: number | undefined;
  const sessionIds = new Map<number, string>();
  let bar: Progress | undefined;
  try {
    for await (const { text, complete } of inputLines(io.stdin)) {
      lineNumber++;
      if (!complete && text.trim() !== '' && !parses(text)) {
        cutAt = lineNumber;
        break;
      }
      if (header === undefined) {
        if (text.trim() === '' || text.startsWith('> ')) {
          preamble.push(text);
          continue;
        }
        if (preamble.some((l) => l.startsWith('> '))) throw npmBannerError(preamble);
        if (preamble.length > 0)
          throw new CliError(
            `line 1 is blank: an export's first line is its header {"format":"${EXPORT_FORMAT}",…}; nothing was imported`,
          );
        header = parseHeader(text, lineNumber);
        bar = progressBar(io, options, 'import', header.streams, 'streams');
        continue;
      }
      if (text.trim() === '') continue;
      let stream: string | undefined;
      try {
        const line = parseStreamLine(text, lineNumber);
        stream = line.stream;
        if (line.events.length === 0) {
          // What export wrote for a deleted stream before it left them out: nothing to restore.
          progress.empty.push(line.stream);
          progress.streams++;
          bar!.note(
            `session-replay: line ${lineNumber}: ${printable(line.stream)} has no events (an older export wrote a deleted ` +
              'stream so): skipped\n',
          );
          bar!.update(progress.streams);
          continue;
        }
        checkStream(line, lineNumber, sessionIds);
        const appending: AppendingLine = { line: lineNumber, stream: line.stream, sent: false };
        current.appending = appending;
        const { outcome, appended, reason, storeEvents } = await importStream(client, line, () => {
          appending.sent = true;
        });
        current.appending = undefined;
        counts[outcome].push(line.stream);
        if (reason !== undefined) progress.mismatchReasons.set(line.stream, reason);
        if (storeEvents !== undefined)
          progress.ahead.push({ stream: line.stream, storeEvents, fileEvents: line.events.length });
        progress.streams++;
        progress.eventsRead += line.events.length;
        progress.events += appended;
        bar!.update(progress.streams);
      } catch (error) {
        if (error instanceof StdoutClosedError) throw error;
        bar!.stop();
        // The refusal is one line, whatever the data or an error beneath put in it (printable.ts); what was done
        // before it, a line of its own.
        const message =
          error instanceof CliError
            ? error.message
            : `line ${lineNumber}${stream ? ` (${printable(stream)})` : ''}: ${describeFailure(error)}`;
        const sent = current.appending?.line === lineNumber && current.appending.sent;
        throw new CliError(`${neutralized(message)}\n${doneSoFar(progress, lineNumber, sent)}`);
      }
    }
  } finally {
    bar?.stop();
  }
  if (header === undefined) {
    if (cutAt !== undefined)
      throw new CliError(
        `the file ends in the middle of line ${cutAt}, its header: it is truncated (a failed copy, a full disk?); ` +
          'nothing was imported. Import a complete export.',
        EXIT.findings,
      );
    if (preamble.some((l) => l.startsWith('> '))) throw npmBannerError(preamble);
    throw new CliError('empty input: not an export (no header line); nothing was imported');
  }

  // A file cut short (a failed copy, a full disk) may end on a whole line too: the header says how much to expect.
  const missing: string[] = [];
  if (progress.streams !== header.streams)
    missing.push(`${header.streams} stream(s) announced, ${progress.streams} found`);
  if (header.events !== undefined && progress.eventsRead !== header.events)
    missing.push(`${header.events} event(s) announced, ${progress.eventsRead} found`);
  const problems = [...counts.conflict, ...counts['digest mismatch']];
  const ok = problems.length === 0 && missing.length === 0 && cutAt === undefined;
  if (options.json) {
    printJson(io, {
      ok,
      events: progress.events,
      imported: counts.imported.length,
      alreadyPresent: counts['already present'].length,
      storeAhead: progress.ahead,
      conflicts: counts.conflict,
      digestMismatches: counts['digest mismatch'],
      withoutEvents: progress.empty,
      streams: progress.streams,
      expectedStreams: header.streams,
      ...(header.events !== undefined
        ? { eventsRead: progress.eventsRead, expectedEvents: header.events }
        : {}),
      ...(cutAt !== undefined ? { truncatedAtLine: cutAt } : {}),
    });
  } else {
    printTable(
      io,
      ['outcome', 'streams'],
      [
        ...(Object.keys(counts) as Outcome[]).map((k) => [k, counts[k].length]),
        ...(progress.empty.length > 0 ? [['no events (skipped)', progress.empty.length]] : []),
      ],
    );
    for (const { stream, storeEvents, fileEvents } of progress.ahead)
      io.stdout.write(
        `store ahead: ${printable(stream)} has ${storeEvents} event(s) in the store, and the file's ${fileEvents} ` +
          `are its first ${fileEvents}: nothing to import (skipped; the store went on after the export)\n`,
      );
    for (const stream of counts.conflict)
      io.stdout.write(`conflict: ${printable(stream)} exists with another history\n`);
    for (const stream of counts['digest mismatch'])
      io.stdout.write(
        `digest mismatch: ${printable(stream)} (${neutralized(progress.mismatchReasons.get(stream) ?? "the line's events do not hash to its digest")})\n`,
      );
    io.stdout.write(`Imported ${progress.events} event(s).\n`);
  }
  const again =
    'what was appended stays; the import is safe to run again (streams already imported are skipped) — run ' +
    'it with a complete export.';
  if (cutAt !== undefined)
    io.stderr.write(
      `session-replay: the file ends in the middle of line ${cutAt}: it is truncated (a failed copy, a full ` +
        `disk?)${missing.length > 0 ? `; ${missing.join('; ')}` : ''}. The ${progress.streams} stream line(s) ` +
        `before it were processed, line ${cutAt} was not imported; ${again}\n`,
    );
  else if (missing.length > 0)
    io.stderr.write(
      `session-replay: the export is truncated or damaged: ${missing.join('; ')}. ` +
        `The ${progress.streams} stream(s) it holds were processed and ${again}\n`,
    );
  return ok ? EXIT.ok : EXIT.findings;
}
