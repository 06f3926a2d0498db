/**
 * Measures the V8 heap that folded sessions take, against `approximateSessionBytes`, in a process of its own
 * (a test worker's heap holds other suites' garbage): `node --expose-gc -r ./tools/register.js
 * libs/event-store/src/testing/session-heap.ts <lines>` prints `{"measured": bytes, "estimated": bytes}` per
 * session with that many cart lines.
 */
import { evolve, type SessionEvent, type SessionState } from '@session-engine/session-domain';
import { approximateSessionBytes } from '../session-size';

/** A created session as the event store hands it back: parsed from JSON, so every string is its own. */
export function createdSession(
  i: number,
  lines: number,
  attributes: Record<string, unknown> = {},
): SessionState {
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

function measure(lines: number): { measured: number; estimated: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  const count = Math.max(1000, Math.floor(100_000 / lines));
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept = Array.from({ length: count }, (_, i) => createdSession(i, lines));
  gc();
  const measured = (process.memoryUsage().heapUsed - before) / count;
  const estimated = kept.reduce((sum, state) => sum + approximateSessionBytes(state), 0) / count;
  return { measured, estimated };
}

if (require.main === module) {
  process.stdout.write(`${JSON.stringify(measure(Number(process.argv[2])))}\n`);
}
