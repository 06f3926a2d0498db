import {
  ReadModelRecomputation,
  readStoredReadModels,
  type ReadModelMismatch,
} from '@session-engine/read-models';
import { EXIT } from '../cli-error';
import type { Connections } from '../connections';
import { formatValue, printJson, printTable, progressBar, type CliIo, type OutputOptions } from '../io';
import { diffJson } from '../json-diff';
import { sessionEventPages } from './log';

export interface VerifyResult {
  events: number;
  checkpoints: Record<string, string | null>;
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
    field: `${mismatch.field}.${c.field}`,
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
 * read model in memory with the projections' pure functions, and compares it with the stored rows.
 * `cpu`, when given, receives the CPU each phase took.
 */
export async function verifyReadModels(
  io: CliIo,
  connections: Connections,
  options: OutputOptions & { application?: number; cpu?: VerifyCpu },
): Promise<VerifyResult> {
  const cpu = options.cpu;
  let started = cpu ? cpuMs() : 0;
  const database = await connections.readModels();
  const { client } = await connections.eventStore();
  const stored = await readStoredReadModels(database.db, {
    applicationId: options.application,
    dialect: database.dialect,
  });
  if (cpu) cpu.stored += cpuMs() - started;
  const recomputation = new ReadModelRecomputation(stored.checkpoints);
  const bar = progressBar(io, options, 'verify', Number(recomputation.upTo));
  let events = 0;
  if (recomputation.upTo >= 0n) {
    for await (const page of sessionEventPages(client, {
      upTo: recomputation.upTo,
      applicationId: options.application,
    })) {
      if (cpu) started = cpuMs();
      recomputation.applyAll(page);
      if (cpu) cpu.fold += cpuMs() - started;
      events += page.length;
      bar.update(Number(page[page.length - 1].position));
    }
  }
  bar.stop();
  if (cpu) started = cpuMs();
  const mismatches = recomputation.compare(stored.rows).flatMap(expand);
  if (cpu) cpu.compare += cpuMs() - started;
  return {
    events,
    checkpoints: Object.fromEntries(
      [...stored.checkpoints].map(([name, p]) => [name, p === undefined ? null : p.toString()]),
    ),
    mismatches,
  };
}

export async function verifyCommand(
  io: CliIo,
  connections: Connections,
  options: OutputOptions & { application?: number },
): Promise<number> {
  const result = await verifyReadModels(io, connections, options);
  const ok = result.mismatches.length === 0;
  if (options.json) {
    printJson(io, { ok, ...result });
  } else {
    io.stdout.write(
      `Replayed ${result.events} event(s) up to the read models' checkpoints ` +
        `(${Object.entries(result.checkpoints)
          .map(([n, p]) => `${n} ${p ?? 'none'}`)
          .join(', ')}).\n`,
    );
    if (ok) io.stdout.write('0 mismatches: the read models are what the event log says.\n');
    else {
      printTable(
        io,
        ['table', 'row', 'field', 'expected', 'found'],
        result.mismatches.map((m) => [
          m.table,
          m.key,
          m.field,
          formatValue(m.expected),
          formatValue(m.found),
        ]),
      );
      io.stdout.write(`${result.mismatches.length} mismatch(es).\n`);
    }
  }
  return ok ? EXIT.ok : EXIT.findings;
}
