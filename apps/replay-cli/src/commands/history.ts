import type { RecordedSessionEvent } from '@session-engine/event-store';
import {
  addMoney,
  SESSION_EVENT_READ_VERSIONS,
  SessionViewMemo,
  subtractMoney,
  type CountedLine,
  type SessionEventType,
  type SessionTotals,
} from '@session-engine/session-domain';
import type { Connections } from '../connections';
import { formatValue, printJson, printTable, type CliIo } from '../io';
import { diffJson, type FieldChange } from '../json-diff';
import { jsonEscaped, printable } from '../printable';
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

/**
 * What an event did to the revenue the session counts, as the event carries it (amounts as stored, decimal
 * strings): `counted` — SessionClosed's `total` and `items`; `returned` — CartItemsReturned's `returnId`,
 * `returnedValue` and `returnedCartItems`; `reversed` — SessionCancelled's / SessionReopened's
 * `reversedRevenue` and `reversedItems` (what the session still counted, taken back).
 */
export type RevenueChange =
  | { change: 'counted'; amount: string; items: CountedLine[] }
  | { change: 'returned'; returnId: number; amount: string; items: CountedLine[] }
  | { change: 'reversed'; amount: string; items: CountedLine[] };

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
  /**
   * From the event's stored metadata, as stored (`null` when it has none): the id of the API key that sent the
   * request (never the key itself), the request id (`X-Request-Id`, or the one the API gave it), the
   * `Idempotency-Key` it carried, and the event that caused it.
   */
  actor: unknown;
  correlationId: unknown;
  idempotencyKey: unknown;
  causationId: unknown;
  /** What the event did to the revenue the session counts; `null` for an event that changes none. */
  revenue: RevenueChange | null;
  /**
   * The revenue the session counts after the event (decimal string; "0" until it is closed): counted − returned −
   * reversed so far. `null` when an amount before it is not a decimal the CLI can add (shown as stored).
   */
  countedRevenue: string | null;
  changes: FieldChange[];
  totals: {
    total: number;
    cartItemTotal: number;
    cartItemAdditionalCostTotal: number;
    additionalCostTotal: number;
  };
  updateCount: number;
}

/** The metadata field as stored, `null` when absent. */
const stored = (metadata: object, key: string): unknown =>
  Object.hasOwn(metadata, key) ? (metadata as Record<string, unknown>)[key] : null;

function revenueOf(recorded: RecordedSessionEvent): RevenueChange | null {
  const { event } = recorded;
  switch (event.type) {
    case 'SessionClosed':
      return { change: 'counted', amount: event.data.total, items: event.data.items };
    case 'CartItemsReturned':
      return {
        change: 'returned',
        returnId: event.data.returnId,
        amount: event.data.returnedValue,
        items: event.data.returnedCartItems,
      };
    case 'SessionCancelled':
    case 'SessionReopened':
      return { change: 'reversed', amount: event.data.reversedRevenue, items: event.data.reversedItems };
    default:
      return null;
  }
}

/** The revenue counted after `revenue` (`null` once an amount is not a decimal string the domain can add). */
function countedAfter(counted: string | null, revenue: RevenueChange | null): string | null {
  if (counted === null || revenue === null) return counted;
  if (typeof revenue.amount !== 'string') return null;
  try {
    return revenue.change === 'counted'
      ? addMoney(counted, revenue.amount)
      : subtractMoney(counted, revenue.amount);
  } catch {
    return null;
  }
}

/** The revenue line of a row's changes, in the table. */
function revenueText(revenue: RevenueChange): string {
  const amount = formatValue(revenue.amount, 40);
  switch (revenue.change) {
    case 'counted':
      return `revenue counted: ${amount}`;
    case 'returned':
      return `return ${formatValue(revenue.returnId, 20)}: ${amount} returned`;
    case 'reversed':
      return `revenue reversed: ${amount}`;
  }
}

/** The command cell: its id, who sent it and with which request (or the row above's, when it is the same). */
function commandCell(row: HistoryRow, previous: HistoryRow | undefined): string[] {
  const same =
    previous !== undefined &&
    (['commandId', 'actor', 'correlationId', 'idempotencyKey', 'causationId'] as const).every(
      (key) => previous[key] === row[key],
    );
  if (same) return [`same as rev ${previous.revision}`];
  const lines = [formatValue(row.commandId, 60)];
  lines.push(`by ${row.actor === null ? '—' : formatValue(row.actor, 60)}`);
  lines.push(`request ${row.correlationId === null ? '—' : formatValue(row.correlationId, 60)}`);
  if (row.idempotencyKey !== null) lines.push(`key ${formatValue(row.idempotencyKey, 60)}`);
  if (row.causationId !== null) lines.push(`caused by ${formatValue(row.causationId, 60)}`);
  return lines;
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
  let counted: string | null = '0';
  // The table's totals, exactly as the log holds them (a row's `totals` are GET's numbers, which round).
  const exactTotals: SessionTotals[] = [];
  // Each render reuses the views and sums of the lines the event did not touch: O(changed lines) per event.
  const memo = new SessionViewMemo();
  const rows: HistoryRow[] = stream.events.map((event) => {
    const recorded = readStoredEvent(event);
    fold.apply(recorded);
    const { session: after, totals } = fold.view(recorded, memo);
    exactTotals.push(totals);
    const changes = diffJson(before, after).filter(
      (change) =>
        !NOT_CHANGES.has(change.field) &&
        !(recorded.revision === 0n && change.from === undefined && isEmpty(change.to)),
    );
    before = after;
    const current = SESSION_EVENT_READ_VERSIONS[recorded.event.type as SessionEventType];
    const version = recorded.metadata.schemaVersion;
    const revenue = revenueOf(recorded);
    counted = countedAfter(counted, revenue);
    return {
      revision: Number(recorded.revision),
      time: recorded.event.data.at,
      recorded: recorded.created,
      type: recorded.event.type,
      schemaVersion: version,
      ...(version < current ? { upcastTo: current } : {}),
      commandId: recorded.event.data.commandId,
      actor: stored(recorded.metadata, 'actor'),
      correlationId: stored(recorded.metadata, 'correlationId'),
      idempotencyKey: stored(recorded.metadata, 'idempotencyKey'),
      causationId: stored(recorded.metadata, 'causationId'),
      revenue,
      countedRevenue: counted,
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
  // A path holds a key that is no plain identifier as a JSON string (`attributes["a.b"]`, json-diff.ts): shown
  // with the escapes JSON.stringify leaves out added (`jsonEscaped`), its own backslashes not doubled again.
  io.stdout.write(`${printable(stream.name)}: ${rows.length} event(s)\n`);
  printTable(
    io,
    ['rev', 'time', 'type', 'command (by, request)', 'changed (old → new)', 'totals after'],
    rows.map((row, i) => [
      row.revision,
      printable(String(row.time)),
      row.upcastTo
        ? [printable(row.type), `(stored v${row.schemaVersion}, read as v${row.upcastTo})`]
        : printable(row.type),
      commandCell(row, rows[i - 1]),
      [
        ...(row.revenue ? [revenueText(row.revenue)] : []),
        ...row.changes.map(
          (c) => `${jsonEscaped(c.field)}: ${formatValue(c.from, 40)} → ${formatValue(c.to, 40)}`,
        ),
      ].concat(row.revenue === null && row.changes.length === 0 ? ['—'] : []),
      [
        `total ${exactTotals[i]!.total}`,
        `items ${exactTotals[i]!.cartItemTotal}`,
        `item costs ${exactTotals[i]!.cartItemAdditionalCostTotal}`,
        `costs ${exactTotals[i]!.additionalCostTotal}`,
        `revenue counted ${row.countedRevenue ?? '?'}`,
      ],
    ]),
  );
  return 0;
}
