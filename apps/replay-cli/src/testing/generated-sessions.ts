/**
 * Five-event sessions (create, add items, coupon, close, return) written straight through the client, for
 * suites and the benchmark that need many events quickly: the events the domain writes, with the metadata it
 * writes, and the session id the engine derives from the stream name (so an export of them imports).
 */
import { sessionIdFor, toEventToAppend, type EsdbClientAdapter } from '@session-engine/event-store';
import type { SessionEvent } from '@session-engine/session-domain';

export const EVENTS_PER_SESSION = 5;

/** Session `i`: application 1 or 2 (alternating), stream `session-{app}-bench-{i}`. */
export function generatedStream(i: number): string {
  return `session-${1 + (i % 2)}-bench-${i}`;
}

export function generatedSessionEvents(i: number): SessionEvent[] {
  const at = (k: number) => new Date(Date.UTC(2025, 0, 1 + (i % 28), 10, 0, k)).toISOString();
  const commandId = (k: number) => `cmd-${i}-${k}`;
  const sku = `sku-${i % 200}`;
  const profileId = `profile-${i % 2000}`;
  return [
    {
      type: 'SessionCreated',
      data: {
        at: at(0),
        commandId: commandId(0),
        sessionId: sessionIdFor(generatedStream(i)),
        applicationId: 1 + (i % 2),
        integrationId: `bench-${i}`,
        profileId,
        couponCodes: [],
        referralCode: '',
        loyaltyCards: [],
        identifiers: [],
        attributes: { channel: 'web' },
        additionalCosts: { shipping: { price: '4.90' } },
        cartItems: [{ sku, quantity: 2, price: '19.99' }],
        firstSession: i < 2000,
      },
    },
    {
      type: 'CartItemsAdded',
      data: {
        at: at(1),
        commandId: commandId(1),
        firstPosition: 1,
        cartItems: [{ sku: 'gift', quantity: 1, price: '0.10' }],
      },
    },
    { type: 'CouponCodesChanged', data: { at: at(2), commandId: commandId(2), couponCodes: ['SUMMER'] } },
    {
      type: 'SessionClosed',
      data: {
        at: at(3),
        commandId: commandId(3),
        profileId,
        total: '45.08',
        items: [
          { position: 0, sku, quantity: 2, value: '39.98' },
          { position: 1, sku: 'gift', quantity: 1, value: '0.1' },
        ],
      },
    },
    {
      type: 'CartItemsReturned',
      data: {
        at: at(4),
        commandId: commandId(4),
        returnId: i + 1,
        profileId,
        previousState: 'closed',
        returnedCartItems: [{ position: 0, sku, quantity: 1, value: '19.99' }],
        returnedValue: '19.99',
      },
    },
  ] as SessionEvent[];
}

/** Writes sessions `from … from + count - 1`, 32 appends at a time. */
export async function writeGeneratedSessions(
  client: EsdbClientAdapter,
  count: number,
  from = 0,
): Promise<void> {
  let next = from;
  const writer = async () => {
    while (next < from + count) {
      const i = next++;
      const events = generatedSessionEvents(i).map((e) =>
        toEventToAppend(e, { commandId: e.data.commandId, correlationId: e.data.commandId, actor: 'bench' }),
      );
      await client.appendToStream(generatedStream(i), events, 'no_stream');
    }
  };
  await Promise.all(Array.from({ length: 32 }, writer));
}
