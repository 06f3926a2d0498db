import type { ReadReq } from '@eventstore/db-client/generated/streams_pb';
import { BadRequest } from '../errors';
import { StoredEvent } from '../storage/types';

/** EventStoreDB's default search window when the client asks for `count` (checkpoint every 32 × multiplier). */
export const DEFAULT_MAX_SEARCH_WINDOW = 32;

export interface EventFilter {
  matches(e: StoredEvent): boolean;
  /** Events scanned between two checkpoints: max search window × checkpoint interval multiplier. */
  checkpointInterval: number;
}

export function parseFilter(options: ReadReq.Options): EventFilter | null {
  if (!options.hasFilter()) return null;
  const filter = options.getFilter() as ReadReq.Options.FilterOptions;
  const onStream = filter.hasStreamIdentifier();
  const expr = onStream ? filter.getStreamIdentifier() : filter.getEventType();
  if (!expr) throw new BadRequest('A filter needs a stream identifier or an event type expression');
  const prefixes = expr.getPrefixList();
  let regex: RegExp | null = null;
  if (expr.getRegex()) {
    try {
      regex = new RegExp(expr.getRegex());
    } catch {
      throw new BadRequest(`Invalid filter regex: ${expr.getRegex()}`);
    }
  }
  const window = filter.hasMax() && filter.getMax() > 0 ? filter.getMax() : DEFAULT_MAX_SEARCH_WINDOW;
  const multiplier = Math.max(1, filter.getCheckpointintervalmultiplier());
  const test = (value: string) =>
    (prefixes.length === 0 || prefixes.some((p) => value.startsWith(p))) && (!regex || regex.test(value));
  return {
    matches: onStream ? (e) => test(e.stream) : (e) => test(e.type),
    checkpointInterval: window * multiplier,
  };
}
