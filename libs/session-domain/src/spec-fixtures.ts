/**
 * Builders for the decider's specs: commands with sensible defaults and histories produced by the
 * decider itself (so a `given` is always a history the domain could really have written).
 */
import type {
  AddCartItems,
  CancelSession,
  CartItemInput,
  CloseSession,
  ReopenSession,
  ReturnedCartItemInput,
  ReturnItems,
  SessionCommand,
  SessionPatch,
  UpdateSession,
} from './commands';
import { decide } from './decide';
import type { SessionCreated, SessionEvent } from './events';
import { evolve, fold } from './evolve';
import type { SessionState } from './state';

export const APPLICATION_ID = 1;
export const INTEGRATION_ID = 'checkout-42';
export const SESSION_ID = 1001;

/**
 * What a `SessionCreated` holds when nothing but the session's ids is set (an empty create), `overrides` on top:
 * for specs that write events themselves (`at` and `commandId` are theirs to add).
 */
export function createdData(
  ids: Pick<SessionCreated['data'], 'sessionId' | 'applicationId' | 'integrationId'>,
  overrides: Partial<SessionCreated['data']> = {},
): Omit<SessionCreated['data'], 'at' | 'commandId'> {
  return {
    ...ids,
    profileId: '',
    couponCodes: [],
    referralCode: '',
    loyaltyCards: [],
    identifiers: [],
    attributes: {},
    additionalCosts: {},
    cartItems: [],
    firstSession: true,
    ...overrides,
  };
}

/** Time of the n-th command of a history (n < 60). */
export function at(n: number): string {
  return `2024-05-01T10:${String(n).padStart(2, '0')}:00.000Z`;
}

function base(n: number) {
  return { applicationId: APPLICATION_ID, integrationId: INTEGRATION_ID, now: at(n), commandId: `cmd-${n}` };
}

/** The n of the command under test, after any history. */
export const WHEN = 50;

export function update(patch: SessionPatch = {}, n = WHEN, firstSession?: boolean): UpdateSession {
  const command: UpdateSession = { type: 'UpdateSession', ...base(n), sessionId: SESSION_ID, patch };
  if (firstSession !== undefined) command.firstSession = firstSession;
  return command;
}
export function addItems(cartItems: CartItemInput[], n = WHEN): AddCartItems {
  return { type: 'AddCartItems', ...base(n), cartItems };
}
export function close(n = WHEN): CloseSession {
  return { type: 'CloseSession', ...base(n) };
}
export function cancel(n = WHEN): CancelSession {
  return { type: 'CancelSession', ...base(n) };
}
export function reopen(n = WHEN): ReopenSession {
  return { type: 'ReopenSession', ...base(n) };
}
export function returnItems(
  returnedCartItems: ReturnedCartItemInput[],
  n = WHEN,
  returnId = 500 + n,
): ReturnItems {
  return { type: 'ReturnItems', ...base(n), returnId, returnedCartItems };
}

/** Re-stamps the commands as the 1st, 2nd… of a history and returns every event they append. */
export function history(...commands: SessionCommand[]): SessionEvent[] {
  return extend([], ...commands);
}

/** The history `events` continued by `commands` (stamped after the events' own times). */
export function extend(events: SessionEvent[], ...commands: SessionCommand[]): SessionEvent[] {
  const all = [...events];
  let state = fold(events);
  commands.forEach((command, i) => {
    const n = events.length + i + 1;
    const emitted = decide({ ...command, now: at(n), commandId: `cmd-${n}` }, state);
    all.push(...emitted);
    state = emitted.reduce<SessionState | null>(evolve, state);
  });
  return all;
}

export function stateOf(events: SessionEvent[]): SessionState {
  const state = fold(events);
  if (state === null) throw new Error('no session');
  return state;
}

export const CART: CartItemInput[] = [
  { sku: 'SHOE-1', quantity: 2, price: 49.9, name: 'Running shoe' },
  { sku: 'SOCK-3', quantity: 3, price: 4.99 },
];

const creation = () => update({ cartItems: CART, profileId: 'alice' }, 1, true);

/** Histories of a session with the CART (total 114.77) in each of the four states. */
export const HISTORIES = {
  open: () => history(creation()),
  closed: () => history(creation(), close()),
  partially_returned: () => history(creation(), close(), returnItems([{ position: 1, quantity: 1 }])),
  cancelled: () => history(creation(), cancel()),
};
