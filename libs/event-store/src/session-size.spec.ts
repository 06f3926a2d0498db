import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { evolve, type SessionEvent } from '@session-engine/session-domain';
import { approximateSessionBytes } from './session-size';
import { createdSession as session } from './testing/session-heap';

describe('approximateSessionBytes', () => {
  it('grows with the cart lines, the keyed commands and the attributes', () => {
    const small = approximateSessionBytes(session(1, 3));
    expect(approximateSessionBytes(session(1, 20))).toBeGreaterThan(small + 17 * 300);
    expect(approximateSessionBytes(session(1, 3), 10)).toBe(small + 10 * 900);
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

  // The budget means memory only if the estimate follows what V8 really spends: within 1× to 2× of the heap
  // measured (in a fresh process, see testing/session-heap.ts) for a whole cache entry, on the heavy side.
  it.each([
    [3, 0],
    [20, 0],
    [200, 0],
    [3, 10],
    [3, 100],
  ])(
    'stays within 1× to 2× of the measured heap of cached sessions with %i lines and %i keyed commands',
    (lines, keyed) => {
      const root = path.resolve(__dirname, '../../..');
      const output = execFileSync(
        process.execPath,
        [
          '--expose-gc',
          '-r',
          './tools/register.js',
          'libs/event-store/src/testing/session-heap.ts',
          String(lines),
          String(keyed),
        ],
        { cwd: root, encoding: 'utf8' },
      );
      const { measured, estimated } = JSON.parse(output) as { measured: number; estimated: number };
      expect(estimated / measured).toBeGreaterThanOrEqual(1);
      expect(estimated / measured).toBeLessThanOrEqual(2);
    },
  );
});
