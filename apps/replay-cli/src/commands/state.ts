import { fold, toCustomerSessionV2 } from '@session-engine/session-domain';
import type { AtTime } from '../at-time';
import { CliError } from '../cli-error';
import type { Connections } from '../connections';
import { printFields, printJson, printTable, type CliIo } from '../io';
import { readSessionStream } from './session-stream';

export interface StateOptions {
  application: number;
  atRevision?: number;
  at?: AtTime;
  json?: boolean;
}

/**
 * The session as it was after revision R, or at time T (the events whose time `at` — the time the
 * session's `updated` shows — is not later than T), folded by the domain's own `fold` and shaped by the
 * same `toCustomerSessionV2` the API's GET answers with. The instant `--at` named is printed in UTC: in the
 * table output, and on stderr with --json (whose stdout is exactly what GET returns, nothing more).
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
  let events = stream.recorded;
  const last = Number(events[events.length - 1].revision);
  if (options.atRevision !== undefined) {
    if (options.atRevision > last) {
      throw new CliError(
        `Session "${integrationId}" has revisions 0..${last}; there is no revision ${options.atRevision}.`,
      );
    }
    events = events.filter((e) => Number(e.revision) <= options.atRevision!);
  } else if (options.at !== undefined) {
    const at = options.at.epochMs;
    const cut = events.findIndex((e) => Date.parse(e.event.data.at) > at);
    events = cut === -1 ? events : events.slice(0, cut);
    if (events.length === 0) {
      throw new CliError(
        `Session "${integrationId}" did not exist yet at ${options.at.instant} (--at ${options.at.input}; created ${stream.recorded[0].event.data.at}).`,
      );
    }
  }
  const state = fold(events.map((e) => e.event))!;
  const customerSession = toCustomerSessionV2(state);
  const revision = Number(events[events.length - 1].revision);
  const instant =
    options.at === undefined
      ? undefined
      : `at ${options.at.instant} (--at ${options.at.input}${options.at.dateOnly ? ': a date, read as 00:00 UTC' : ''})`;
  if (options.json) {
    printJson(io, { customerSession });
    if (instant) io.stderr.write(`${stream.name} ${instant}: revision ${revision} of ${last}\n`);
    return 0;
  }
  io.stdout.write(`${stream.name} at revision ${revision} of ${last} (${state.updated})\n`);
  if (instant) io.stdout.write(`state ${instant}: the events up to that instant\n`);
  const { cartItems, ...fields } = customerSession;
  printFields(io, Object.entries(fields));
  if (cartItems.length > 0) {
    printTable(
      io,
      ['pos', 'sku', 'name', 'qty', 'returned', 'remaining', 'price', 'item costs'],
      cartItems.map((item) => [
        item.position,
        item.sku,
        item.name ?? '',
        item.quantity,
        item.returnedQuantity,
        item.remainingQuantity,
        item.price ?? '',
        item.additionalCosts ? JSON.stringify(item.additionalCosts) : '',
      ]),
    );
  }
  return 0;
}
