import type { SessionEditEventType, SessionEvent } from '@session-engine/session-domain';
import { add, sub, type Money, ZERO } from '../money';
import { parseSessionStream, type ProjectedEvent, utcDay } from '../projected-event';
import type { FlowProjection } from './flow-projection';
import { passesBy } from './passes-by';

/** One application's activity on one UTC day, by event date (SPEC §4). */
export interface DailyAnalyticsRow {
  applicationId: number;
  date: string;
  sessionsCreated: number;
  sessionsClosed: number;
  sessionsCancelled: number;
  sessionsReopened: number;
  itemsReturned: number;
  grossRevenue: Money;
  returnedValue: Money;
  reversedRevenue: Money;
  netRevenue: Money;
}

export interface DailyKey {
  applicationId: number;
  date: string;
}

export function emptyDailyRow(applicationId: number, date: string): DailyAnalyticsRow {
  return {
    applicationId,
    date,
    sessionsCreated: 0,
    sessionsClosed: 0,
    sessionsCancelled: 0,
    sessionsReopened: 0,
    itemsReturned: 0,
    grossRevenue: ZERO,
    returnedValue: ZERO,
    reversedRevenue: ZERO,
    netRevenue: ZERO,
  };
}

const COUNTED: ReadonlySet<SessionEvent['type']> = new Set([
  'SessionCreated',
  'SessionClosed',
  'SessionCancelled',
  'SessionReopened',
  'CartItemsReturned',
]);

function withNet(row: DailyAnalyticsRow): DailyAnalyticsRow {
  return { ...row, netRevenue: sub(row.grossRevenue, row.returnedValue, row.reversedRevenue) };
}

export function evolveDailyAnalytics(
  row: DailyAnalyticsRow | null,
  { event }: ProjectedEvent,
  key: DailyKey,
) {
  const current = row ?? emptyDailyRow(key.applicationId, key.date);
  switch (event.type) {
    case 'SessionCreated':
      return { ...current, sessionsCreated: current.sessionsCreated + 1 };
    case 'SessionClosed':
      return withNet({
        ...current,
        sessionsClosed: current.sessionsClosed + 1,
        grossRevenue: add(current.grossRevenue, event.data.total),
      });
    case 'SessionCancelled':
      return withNet({
        ...current,
        sessionsCancelled: current.sessionsCancelled + 1,
        reversedRevenue: add(current.reversedRevenue, event.data.reversedRevenue),
      });
    case 'SessionReopened':
      return withNet({
        ...current,
        sessionsReopened: current.sessionsReopened + 1,
        reversedRevenue: add(current.reversedRevenue, event.data.reversedRevenue),
      });
    case 'CartItemsReturned':
      return withNet({
        ...current,
        itemsReturned: event.data.returnedCartItems.reduce(
          (n, line) => n + line.quantity,
          current.itemsReturned,
        ),
        returnedValue: add(current.returnedValue, event.data.returnedValue),
      });
    default:
      passesBy<SessionEditEventType | 'ProfileChanged'>(event.type);
      return current;
  }
}

export const dailyAnalyticsProjection: FlowProjection<DailyKey, DailyAnalyticsRow> = {
  keysOf: (projected) =>
    COUNTED.has(projected.event.type)
      ? [
          {
            applicationId: parseSessionStream(projected.streamId).applicationId,
            date: utcDay(projected.event.data.at),
          },
        ]
      : [],
  keyId: (key) => `${key.applicationId}|${key.date}`,
  evolve: evolveDailyAnalytics,
};
