import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { evolve, type SessionEvent, type SessionState } from '@session-engine/session-domain';
import { approximateSessionBytes } from './session-size';

/** A created session as the event store hands it back: parsed from JSON, so every string is its own. */
function session(i: number, lines: number, attributes: Record<string, unknown> = {}): SessionState {
  const event = {
    type: 'SessionCreated',
    data: {
      sessionId: 1000 + i,
      applicationId: 1,
      integrationId: `checkout-${i}-0001`,
      at: '2024-05-01T10:00:00.000Z',
      profileId: `profile-${i}`,
      couponCodes: ['SUMMER10'],
      referralCode: '',
      loyaltyCards: [],
      identifiers: [],
      cartItems: Array.from({ length: lines }, (_, k) => ({
        sku: `SKU-${k}`,
        quantity: 1 + (k % 3),
        price: `${19 + k}.99`,
      })),
      additionalCosts: { shipping: { price: '4.99' } },
      attributes,
      firstSession: false,
      commandId: `cmd-${i}`,
    },
  };
  return evolve(null, JSON.parse(JSON.stringify(event)) as SessionEvent);
}

describe('approximateSessionBytes', () => {
  it('grows with the cart lines, the keyed commands and the attributes', () => {
    const small = approximateSessionBytes(session(1, 3));
    expect(approximateSessionBytes(session(1, 20))).toBeGreaterThan(small + 17 * 300);
    expect(approximateSessionBytes(session(1, 3), 10)).toBe(small + 10 * 160);
    const attributes = { note: 'x'.repeat(60_000) };
    expect(approximateSessionBytes(session(1, 3, attributes))).toBeGreaterThan(small + 120_000);
  });

  it('counts a line once it has been returned (a copied line is weighed again)', () => {
    const state = session(1, 2);
    const returned = evolve(state, {
      type: 'CartItemsReturned',
      data: {
        at: '2024-05-01T10:01:00.000Z',
        commandId: 'cmd-return',
        returnId: 1,
        profileId: state.profileId,
        previousState: 'closed',
        returnedCartItems: [{ position: 0, sku: 'SKU-0', quantity: 1, value: '19.99' }],
        returnedValue: '19.99',
      },
    } as SessionEvent);
    expect(approximateSessionBytes(returned)).toBeGreaterThan(approximateSessionBytes(state));
  });

  // The budget means memory only if the estimate follows what V8 really spends: within a factor of two of the
  // measured heap growth, on the heavy side for typical carts.
  it.each([3, 20, 200])('stays within 1× to 2× of the measured heap of sessions with %i lines', (lines) => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const count = Math.max(200, Math.floor(20_000 / lines));
    gc();
    const before = process.memoryUsage().heapUsed;
    const kept = Array.from({ length: count }, (_, i) => session(i, lines));
    gc();
    const measured = (process.memoryUsage().heapUsed - before) / count;
    const estimated = kept.reduce((sum, state) => sum + approximateSessionBytes(state), 0) / count;
    expect(estimated / measured).toBeGreaterThanOrEqual(1);
    expect(estimated / measured).toBeLessThanOrEqual(2);
  });
});
