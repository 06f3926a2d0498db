/**
 * evolve: how each event changes the session. Pure and total over well-formed histories; it never
 * reads a clock — `created` is the first event's `at`, `updated` the latest one's.
 */
import type { CartItemData, SessionEvent } from './events';
import type { CartLine, SessionState } from './state';

function lines(items: CartItemData[], firstPosition: number): CartLine[] {
  return items.map((item, i) => ({ ...item, position: firstPosition + i, returnedQuantity: 0 }));
}

export function evolve(state: SessionState | null, event: SessionEvent): SessionState {
  if (event.type === 'SessionCreated') {
    if (state !== null) throw new Error(`SessionCreated on the existing session ${state.integrationId}`);
    const { data } = event;
    const created: SessionState = {
      id: data.sessionId,
      applicationId: data.applicationId,
      integrationId: data.integrationId,
      created: data.at,
      updated: data.at,
      profileId: data.profileId,
      couponCodes: data.couponCodes,
      referralCode: data.referralCode,
      loyaltyCards: data.loyaltyCards,
      identifiers: data.identifiers,
      state: 'open',
      cartItems: lines(data.cartItems, 0),
      additionalCosts: data.additionalCosts,
      attributes: data.attributes,
      firstSession: data.firstSession,
      updateCount: 1,
      lastCommandId: data.commandId,
      returns: [],
    };
    if (data.storeIntegrationId !== undefined) created.storeIntegrationId = data.storeIntegrationId;
    return created;
  }
  if (state === null) throw new Error(`${event.type} before SessionCreated`);

  const next: SessionState = {
    ...state,
    updated: event.data.at,
    // One accepted request = one commandId, however many events it appended.
    updateCount: event.data.commandId === state.lastCommandId ? state.updateCount : state.updateCount + 1,
    lastCommandId: event.data.commandId,
  };
  switch (event.type) {
    case 'ProfileChanged':
      return { ...next, profileId: event.data.profileId, firstSession: event.data.firstSession };
    case 'StoreChanged':
      return { ...next, storeIntegrationId: event.data.storeIntegrationId };
    case 'CouponCodesChanged':
      return { ...next, couponCodes: event.data.couponCodes };
    case 'ReferralCodeChanged':
      return { ...next, referralCode: event.data.referralCode };
    case 'LoyaltyCardsChanged':
      return { ...next, loyaltyCards: event.data.loyaltyCards };
    case 'IdentifiersChanged':
      return { ...next, identifiers: event.data.identifiers };
    case 'AttributesChanged':
      return { ...next, attributes: event.data.attributes };
    case 'AdditionalCostsChanged':
      return { ...next, additionalCosts: event.data.additionalCosts };
    case 'CartItemsReplaced':
      return { ...next, cartItems: lines(event.data.cartItems, 0) };
    case 'CartItemsAdded':
      return {
        ...next,
        cartItems: [...state.cartItems, ...lines(event.data.cartItems, event.data.firstPosition)],
      };
    case 'SessionClosed':
      return { ...next, state: 'closed' };
    case 'SessionCancelled':
      return { ...next, state: 'cancelled' };
    case 'SessionReopened':
      return { ...next, state: 'open' };
    case 'CartItemsReturned': {
      const cartItems = state.cartItems.map((line) => ({ ...line }));
      for (const returned of event.data.returnedCartItems) {
        cartItems[returned.position].returnedQuantity += returned.quantity;
      }
      return {
        ...next,
        state: 'partially_returned',
        cartItems,
        returns: [
          ...state.returns,
          {
            id: event.data.returnId,
            created: event.data.at,
            applicationId: state.applicationId,
            sessionId: state.id,
            sessionIntegrationId: state.integrationId,
            profileIntegrationId: state.profileId,
            returnedCartItems: event.data.returnedCartItems.map(({ position, sku, quantity }) => ({
              position,
              sku,
              quantity,
            })),
          },
        ],
      };
    }
    default:
      return assertNever(event);
  }
}

export function assertNever(value: never): never {
  throw new Error(`Unexpected ${JSON.stringify(value)}`);
}

/** Folds events onto a state (by default the empty one); the same events always give the same state. */
export function fold(
  events: readonly SessionEvent[],
  state: SessionState | null = null,
): SessionState | null {
  return events.reduce<SessionState | null>(evolve, state);
}
