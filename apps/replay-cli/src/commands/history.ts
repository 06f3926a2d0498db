import { SESSION_EVENT_READ_VERSIONS, type SessionEventType } from '@session-engine/session-domain';
import type { Connections } from '../connections';
import { formatValue, printJson, printTable, type CliIo } from '../io';
import { diffJson, type FieldChange } from '../json-diff';
import { printable } from '../printable';
import { readStoredEvent, SessionFold } from '../session-events';
import { readSessionStream } from './session-stream';

/** Shown in their own column, or implied by the row's time. */
const NOT_CHANGES = new Set([
  'updated',
  'total',
  'cartItemTotal',
  'cartItemAdditionalCostTotal',
  'additionalCostTotal',
]);

const isEmpty = (value: unknown) =>
  value === undefined ||
  value === '' ||
  (Array.isArray(value) && value.length === 0) ||
  (typeof value === 'object' && value !== null && Object.keys(value).length === 0);

export interface HistoryRow {
  revision: number;
  time: string;
  /** Server write time. */
  recorded: string;
  type: string;
  /** Schema version as stored; `upcastTo` is set when the reader brought it up to date. */
  schemaVersion: number;
  upcastTo?: number;
  commandId: string;
  changes: FieldChange[];
  totals: {
    total: number;
    cartItemTotal: number;
    cartItemAdditionalCostTotal: number;
    additionalCostTotal: number;
  };
  updateCount: number;
}

export async function historyCommand(
  io: CliIo,
  connections: Connections,
  integrationId: string,
  options: { application: number; json?: boolean },
): Promise<number> {
  const stream = await readSessionStream(connections, options.application, integrationId);
  // Each event read and folded in turn: one this CLI cannot read or fold stops it with a line naming it.
  const fold = new SessionFold(stream.name);
  let before: object = {};
  const rows: HistoryRow[] = stream.stored.map((event) => {
    const recorded = readStoredEvent(event);
    fold.apply(recorded);
    const after = fold.view(recorded);
    const changes = diffJson(before, after).filter(
      (change) =>
        !NOT_CHANGES.has(change.field) &&
        !(recorded.revision === 0n && change.from === undefined && isEmpty(change.to)),
    );
    before = after;
    const current = SESSION_EVENT_READ_VERSIONS[recorded.event.type as SessionEventType];
    const stored = recorded.metadata.schemaVersion;
    return {
      revision: Number(recorded.revision),
      time: recorded.event.data.at,
      recorded: recorded.created,
      type: recorded.event.type,
      schemaVersion: stored,
      ...(stored < current ? { upcastTo: current } : {}),
      commandId: recorded.event.data.commandId,
      changes,
      totals: {
        total: after.total,
        cartItemTotal: after.cartItemTotal,
        cartItemAdditionalCostTotal: after.cartItemAdditionalCostTotal,
        additionalCostTotal: after.additionalCostTotal,
      },
      updateCount: after.updateCount,
    };
  });

  if (options.json) {
    printJson(io, { stream: stream.name, applicationId: options.application, integrationId, events: rows });
    return 0;
  }
  // The stream name, field paths (attribute keys, cost names) and times are the data's: escaped (printable.ts).
  io.stdout.write(`${printable(stream.name)}: ${rows.length} event(s)\n`);
  printTable(
    io,
    ['rev', 'time', 'type', 'changed (old → new)', 'totals after'],
    rows.map((row) => [
      row.revision,
      printable(String(row.time)),
      row.upcastTo
        ? [printable(row.type), `(stored v${row.schemaVersion}, read as v${row.upcastTo})`]
        : printable(row.type),
      row.changes.length === 0
        ? '—'
        : row.changes.map(
            (c) => `${printable(c.field)}: ${formatValue(c.from, 40)} → ${formatValue(c.to, 40)}`,
          ),
      [
        `total ${row.totals.total}`,
        `items ${row.totals.cartItemTotal}`,
        `item costs ${row.totals.cartItemAdditionalCostTotal}`,
        `costs ${row.totals.additionalCostTotal}`,
      ],
    ]),
  );
  return 0;
}
