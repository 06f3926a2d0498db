import type { CartItemInput, SessionCommand } from './commands';
import { checkInput, decide } from './decide';
import { DomainError } from './errors';
import { fold } from './evolve';
import { addItems, cancel, close, HISTORIES, reopen, returnItems, update } from './spec-fixtures';
import type { SessionState } from './state';

/** What a call threw, as the API answers it: code, category and pointer; `undefined` when it returned. */
function refusal(call: () => unknown): { code: string; category: string; pointer?: string } | undefined {
  try {
    call();
    return undefined;
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    return { code: error.code, category: error.category, pointer: error.pointer };
  }
}

const items = (count: number, quantity = 1): CartItemInput[] =>
  Array.from({ length: count }, (_, i) => ({ sku: `SKU-${i}`, quantity }));

const SESSIONS: [string, SessionState | null][] = [
  ['no session', null],
  ...Object.entries(HISTORIES).map(([name, history]): [string, SessionState | null] => [
    name,
    fold(history()),
  ]),
];

describe('checkInput: the checks of a command’s own input, which decide makes first', () => {
  const bad: [string, SessionCommand][] = [
    ['a PUT of 1,001 cart items', update({ cartItems: items(1001) })],
    [
      'a PUT whose quantities add up to 10,001',
      update({ cartItems: [...items(10, 1000), { sku: 'X', quantity: 1 }] }),
    ],
    ['a PUT with a negative price', update({ cartItems: [{ sku: 'A', quantity: 1, price: -1 }] })],
    ['a PUT with an empty coupon code', update({ couponCodes: [''] })],
    ['AddCartItems of 1,001 items', addItems(items(1001))],
    ['AddCartItems of a quantity of 10,001', addItems([{ sku: 'X', quantity: 10_001 }])],
    ['AddCartItems with a price above 1e15', addItems([{ sku: 'X', quantity: 1, price: 1e15 + 2 }])],
    ['a return of quantity 0', returnItems([{ position: 0, quantity: 0 }])],
    ['a return of 1,001 entries', returnItems(Array.from({ length: 1001 }, () => ({ position: 0 })))],
    ['a command with an empty integrationId', { ...close(), integrationId: '' }],
  ];

  describe.each(SESSIONS)('given %s', (_, state) => {
    it.each(bad)('when %s: refuses it with the 400 decide gives, at the same pointer', (_name, command) => {
      const checked = refusal(() => checkInput(command, state));
      expect(checked).toMatchObject({ category: 'invalid' });
      expect(checked).toEqual(refusal(() => decide(command, state)));
    });

    const good: [string, SessionCommand][] = [
      ['a PUT of a cart', update({ cartItems: items(3), couponCodes: ['SUMMER'] })],
      ['AddCartItems', addItems(items(2))],
      ['a return of position 7, which no cart here has', returnItems([{ position: 7, quantity: 1 }])],
      ['close', close()],
      ['cancel', cancel()],
      ['reopen', reopen()],
    ];
    it.each(good)('when %s: lets it through, whatever decide then says of the session', (_name, command) => {
      expect(refusal(() => checkInput(command, state))).toBeUndefined();
    });
  });

  it('tells a create from an update: a new session cannot start cancelled, an open one can be cancelled', () => {
    const cancelled = update({ state: 'cancelled' });
    expect(refusal(() => checkInput(cancelled, null))).toMatchObject({
      code: 'INVALID_FIELD',
      pointer: '/state',
    });
    expect(refusal(() => checkInput(cancelled, fold(HISTORIES.open())))).toBeUndefined();
  });
});
