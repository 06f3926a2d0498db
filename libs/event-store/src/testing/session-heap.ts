/**
 * Measures the V8 heap that folded sessions take, against `approximateSessionBytes`, in a process of its own
 * (a test worker's heap holds other suites' garbage): `node --expose-gc -r ./tools/register.js
 * libs/event-store/src/testing/session-heap.ts <lines> [<keyed>]` prints `{"measured": bytes, "estimated": bytes}`
 * per cached session with that many cart lines and keyed commands.
 */
import { evolve, type SessionEvent, type SessionState } from '@session-engine/session-domain';
import { createHash, randomUUID } from 'node:crypto';
import { AppliedCommands } from '../applied-commands';
import { approximateSessionBytes } from '../session-size';
import { StateCache } from '../state-cache';

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

/**
 * What the command handler's cache holds per session: the folded state and its index of `keyed` commands, as a
 * `StateCache` entry under the stream's name (the entry, the Map's slot and the key count too).
 */
function measure(lines: number, keyed: number): { measured: number; estimated: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  const count = Math.max(1000, Math.floor(100_000 / (lines + keyed)));
  const now = Date.now();
  const hex = (seed: string) => createHash('sha256').update(seed).digest('hex');
  gc();
  const before = process.memoryUsage().heapUsed;
  const cache = new StateCache<{ state: SessionState; applied: AppliedCommands }>(Number.MAX_SAFE_INTEGER);
  for (let i = 0; i < count; i++) {
    const applied = new AppliedCommands(24 * 3600 * 1000);
    for (let k = 0; k < keyed; k++) {
      applied.remember(
        hex(`token-${i}-${k}`),
        {
          requestHash: hex(`request-${i}-${k}`),
          commandId: randomUUID(),
          firstRevision: BigInt(k + 1),
          revision: BigInt(k + 1),
          position: BigInt(1_000_000 + i * 100 + k),
          writtenAt: now,
        },
        now,
      );
    }
    cache.set(`session-1-checkout-${i}-0001`, {
      revision: BigInt(keyed),
      state: { state: createdSession(i, lines), applied },
    });
  }
  gc();
  const measured = (process.memoryUsage().heapUsed - before) / count;
  let estimated = 0;
  for (let i = 0; i < count; i++) {
    const cached = cache.get(`session-1-checkout-${i}-0001`)!.state;
    estimated += approximateSessionBytes(cached.state, cached.applied.size);
  }
  return { measured, estimated: estimated / count };
}

if (require.main === module) {
  process.stdout.write(`${JSON.stringify(measure(Number(process.argv[2]), Number(process.argv[3] ?? 0)))}\n`);
}
