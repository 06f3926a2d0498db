import type { CartItemData, CountedLine, SessionEvent } from '@session-engine/session-domain';
import { createdData } from '@session-engine/session-domain/spec-fixtures';
import type { ProjectedEvent, ProjectedTombstone } from '../projected-event';

let globalPosition = 0n;

type DataOf<T extends SessionEvent['type']> = Omit<
  Extract<SessionEvent, { type: T }>['data'],
  'at' | 'commandId'
>;

/**
 * Writes a session's history the way the domain would, for projection specs and the system tests:
 * every call appends one event with the next revision and a growing commit position.
 */
export class SessionHistory {
  readonly events: ProjectedEvent[] = [];
  private commands = 0;

  constructor(
    readonly applicationId: number,
    readonly integrationId: string,
    readonly sessionId: number,
  ) {}

  get streamId(): string {
    return `session-${this.applicationId}-${this.integrationId}`;
  }

  private push<T extends SessionEvent['type']>(type: T, at: string, data: DataOf<T>): this {
    this.commands += 1;
    const event = {
      type,
      data: { at, commandId: `cmd-${this.sessionId}-${this.commands}`, ...data },
    } as unknown as SessionEvent;
    globalPosition += 1n;
    this.events.push({
      streamId: this.streamId,
      revision: this.events.length,
      position: globalPosition,
      event,
    });
    return this;
  }

  /** The stream tombstoned (an erasure): its `$streamDeleted`, at the next commit position (not in `events`). */
  tombstone(): ProjectedTombstone {
    globalPosition += 1n;
    return { kind: 'tombstone', streamId: this.streamId, position: globalPosition };
  }

  created(at: string, options: Partial<DataOf<'SessionCreated'>> = {}): this {
    return this.push(
      'SessionCreated',
      at,
      createdData(
        { sessionId: this.sessionId, applicationId: this.applicationId, integrationId: this.integrationId },
        options,
      ),
    );
  }

  cartAdded(at: string, firstPosition: number, cartItems: CartItemData[]): this {
    return this.push('CartItemsAdded', at, { firstPosition, cartItems });
  }

  profileChanged(at: string, previousProfileId: string, profileId: string, firstSession: boolean): this {
    return this.push('ProfileChanged', at, { previousProfileId, profileId, firstSession });
  }

  couponsChanged(at: string, couponCodes: string[]): this {
    return this.push('CouponCodesChanged', at, { couponCodes });
  }

  closed(at: string, profileId: string, total: string, items: CountedLine[]): this {
    return this.push('SessionClosed', at, { profileId, total, items });
  }

  cancelled(
    at: string,
    profileId: string,
    previousState: 'open' | 'closed' | 'partially_returned',
    reversedRevenue = '0',
    reversedItems: CountedLine[] = [],
  ): this {
    return this.push('SessionCancelled', at, { profileId, previousState, reversedRevenue, reversedItems });
  }

  reopened(at: string, profileId: string, reversedRevenue: string, reversedItems: CountedLine[]): this {
    return this.push('SessionReopened', at, { profileId, reversedRevenue, reversedItems });
  }

  returned(
    at: string,
    profileId: string,
    previousState: 'closed' | 'partially_returned',
    returnedCartItems: CountedLine[],
    returnedValue: string,
  ): this {
    return this.push('CartItemsReturned', at, {
      returnId: this.events.length + 1000 * this.sessionId,
      profileId,
      previousState,
      returnedCartItems,
      returnedValue,
    });
  }
}

/** Interleaves histories by commit position, as `$all` delivers them. */
export function inLogOrder(...histories: SessionHistory[]): ProjectedEvent[] {
  return histories.flatMap((h) => h.events).sort((a, b) => (a.position < b.position ? -1 : 1));
}

/** A cart line as the events carry it (`CartItemsAdded` v2: counted value per line). */
export const line = (position: number, sku: string, quantity: number, value: string) => ({
  position,
  sku,
  quantity,
  value,
});

/** A cart item as the events carry it (money as a decimal string). */
export const item = (sku: string, quantity: number, price: string) => ({ sku, quantity, price });
