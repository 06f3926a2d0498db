import {
  ReadModelRecomputation,
  parseSessionStream,
  readStoredReadModels,
  type ProjectedItem,
  type ReadModelMismatch,
} from '@session-engine/read-models';
import {
  isSessionEvent,
  isSessionItem,
  isSessionTombstone,
  SESSION_STREAM_PREFIX,
  type EsdbClientAdapter,
  type StoredEvent,
} from '@session-engine/event-store';
import { CliError, EXIT } from '../cli-error';
import { readModelConnectionLost } from '../connection-lost';
import type { Connections } from '../connections';
import { formatValue, printJson, printTable, progressBar, type CliIo, type OutputOptions } from '../io';
import { diffJson } from '../json-diff';
import { jsonEscaped, printable } from '../printable';
import { readStoredEvent, unprocessable, unreadableReason, UnreadableEventError } from '../session-events';
import { toProjectedEvent, toProjectedTombstone } from './log';

export interface VerifyResult {
  /**
   * Session events replayed (up to the highest checkpoint; of one application with --application), tombstones of
   * session streams (erasures) included.
   */
  events: number;
  /** Each projection's checkpoint: the log position it has projected up to. */
  checkpoints: Record<string, string | null>;
  /** Position of the log's last session event (`null`: the log holds none). */
  logHead: string | null;
  /** Per projection, the session events after its checkpoint: in the log, not yet projected. */
  behind: Record<string, number>;
  mismatches: ReadModelMismatch[];
}

/** JSON columns are compared member by member, so a mismatch names the field inside them. */
function expand(mismatch: ReadModelMismatch): ReadModelMismatch[] {
  if (
    !mismatch.field.endsWith('_json') ||
    typeof mismatch.expected !== 'string' ||
    typeof mismatch.found !== 'string'
  )
    return [mismatch];
  let expected: unknown;
  let found: unknown;
  try {
    expected = JSON.parse(mismatch.expected);
    found = JSON.parse(mismatch.found);
  } catch {
    return [mismatch];
  }
  const changes = diffJson(expected, found);
  if (changes.length === 0) return [mismatch]; // same JSON, different text (key order)
  return changes.map((c) => ({
    ...mismatch,
    field: c.field.startsWith('[') ? `${mismatch.field}${c.field}` : `${mismatch.field}.${c.field}`,
    expected: c.from ?? null,
    found: c.to ?? null,
  }));
}

/** Process CPU (ms) per phase of `verifyReadModels`, for the benchmark; the rest is reading the log. */
export interface VerifyCpu {
  /** Reading the stored rows and checkpoints. */
  stored: number;
  /** Folding the pages into the recomputation. */
  fold: number;
  /** Making the expected rows and comparing them. */
  compare: number;
}

const cpuMs = () => {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1000;
};

/**
 * Replays the session streams up to the checkpoints the read models have reached, recomputes every
 * read model in memory with the projections' pure functions, and compares it with the stored rows. Reads
 * on to the end of the log to tell how far behind it each projection is (counting, not folding). Opens the
 * read models read-only: read models never projected (no tables, or a projection without a checkpoint while
 * the log holds session events) are a `CliError` (exit 2), not an empty success. `cpu`, when given, receives the CPU each
 * phase took.
 */
export async function verifyReadModels(
  io: CliIo,
  connections: Connections,
  options: OutputOptions & { application?: number; cpu?: VerifyCpu },
): Promise<VerifyResult> {
  const cpu = options.cpu;
  let started = cpu ? cpuMs() : 0;
  const database = await connections.readModelsReadOnly();
  const { client } = await connections.eventStore();
  const neverProjected = (what: string) => neverProjectedError(database.where, what, 'verify');
  if (!database.schema) throw neverProjected('no read-model tables');
  const stored = await readStoredReadModels(database.db, {
    applicationId: options.application,
    dialect: database.dialect,
  }).catch((error: unknown) => {
    // A connection cut while reading is not a schema to migrate: the CLI says so (connection-lost.ts).
    if (readModelConnectionLost(error)) throw error;
    const code = (error as { code?: unknown }).code;
    // PostgreSQL 42501: the tables are there, this role may not read them (a migration would not help).
    const advice =
      code === '42501'
        ? 'grant this role SELECT on the read-model tables (or run the CLI as the role that owns them)'
        : 'are they migrated? Starting the projector once migrates them.';
    throw new CliError(
      `Cannot read the read models at ${database.where} (${(error as Error).message}): ${advice}`,
    );
  });
  if (cpu) cpu.stored += cpuMs() - started;
  const checkpoints = [...stored.checkpoints];
  const missing = checkpoints.filter(([, p]) => p === undefined).map(([name]) => name);
  if (missing.length > 0 && (await firstSessionEvent(client)) !== undefined)
    throw neverProjected(`no checkpoint for ${missing.join(', ')}`);

  const recomputation = new ReadModelRecomputation(stored.checkpoints);
  const behind = new Map(checkpoints.map(([name, p]) => [name, { after: p ?? -1n, count: 0 }]));
  const lowest = checkpoints.reduce(
    (a, [, p]) => (p === undefined || p < a ? (p ?? -1n) : a),
    recomputation.upTo,
  );
  // The bar counts events, as the summary does: the stored sessions' revisions say how many to expect.
  const expected = [...stored.rows.sessions.values()].reduce((n, row) => n + Number(row.revision) + 1, 0);
  const bar = progressBar(io, options, 'verify', expected, 'events');
  let events = 0;
  let logHead: bigint | undefined;
  try {
    // Tombstones of session streams too: the projector drops an erased session's rows when it reaches one.
    for await (const read of client.readAllBatches({ prefixes: [SESSION_STREAM_PREFIX], tombstones: true })) {
      const page = read.filter(isSessionItem);
      if (page.length === 0) continue;
      const last = page[page.length - 1].position!;
      logHead = last;
      // Events after a checkpoint: in the log, not yet projected.
      if (last > lowest) {
        for (const counter of behind.values()) {
          if (last <= counter.after) continue;
          for (let i = page.length - 1; i >= 0 && page[i].position! > counter.after; i--) counter.count++;
        }
      }
      // Events after every checkpoint are counted, not folded. One this CLI cannot read (a newer writer's)
      // is where a projector of this version stops for good: verify cannot vouch for the log (exit 2).
      if (last > recomputation.upTo) {
        for (const stored of page) {
          if (stored.position! <= recomputation.upTo || isSessionTombstone(stored)) continue;
          const reason = unreadableReason(stored.type, stored.metadata, stored.data);
          if (reason !== undefined)
            throw new UnreadableEventError(
              { stream: stored.streamName, revision: stored.revision, position: stored.position },
              `${reason} (after the read models' checkpoints: a projector of this version stops there)`,
            );
        }
      }
      if (page[0].position! > recomputation.upTo) continue;
      const folded: ProjectedItem[] = [];
      for (const stored of page) {
        if (stored.position! > recomputation.upTo) break;
        if (
          options.application !== undefined &&
          parseSessionStream(stored.streamName).applicationId !== options.application
        )
          continue;
        folded.push(
          isSessionTombstone(stored)
            ? toProjectedTombstone(stored)
            : toProjectedEvent(readStoredEvent(stored)),
        );
      }
      if (folded.length === 0) continue;
      if (cpu) started = cpuMs();
      try {
        recomputation.applyAll(folded);
      } catch (error) {
        throw await unprocessable(client, folded, error);
      }
      if (cpu) cpu.fold += cpuMs() - started;
      events += folded.length;
      bar.update(events);
      if (last > recomputation.upTo) bar.update(events, events); // all replayed; the rest is counted
    }
  } finally {
    bar.stop();
  }
  if (cpu) started = cpuMs();
  const mismatches = recomputation.compare(stored.rows).flatMap(expand);
  if (cpu) cpu.compare += cpuMs() - started;
  return {
    events,
    checkpoints: Object.fromEntries(
      checkpoints.map(([name, p]) => [name, p === undefined ? null : p.toString()]),
    ),
    logHead: logHead === undefined ? null : logHead.toString(),
    behind: Object.fromEntries([...behind].map(([name, b]) => [name, b.count])),
    mismatches,
  };
}

/**
 * Read models without tables, or a projection without a checkpoint while the log holds session events: never
 * projected, so there is nothing to verify or rebuild (exit 2) — not an empty success.
 */
export function neverProjectedError(where: string, what: string, command: 'verify' | 'rebuild'): CliError {
  const purpose =
    command === 'verify'
      ? 'there is nothing to verify them against'
      : 'there is nothing to rebuild (a rebuild replaces read models a projector keeps, up to its checkpoints)';
  return new CliError(
    `The read models at ${where} have never been projected (${what}), so ${purpose}: start the projector ` +
      `(\`npm start\`, or \`npm run start:projector\`), let it catch up, then run ${command} again.`,
  );
}

/** The log's first session event, if it has one. */
export async function firstSessionEvent(client: EsdbClientAdapter): Promise<StoredEvent | undefined> {
  for await (const page of client.readAllBatches({ prefixes: [SESSION_STREAM_PREFIX], batchSize: 1 }))
    if (isSessionEvent(page[0]!)) return page[0];
  return undefined;
}

export async function verifyCommand(
  io: CliIo,
  connections: Connections,
  options: OutputOptions & { application?: number },
): Promise<number> {
  const result = await verifyReadModels(io, connections, options);
  const ok = result.mismatches.length === 0;
  // An application with no event in the log and no row in the read models is most likely a mistyped id: a clean
  // result would vouch for nothing. Said on stderr (stdout and the exit code stay the verification's).
  if (options.application !== undefined && ok && result.events === 0 && result.logHead !== null)
    io.stderr.write(
      `session-replay: warning: application ${options.application} has no session event in the log and no row in ` +
        'the read models: nothing of it was compared — is the application id right?\n',
    );
  if (options.json) {
    printJson(io, { ok, ...result });
    return ok ? EXIT.ok : EXIT.findings;
  }
  if (result.logHead === null) {
    io.stdout.write('The log holds no session events: nothing to verify.\n');
  } else {
    io.stdout.write(`Replayed ${result.events} event(s) up to the read models' checkpoints.\n`);
    printTable(
      io,
      ['projection', 'checkpoint', 'events not yet projected'],
      Object.entries(result.checkpoints).map(([name, p]) => [name, p ?? 'none', result.behind[name] ?? 0]),
    );
  }
  const state = readModelState(result);
  if (ok) io.stdout.write(`0 mismatches: ${state.consistent}.\n`);
  else {
    printTable(
      io,
      ['table', 'row', 'field', 'expected', 'found'],
      // Row keys (a profile id, a sku) and field paths (attribute keys) are the data's: escaped (printable.ts). A
      // path holds a key that is no plain identifier as a JSON string (json-diff.ts): its backslashes are escapes.
      result.mismatches.map((m) => [
        m.table,
        printable(m.key),
        jsonEscaped(m.field),
        formatValue(m.expected),
        formatValue(m.found),
      ]),
    );
    io.stdout.write(`${result.mismatches.length} mismatch(es), comparing ${state.compared}.\n`);
  }
  return ok ? EXIT.ok : EXIT.findings;
}

/** Where the read models stand against the log, in words (a read model behind the log is normal live). */
function readModelState(result: VerifyResult): { consistent: string; compared: string } {
  if (result.logHead === null)
    return {
      consistent: 'the log holds no session events, and the read models none either',
      compared: 'the read models with an empty log',
    };
  const positions = Object.values(result.checkpoints).map((p) => BigInt(p ?? -1));
  const lowest = positions.reduce((a, b) => (b < a ? b : a));
  const notYet = Math.max(0, ...Object.values(result.behind));
  if (notYet === 0)
    return {
      consistent: `the read models are what the event log says, up to its last session event (position ${result.logHead})`,
      compared: `up to the log's last session event (position ${result.logHead})`,
    };
  const upTo = `position ${lowest}${positions.every((p) => p === lowest) ? '' : ' (the lowest checkpoint)'}`;
  const log = `the log is at ${result.logHead} (${notYet} event(s) not yet projected)`;
  return {
    consistent: `the read models are consistent up to ${upTo}; ${log}`,
    compared: `up to ${upTo}; ${log}`,
  };
}
