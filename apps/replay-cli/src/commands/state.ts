import { fold, toCustomerSessionV2 } from '@session-engine/session-domain';
import { CliError } from '../cli-error';
import type { Connections } from '../connections';
import { printFields, printJson, printTable, type CliIo } from '../io';
import { readSessionStream } from './session-stream';

export interface StateOptions {
  application: number;
  atRevision?: number;
  at?: string;
  json?: boolean;
}

/**
 * The session as it was after revision R, or at time T (the events whose time `at` — the time the
 * session's `updated` shows — is not later than T), folded by the domain's own `fold` and shaped by the
 * same `toCustomerSessionV2` the API's GET answers with.
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
    const at = Date.parse(options.at);
    const cut = events.findIndex((e) => Date.parse(e.event.data.at) > at);
    events = cut === -1 ? events : events.slice(0, cut);
    if (events.length === 0) {
      throw new CliError(
        `Session "${integrationId}" did not exist yet at ${options.at} (created ${stream.recorded[0].event.data.at}).`,
      );
    }
  }
  const state = fold(events.map((e) => e.event))!;
  const customerSession = toCustomerSessionV2(state);
  if (options.json) {
    printJson(io, { customerSession });
    return 0;
  }
  const revision = Number(events[events.length - 1].revision);
  io.stdout.write(`${stream.name} at revision ${revision} of ${last} (${state.updated})\n`);
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
