import type { RecordedSessionEvent, StoredEvent } from '@session-engine/event-store';
import type { CartItemView } from '@session-engine/session-domain';
import type { AtTime } from '../at-time';
import { CliError } from '../cli-error';
import type { Connections } from '../connections';
import { formatValue, printFields, printJson, printTable, type CliIo } from '../io';
import { jsonText, printable, quoted } from '../printable';
import { readStoredEvent, SessionFold } from '../session-events';
import { readSessionStream } from './session-stream';

export interface StateOptions {
  application: number;
  atRevision?: number;
  at?: AtTime;
  json?: boolean;
}

/**
 * When the event at `revision` is not the last one its command wrote (a PUT that changed the coupons and the
 * referral code writes two events, one commandId), the revisions of that command: a state between them is one no
 * client ever saw. The commandId is compared as stored (no event after `revision` needs to be readable). `--at`
 * never cuts a command: its events share the command's time `at`.
 */
function midCommand(
  stored: readonly StoredEvent[],
  revision: number,
): { first: number; last: number; commandId: string } | undefined {
  const index = stored.findIndex((event) => Number(event.revision) === revision);
  const commandId = stored[index]?.data.commandId;
  const same = (i: number) => stored[i] !== undefined && stored[i].data.commandId === commandId;
  if (typeof commandId !== 'string' || !same(index + 1)) return undefined;
  let first = index;
  while (first > 0 && same(first - 1)) first--;
  let last = index + 1;
  while (same(last + 1)) last++;
  return { first: Number(stored[first].revision), last: Number(stored[last].revision), commandId };
}

/**
 * The session as it was after revision R, or at time T (the events whose time `at` — the time the
 * session's `updated` shows — is not later than T), folded by the domain's own `fold` and shaped by the
 * same `toCustomerSessionV2` the API's GET answers with. The instant `--at` named is printed in UTC: in the
 * table output, and on stderr with --json (whose stdout is exactly what GET returns, nothing more). Events
 * are read only as far as the state asked for: an event this CLI cannot read after that point does not
 * matter; one before it stops the command with a line naming it.
 */
export async function stateCommand(
  io: CliIo,
  connections: Connections,
  integrationId: string,
  options: StateOptions,
): Promise<number> {
  if (options.atRevision !== undefined && options.at !== undefined) {
    throw new CliError('Give --at-revision or --at, not both.');
  }
  const stream = await readSessionStream(connections, options.application, integrationId);
  const last = Number(stream.stored[stream.stored.length - 1].revision);
  if (options.atRevision !== undefined && options.atRevision > last) {
    throw new CliError(
      `Session ${quoted(integrationId)} has revisions 0..${last}; there is no revision ${options.atRevision}.`,
    );
  }
  const fold = new SessionFold(stream.name);
  let folded: RecordedSessionEvent | undefined;
  for (const stored of stream.events) {
    if (options.atRevision !== undefined && Number(stored.revision) > options.atRevision) break;
    // The time is compared as stored (every schema version has `at`), so an event this CLI cannot read after
    // the instant does not stop the command.
    if (options.at !== undefined && Date.parse(String(stored.data.at)) > options.at.epochMs) break;
    const recorded = readStoredEvent(stored);
    fold.apply(recorded);
    folded = recorded;
  }
  if (folded === undefined) {
    const first = stream.events[0]!;
    const at = printable(String(first.data.at));
    // Truncated (`$tb`): the stream no longer starts at revision 0. System events before the session's first
    // event are no truncation: the revisions before it are there, and hold no session yet.
    const truncated = stream.stored[0]!.revision > 0n;
    const start = truncated
      ? `its events start at revision ${stream.stored[0]!.revision}, ${at}: the stream was truncated`
      : `created ${at}${first.revision > 0n ? ` at revision ${first.revision}, after system events` : ''}`;
    throw new CliError(
      options.at !== undefined
        ? `Session ${quoted(integrationId)} did not exist yet at ${options.at.instant} (--at ${printable(options.at.input)}; ${start}).`
        : truncated
          ? `Session ${quoted(integrationId)} has no revision ${options.atRevision} any more (${start}).`
          : `Session ${quoted(integrationId)} did not exist yet at revision ${options.atRevision} (${start}).`,
    );
  }
  const state = fold.state!;
  const { session: customerSession, totals: exact } = fold.view(folded);
  const revision = Number(folded.revision);
  const partOf = midCommand(stream.stored, revision);
  if (partOf !== undefined)
    // On stderr with --json too: its stdout is exactly what GET returns, and GET never returned this state.
    io.stderr.write(
      `session-replay: warning: revision ${revision} is inside one command: revisions ${partOf.first}..${partOf.last} ` +
        `were written together by command ${quoted(partOf.commandId)} (one request), so no client ever saw the ` +
        `session at revision ${revision}; the state the command left is at revision ${partOf.last} ` +
        `(--at-revision ${partOf.last})\n`,
    );
  const instant =
    options.at === undefined
      ? undefined
      : `at ${options.at.instant} (--at ${printable(options.at.input)}${options.at.dateOnly ? ': a date, read as 00:00 UTC' : ''})`;
  if (options.json) {
    printJson(io, { customerSession });
    if (instant) io.stderr.write(`${printable(stream.name)} ${instant}: revision ${revision} of ${last}\n`);
    return 0;
  }
  // The stream name, times and every text of the session are the data's: escaped (printable.ts).
  io.stdout.write(
    `${printable(stream.name)} at revision ${revision} of ${last} (${printable(String(state.updated))})\n`,
  );
  if (instant) io.stdout.write(`state ${instant}: the events up to that instant\n`);
  const { cartItems, ...fields } = customerSession;
  // Money as the log holds it, exactly: GET's JSON numbers (and --json, which is GET's body) round amounts past
  // 15 to 17 significant digits (999999999999999.9 × 3 shows as 2999999999999999.5).
  printFields(
    io,
    Object.entries({
      ...fields,
      total: exact.total,
      cartItemTotal: exact.cartItemTotal,
      cartItemAdditionalCostTotal: exact.cartItemAdditionalCostTotal,
      additionalCostTotal: exact.additionalCostTotal,
    }),
  );
  if (cartItems.length > 0) {
    // The line's other fields, one per line of the cell, in a column shown only when some line has one.
    const details = cartItems.map(lineDetails);
    const withDetails = details.some((lines) => lines.length > 0);
    printTable(
      io,
      [
        'pos',
        'sku',
        'name',
        'qty',
        'returned',
        'remaining',
        'price',
        'item costs',
        ...(withDetails ? ['details'] : []),
      ],
      cartItems.map((item, index) => [
        item.position,
        formatValue(item.sku, Infinity),
        formatValue(item.name ?? '', Infinity),
        item.quantity,
        item.returnedQuantity,
        item.remainingQuantity,
        state.cartItems[item.position]?.price ?? '',
        item.additionalCosts ? jsonText(state.cartItems[item.position]?.additionalCosts) : '',
        ...(withDetails ? [details[index]!] : []),
      ]),
    );
  }
  return 0;
}

/** A cart line's fields the table has no column for: category, product, dimensions, attributes (cut at 60). */
function lineDetails(item: CartItemView): string[] {
  const lines: string[] = [];
  if (item.category !== undefined) lines.push(`category: ${formatValue(item.category)}`);
  if (item.product !== undefined) lines.push(`product: ${formatValue(item.product.name)}`);
  for (const dimension of ['weight', 'height', 'width', 'length'] as const)
    if (item[dimension] !== undefined) lines.push(`${dimension}: ${item[dimension]}`);
  if (item.attributes !== undefined && Object.keys(item.attributes).length > 0)
    lines.push(`attributes: ${formatValue(item.attributes)}`);
  return lines;
}
