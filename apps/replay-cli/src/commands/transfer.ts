/**
 * export / import: the event-sourced streams (`session-…` and the profile claims `profile-…`) as NDJSON,
 * to move them between the embedded store and EventStoreDB/KurrentDB.
 *
 * Line 1: {"format":"session-engine/streams","version":1,"exportedAt":…,"source":…}
 * Then one line per stream, in the order streams first appear in the log:
 *   {"stream":"session-1-abc","digest":{…},"events":[{"revision":0,"id":"…","type":"…","data":{…},"metadata":{…},"created":"…"}]}
 * Import appends each stream with its own event ids, the first chunk with expected revision `no_stream`,
 * the next ones with the exact revision reached, then checks the imported stream's digest against the line's.
 * Idempotency records (`idempotency-…`, kept 24 h) are not exported: they are a cache, not history.
 */
import { StreamRevisionConflict, type EsdbClientAdapter, type JsonObject } from '@session-engine/event-store';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { CliError, EXIT } from '../cli-error';
import type { Connections } from '../connections';
import { printJson, printTable, progressBar, type CliIo, type OutputOptions } from '../io';
import { digestOf, type StreamDigestValue } from '../stream-digest';

export const EXPORT_FORMAT = 'session-engine/streams';
const EXPORTED_PREFIXES = ['session-', 'profile-'];
/** Appends stay well under the server's maximum append size (EventStoreDB's default: 1 MiB). */
const MAX_CHUNK_BYTES = 512 * 1024;
const MAX_CHUNK_EVENTS = 500;

export interface ExportedEvent {
  revision: number;
  id: string;
  type: string;
  data: JsonObject;
  metadata: JsonObject;
  created?: string;
}

export interface ExportedStream {
  stream: string;
  digest?: StreamDigestValue;
  events: ExportedEvent[];
}

function streamApplication(stream: string): number | undefined {
  const match = /^(?:session|profile)-(\d+)-/.exec(stream);
  return match ? Number(match[1]) : undefined;
}

export async function exportCommand(
  io: CliIo,
  connections: Connections,
  options: OutputOptions & { application?: number },
): Promise<number> {
  const { client } = await connections.eventStore();
  const names: string[] = [];
  const seen = new Set<string>();
  for await (const event of client.readAll({ prefixes: EXPORTED_PREFIXES })) {
    if (seen.has(event.streamName)) continue;
    seen.add(event.streamName);
    if (options.application === undefined || streamApplication(event.streamName) === options.application)
      names.push(event.streamName);
  }
  io.stdout.write(
    `${JSON.stringify({ format: EXPORT_FORMAT, version: 1, exportedAt: new Date().toISOString(), streams: names.length })}\n`,
  );
  const bar = progressBar(io, options, 'export', names.length);
  let events = 0;
  for (const [index, name] of names.entries()) {
    const stored = await client.readStream(name);
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
    events += stored.length;
    io.stdout.write(`${JSON.stringify(line)}\n`);
    bar.update(index + 1);
  }
  bar.stop();
  io.stderr.write(`exported ${names.length} stream(s), ${events} event(s)\n`);
  return EXIT.ok;
}

function parseStreamLine(text: string, lineNumber: number): ExportedStream | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CliError(`line ${lineNumber}: not JSON`);
  }
  const line = value as Partial<ExportedStream> & { format?: string; version?: number };
  if (line.format !== undefined) {
    if (line.format !== EXPORT_FORMAT || line.version !== 1)
      throw new CliError(`line ${lineNumber}: unknown export format ${line.format} v${line.version}`);
    return undefined;
  }
  if (typeof line.stream !== 'string' || !Array.isArray(line.events) || line.events.length === 0)
    throw new CliError(`line ${lineNumber}: expected {"stream", "events": [...]}`);
  line.events.forEach((event, i) => {
    if (
      event?.revision !== i ||
      typeof event.id !== 'string' ||
      typeof event.type !== 'string' ||
      typeof event.data !== 'object' ||
      typeof event.metadata !== 'object'
    )
      throw new CliError(
        `line ${lineNumber} (${line.stream}): event ${i} needs revision ${i}, id, type, data and metadata`,
      );
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

type Outcome = 'imported' | 'already present' | 'conflict' | 'digest mismatch';

async function importStream(client: EsdbClientAdapter, line: ExportedStream): Promise<Outcome> {
  const expected = digestOf(line.stream, line.events.map(withBigRevision)).sha256;
  // The line's own digest (from the source store) must match its events: an edited file is refused.
  if (line.digest !== undefined && line.digest.sha256 !== expected) return 'digest mismatch';
  const readBack = async () => digestOf(line.stream, await client.readStream(line.stream)).sha256;
  // A stream already there: a second import of the same file finds the same history, or a conflict.
  const existing = await client.readStream(line.stream, { direction: 'backwards', maxCount: 1 });
  if (existing.length > 0) return (await readBack()) === expected ? 'already present' : 'conflict';
  let revision: bigint | 'no_stream' = 'no_stream';
  try {
    for (const chunk of chunks(line.events)) {
      const outcome = await client.appendToStream(
        line.stream,
        chunk.map((e) => ({ id: e.id, type: e.type, data: e.data, metadata: e.metadata })),
        revision,
      );
      revision = outcome.nextRevision;
    }
  } catch (error) {
    if (!(error instanceof StreamRevisionConflict)) throw error;
    return 'conflict'; // written to concurrently while importing
  }
  return (await readBack()) === expected ? 'imported' : 'digest mismatch';
}

const withBigRevision = (e: ExportedEvent) => ({ ...e, revision: BigInt(e.revision) });

export async function importCommand(
  io: CliIo,
  connections: Connections,
  options: OutputOptions,
): Promise<number> {
  const { client } = await connections.eventStore();
  const counts: Record<Outcome, string[]> = {
    imported: [],
    'already present': [],
    conflict: [],
    'digest mismatch': [],
  };
  let events = 0;
  let lineNumber = 0;
  const lines = createInterface({ input: Readable.from(io.stdin), crlfDelay: Infinity });
  for await (const text of lines) {
    lineNumber++;
    if (text.trim() === '') continue;
    const line = parseStreamLine(text, lineNumber);
    if (!line) continue;
    const outcome = await importStream(client, line);
    counts[outcome].push(line.stream);
    if (outcome === 'imported') events += line.events.length;
    if (options.progress !== false && io.stderr.isTTY) io.stderr.write(`\r${lineNumber} line(s) read`);
  }
  if (options.progress !== false && io.stderr.isTTY) io.stderr.write('\n');
  const problems = [...counts.conflict, ...counts['digest mismatch']];
  if (options.json) {
    printJson(io, {
      ok: problems.length === 0,
      events,
      imported: counts.imported.length,
      alreadyPresent: counts['already present'].length,
      conflicts: counts.conflict,
      digestMismatches: counts['digest mismatch'],
    });
  } else {
    printTable(
      io,
      ['outcome', 'streams'],
      (Object.keys(counts) as Outcome[]).map((k) => [k, counts[k].length]),
    );
    for (const stream of counts.conflict)
      io.stdout.write(`conflict: ${stream} exists with another history\n`);
    for (const stream of counts['digest mismatch'])
      io.stdout.write(
        `digest mismatch: ${stream} (the line's events do not hash to its digest, or read back differently)\n`,
      );
    io.stdout.write(`Imported ${events} event(s).\n`);
  }
  return problems.length === 0 ? EXIT.ok : EXIT.findings;
}
