import type { CountedLine, SessionEditEventType } from '@session-engine/session-domain';
import { add, type Money, sub, ZERO } from '../money';
import { parseSessionStream, type ProjectedEvent, utcDay } from '../projected-event';
import type { FlowProjection } from './flow-projection';
import { passesBy } from './passes-by';

/** One SKU of one application on one UTC day; range queries add the days up. */
export interface SkuAnalyticsRow {
  applicationId: number;
  sku: string;
  date: string;
  quantitySold: number;
  quantityReturned: number;
  revenue: Money;
}

export interface SkuKey {
  applicationId: number;
  sku: string;
  date: string;
}

interface SkuFlow {
  sold: number;
  returned: number;
  revenue: Money;
}

const flowCache = new WeakMap<ProjectedEvent['event'], Map<string, SkuFlow>>();

/** What the event does to each SKU it names: lines of the same SKU are added together. */
function flowsOf({ event }: ProjectedEvent): Map<string, SkuFlow> {
  const cached = flowCache.get(event);
  if (cached) return cached;
  const flows = new Map<string, SkuFlow>();
  const addLines = (lines: CountedLine[], sign: 1 | -1, kind: 'sold' | 'returned') => {
    for (const line of lines) {
      const flow = flows.get(line.sku) ?? { sold: 0, returned: 0, revenue: ZERO };
      if (kind === 'sold') flow.sold += sign * line.quantity;
      else flow.returned += line.quantity;
      flow.revenue = sign > 0 ? add(flow.revenue, line.value) : sub(flow.revenue, line.value);
      flows.set(line.sku, flow);
    }
  };
  switch (event.type) {
    case 'SessionClosed':
      addLines(event.data.items, 1, 'sold');
      break;
    case 'SessionCancelled':
    case 'SessionReopened':
      addLines(event.data.reversedItems, -1, 'sold');
      break;
    case 'CartItemsReturned':
      addLines(event.data.returnedCartItems, -1, 'returned');
      break;
    default:
      passesBy<SessionEditEventType | 'SessionCreated' | 'ProfileChanged'>(event.type);
      break;
  }
  flowCache.set(event, flows);
  return flows;
}

export function evolveSkuAnalytics(row: SkuAnalyticsRow | null, projected: ProjectedEvent, key: SkuKey) {
  const current = row ?? { ...key, quantitySold: 0, quantityReturned: 0, revenue: ZERO };
  const flow = flowsOf(projected).get(key.sku);
  if (!flow) return current;
  return {
    ...current,
    quantitySold: current.quantitySold + flow.sold,
    quantityReturned: current.quantityReturned + flow.returned,
    revenue: add(current.revenue, flow.revenue),
  };
}

export const skuAnalyticsProjection: FlowProjection<SkuKey, SkuAnalyticsRow> = {
  keysOf: (projected) => {
    const skus = [...flowsOf(projected).keys()];
    if (skus.length === 0) return [];
    const applicationId = parseSessionStream(projected.streamId).applicationId;
    const date = utcDay(projected.event.data.at);
    return skus.map((sku) => ({ applicationId, sku, date }));
  },
  keyId: (key) => `${key.applicationId}|${key.date}|${key.sku}`,
  evolve: evolveSkuAnalytics,
};
