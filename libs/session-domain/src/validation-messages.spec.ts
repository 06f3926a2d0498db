/**
 * What the domain's field checks say: a predicate about the value at the pointer ("must be …", marked
 * `predicate`, so the API names the field before it), and for an integer beyond Number.MAX_SAFE_INTEGER that
 * it is beyond the safe integers — not "must be an integer ≥ 1", which such a number is.
 */
import { DeciderSpecification } from '@session-engine/testing';
import type { SessionCommand } from './commands';
import { decide } from './decide';
import { DomainError } from './errors';
import type { SessionEvent } from './events';
import { evolve } from './evolve';
import { addItems, HISTORIES, returnItems, update } from './spec-fixtures';
import type { SessionState } from './state';

const spec = DeciderSpecification.for<SessionCommand, SessionEvent, SessionState | null>({
  decide,
  evolve,
  initialState: () => null,
});

const SAFE = `must be at most ${Number.MAX_SAFE_INTEGER} (the largest safe integer: larger ones lose precision in JSON)`;

/** The refusal of `command` on `events`, as the API gets it. */
function refusal(command: SessionCommand, events: SessionEvent[] = []): DomainError {
  const state = events.reduce<SessionState | null>(evolve, null);
  try {
    decide(command, state);
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('accepted');
}

describe('integers beyond Number.MAX_SAFE_INTEGER', () => {
  it.each([
    [
      'a cart item quantity (PUT)',
      update({ cartItems: [{ sku: 'a', quantity: 2 ** 53 }] }),
      '/cartItems/0/quantity',
    ],
    ['a cart item quantity (cart_items)', addItems([{ sku: 'a', quantity: 1e300 }]), '/cartItems/0/quantity'],
    ['an evaluable campaign id', update({ evaluableCampaignIds: [2 ** 53 + 2] }), '/evaluableCampaignIds/0'],
  ])('%s is refused as beyond the safe integers', (_name, command, pointer) =>
    spec.given(HISTORIES.open()).when(command).thenThrows('INVALID_FIELD', { pointer, message: SAFE }),
  );

  it.each([
    ['position', { position: 1e300 }, '/returnedCartItems/0/position'],
    [
      'quantity',
      { position: 0, quantity: JSON.parse('9007199254740993') as number },
      '/returnedCartItems/0/quantity',
    ],
  ])('a return entry %s is refused as beyond the safe integers', (_name, entry, pointer) =>
    spec
      .given(HISTORIES.closed())
      .when(returnItems([entry]))
      .thenThrows('INVALID_FIELD', { pointer, message: SAFE }),
  );

  it('keeps "must be an integer ≥ n" for what is no integer or below n, and accepts the largest safe integer', () => {
    expect(refusal(addItems([{ sku: 'a', quantity: 0 }]), HISTORIES.open()).message).toBe(
      'must be an integer ≥ 1',
    );
    expect(refusal(addItems([{ sku: 'a', quantity: 1.5 }]), HISTORIES.open()).message).toBe(
      'must be an integer ≥ 1',
    );
    expect(refusal(returnItems([{ position: -1 }]), HISTORIES.closed()).message).toBe(
      'must be an integer ≥ 0',
    );
    spec
      .given(HISTORIES.open())
      .when(update({ evaluableCampaignIds: [Number.MAX_SAFE_INTEGER] }))
      .thenEvents(() => undefined);
  });
});

describe('field refusals are predicates the caller names the field of', () => {
  it.each([
    [
      'a price over the limit',
      update({ cartItems: [{ sku: 'a', quantity: 1, price: 1e16 }] }),
      'must be at most 1000000000000000',
    ],
    ['a NUL in profileId', update({ profileId: 'a\u0000' }), 'must not contain the NUL character (U+0000)'],
    [
      'quantities over 10,000',
      update({
        cartItems: [
          { sku: 'a', quantity: 6000 },
          { sku: 'b', quantity: 6000 },
        ],
      }),
      'must have quantities adding up to at most 10000 per request',
    ],
    [
      'a state a session cannot be created in',
      update({ state: 'cancelled' }),
      'must be open or closed when the session is created',
    ],
  ])('%s', (_name, command, message) => {
    const error = refusal(command);
    expect({ message: error.message, predicate: error.predicate }).toEqual({ message, predicate: true });
  });

  it('whole sentences are not marked', () => {
    expect(refusal(returnItems([{ position: 9 }]), HISTORIES.closed()).predicate).toBe(false);
    expect(refusal(addItems([{ sku: 'a', quantity: 1 }])).predicate).toBe(false);
  });
});
