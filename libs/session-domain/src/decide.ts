/**
 * decide: what each command means for a session, as the events it appends. One small function per
 * command; every refusal is a DomainError and appends nothing. Input is validated first (400), then
 * existence (404), then the state machine (409) — so bad input is always a 400.
 */
import type {
  AddCartItems,
  CancelSession,
  CloseSession,
  ReopenSession,
  ReturnItems,
  SessionCommand,
  SessionStatus,
  UpdateSession,
} from './commands';
import { DomainError, DomainErrorCode, sessionNotFound } from './errors';
import type {
  CartItemData,
  CountedLine,
  Decimal,
  SessionCancelled,
  SessionClosed,
  SessionCreated,
  SessionEvent,
  SessionReopened,
} from './events';
import { assertNever, fold } from './evolve';
import { jsonEqual, utf8Length } from './json';
import { SESSION_LIMITS } from './limits';
import { sumMoney, ZERO } from './money';
import type { CartLine, SessionState } from './state';
import {
  checkCartItems,
  checkIntegrationId,
  checkPatch,
  checkReturnEntries,
  type ValidPatch,
  type ValidReturnEntry,
} from './validation';
import { countedLine, countedRevenueOf, remainingLines, remainingQuantity, totalsOf } from './view';

export function decide(command: SessionCommand, state: SessionState | null): SessionEvent[] {
  switch (command.type) {
    case 'UpdateSession':
      return fitting(updateSession(command, state), state);
    case 'AddCartItems':
      return fitting(addCartItems(command, state), state);
    case 'CloseSession':
      return closeSession(command, state);
    case 'CancelSession':
      return cancelSession(command, state);
    case 'ReturnItems':
      return fitting(returnItems(command, state), state);
    case 'ReopenSession':
      return reopenSession(command, state);
    default:
      return assertNever(command);
  }
}

/**
 * The checks of the command's own input, which `decide` makes first (400 `INVALID_FIELD` / `LIMIT_EXCEEDED`):
 * what the command is refused for whatever the session holds beyond its existence (`state` only tells a create
 * from an update, whose patches differ). The command handler makes them before it compares `If-Match`, so a
 * request with bad input is a 400 whatever its precondition, as when the API's validation finds it.
 */
export function checkInput(command: SessionCommand, state: SessionState | null): void {
  checkIntegrationId(command.integrationId);
  switch (command.type) {
    case 'UpdateSession':
      checkPatch(command.patch, state === null);
      return;
    case 'AddCartItems':
      checkCartItems(command.cartItems, '/cartItems');
      return;
    case 'ReturnItems':
      checkReturnEntries(command.returnedCartItems);
      return;
    case 'CloseSession':
    case 'CancelSession':
    case 'ReopenSession':
      return;
    default:
      return assertNever(command);
  }
}

/**
 * Whether `decide` may accept a command of this type and append nothing (a no-op): an UpdateSession that changes
 * nothing, an AddCartItems of no items. A command of any other type appends, or is refused. The API keeps an
 * Idempotency-Key record only for a keyed command that appended nothing, so it looks one up for these alone.
 */
export function mayChangeNothing(type: SessionCommand['type']): boolean {
  switch (type) {
    case 'UpdateSession':
    case 'AddCartItems':
      return true;
    case 'CloseSession':
    case 'CancelSession':
    case 'ReturnItems':
    case 'ReopenSession':
      return false;
    default:
      return assertNever(type);
  }
}

/**
 * The events, once checked to fit the event store (`checkEventBytes`): of the commands that add data, and of a
 * return, whose entries each repeat the SKU of the line they name (1000 entries naming one line of a long SKU are
 * megabytes). Close, cancel and reopen append events bounded by what those let in.
 */
function fitting(events: SessionEvent[], state: SessionState | null): SessionEvent[] {
  if (events.length > 0) checkEventBytes(events, state);
  return events;
}

/**
 * The non-empty profileId this command would newly set on the session if accepted — the profile the
 * command handler must claim (in the profile's own stream) before appending, passing the claim's
 * outcome as `firstSession`. Null when nothing is to be claimed, including when the command would be
 * refused anyway (refused commands never claim).
 */
export function profileToClaim(state: SessionState | null, command: SessionCommand): string | null {
  if (command.type !== 'UpdateSession') return null;
  const profileId: unknown = command.patch?.profileId;
  if (typeof profileId !== 'string' || profileId === '') return null;
  if (state !== null && state.profileId === profileId) return null;
  try {
    decide({ ...command, firstSession: true }, state);
  } catch (error) {
    if (error instanceof DomainError) return null;
    throw error;
  }
  return profileId;
}

type Stamp = { at: string; commandId: string };

/**
 * The time and command of a decision's events. Times never go backwards in a session's stream: a command whose
 * `now` is earlier than the session's latest event (it waited or retried behind a later command, or its
 * process's clock runs behind the one that wrote that event) records that event's time instead.
 */
function stampOf(command: SessionCommand, state: SessionState | null): Stamp {
  return { at: notBefore(command.now, state?.updated), commandId: command.commandId };
}

/** `time`, or `floor` when that is the later instant (ISO-8601 strings are compared as instants, not as text). */
function notBefore(time: string, floor: string | undefined): string {
  return floor !== undefined && Date.parse(floor) > Date.parse(time) ? floor : time;
}

function notFound(command: SessionCommand): DomainError {
  return sessionNotFound(command.integrationId);
}

function illegal(from: SessionStatus, action: string): DomainError {
  return new DomainError(
    DomainErrorCode.IllegalStateTransition,
    `Cannot ${action} a session that is ${from}`,
  );
}

/**
 * What a session that refuses a field change still takes (SPEC §2), said after the refusal so that the client
 * knows its next step: a closed session may be reopened (then changed), cancelled or returned; a partially
 * returned one takes further returns and a cancel, never a reopen (our rule); a cancelled one, nothing.
 */
const NEXT_STEP: Record<Exclude<SessionStatus, 'open'>, string> = {
  closed:
    'to change them, reopen it first (PUT /v2/customer_sessions/{customerSessionId}/reopen), then send the ' +
    'change again',
  partially_returned:
    'only returns (POST …/returns) and a cancel (POST …/cancel, or an update with state "cancelled") are ' +
    'possible; a session with returns cannot be reopened',
  cancelled: 'cancelled is final: nothing can change it any more',
};

function notModifiable(state: SessionState, pointer?: string): DomainError {
  const status = state.state as Exclude<SessionStatus, 'open'>;
  return new DomainError(
    DomainErrorCode.SessionNotModifiable,
    `The session is ${status}: its fields can no longer change; ${NEXT_STEP[status]}`,
    pointer,
  );
}

/** Our rule: while anonymous a session is always a first session; a claimed profile takes the claim's outcome. */
function firstSessionFor(profileId: string, claimedFirst: boolean | undefined): boolean {
  return profileId === '' ? true : (claimedFirst ?? false);
}

function assertSafeId(value: unknown, name: string): void {
  // Drawn by the command handler, not by the client: a bad one is a programming error, not a 400.
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`${name} must be a safe integer > 0, got ${String(value)}`);
  }
}

// ---------------------------------------------------------------- UpdateSession

function updateSession(command: UpdateSession, state: SessionState | null): SessionEvent[] {
  checkIntegrationId(command.integrationId);
  const patch = checkPatch(command.patch, state === null);
  if (state === null) return createSession(command, patch);

  const changes = fieldChanges(command, patch, state);
  const target = patch.state !== undefined && patch.state !== state.state ? patch.state : undefined;
  if (target !== undefined) assertUpdateTransition(state.state, target);
  if (changes.length > 0 && state.state !== 'open') throw notModifiable(state, pointerOf(changes[0]));
  if (target === undefined) return changes;
  const changed = fold(changes, state) as SessionState;
  return [...changes, target === 'closed' ? closed(changed, command) : cancelled(changed, command)];
}

function createSession(command: UpdateSession, patch: ValidPatch): SessionEvent[] {
  assertSafeId(command.sessionId, 'UpdateSession.sessionId');
  const profileId = patch.profileId ?? '';
  const created: SessionCreated = {
    type: 'SessionCreated',
    data: {
      ...stampOf(command, null),
      sessionId: command.sessionId,
      applicationId: command.applicationId,
      integrationId: command.integrationId,
      profileId,
      ...(patch.storeIntegrationId !== undefined ? { storeIntegrationId: patch.storeIntegrationId } : {}),
      couponCodes: patch.couponCodes ?? [],
      referralCode: patch.referralCode ?? '',
      loyaltyCards: patch.loyaltyCards ?? [],
      identifiers: patch.identifiers ?? [],
      attributes: patch.attributes ?? {},
      additionalCosts: patch.additionalCosts ?? {},
      cartItems: patch.cartItems ?? [],
      firstSession: firstSessionFor(profileId, command.firstSession),
    },
  };
  if (patch.state !== 'closed') return [created];
  return [created, closed(fold([created]) as SessionState, command)];
}

function cartData(lines: CartLine[]): CartItemData[] {
  return lines.map(({ position: _position, returnedQuantity: _returned, ...item }) => item);
}

/** One event per field group the patch really changes, in a fixed order; the state event comes after. */
function fieldChanges(command: UpdateSession, patch: ValidPatch, state: SessionState): SessionEvent[] {
  const stamp = stampOf(command, state);
  const events: SessionEvent[] = [];
  if (patch.profileId !== undefined && patch.profileId !== state.profileId) {
    events.push({
      type: 'ProfileChanged',
      data: {
        ...stamp,
        previousProfileId: state.profileId,
        profileId: patch.profileId,
        firstSession: firstSessionFor(patch.profileId, command.firstSession),
      },
    });
  }
  if (patch.storeIntegrationId !== undefined && patch.storeIntegrationId !== state.storeIntegrationId) {
    events.push({ type: 'StoreChanged', data: { ...stamp, storeIntegrationId: patch.storeIntegrationId } });
  }
  if (patch.couponCodes !== undefined && !jsonEqual(patch.couponCodes, state.couponCodes)) {
    events.push({ type: 'CouponCodesChanged', data: { ...stamp, couponCodes: patch.couponCodes } });
  }
  if (patch.referralCode !== undefined && patch.referralCode !== state.referralCode) {
    events.push({ type: 'ReferralCodeChanged', data: { ...stamp, referralCode: patch.referralCode } });
  }
  if (patch.loyaltyCards !== undefined && !jsonEqual(patch.loyaltyCards, state.loyaltyCards)) {
    events.push({ type: 'LoyaltyCardsChanged', data: { ...stamp, loyaltyCards: patch.loyaltyCards } });
  }
  if (patch.identifiers !== undefined && !jsonEqual(patch.identifiers, state.identifiers)) {
    events.push({ type: 'IdentifiersChanged', data: { ...stamp, identifiers: patch.identifiers } });
  }
  if (patch.attributes !== undefined && !jsonEqual(patch.attributes, state.attributes)) {
    events.push({ type: 'AttributesChanged', data: { ...stamp, attributes: patch.attributes } });
  }
  if (patch.additionalCosts !== undefined && !jsonEqual(patch.additionalCosts, state.additionalCosts)) {
    events.push({
      type: 'AdditionalCostsChanged',
      data: { ...stamp, additionalCosts: patch.additionalCosts },
    });
  }
  if (patch.cartItems !== undefined && !jsonEqual(patch.cartItems, cartData(state.cartItems))) {
    events.push({ type: 'CartItemsReplaced', data: { ...stamp, cartItems: patch.cartItems } });
  }
  return events;
}

const FIELD_OF: Partial<Record<SessionEvent['type'], string>> = {
  ProfileChanged: '/profileId',
  StoreChanged: '/storeIntegrationId',
  CouponCodesChanged: '/couponCodes',
  ReferralCodeChanged: '/referralCode',
  LoyaltyCardsChanged: '/loyaltyCards',
  IdentifiersChanged: '/identifiers',
  AttributesChanged: '/attributes',
  AdditionalCostsChanged: '/additionalCosts',
  CartItemsReplaced: '/cartItems',
};

function pointerOf(event: SessionEvent): string | undefined {
  return FIELD_OF[event.type];
}

/** What UpdateSession's `state` may do: close or cancel. Reopen and returns have their own verbs. */
function assertUpdateTransition(from: SessionStatus, to: SessionStatus): void {
  const allowed =
    (from === 'open' && (to === 'closed' || to === 'cancelled')) ||
    ((from === 'closed' || from === 'partially_returned') && to === 'cancelled');
  if (!allowed) {
    throw new DomainError(
      DomainErrorCode.IllegalStateTransition,
      `A session that is ${from} cannot become ${to} by an update`,
      '/state',
    );
  }
}

// ---------------------------------------------------------------- state events

function closed(state: SessionState, command: SessionCommand): SessionClosed {
  return {
    type: 'SessionClosed',
    data: {
      ...stampOf(command, state),
      profileId: state.profileId,
      total: totalsOf(state).total,
      items: state.cartItems.map((line) => countedLine(line, remainingQuantity(line))),
    },
  };
}

function cancelled(state: SessionState, command: SessionCommand): SessionCancelled {
  const counted = state.state !== 'open';
  return {
    type: 'SessionCancelled',
    data: {
      ...stampOf(command, state),
      previousState: state.state,
      profileId: state.profileId,
      reversedRevenue: counted ? countedRevenueOf(state) : ZERO,
      reversedItems: counted ? remainingLines(state) : [],
    },
  };
}

function reopened(state: SessionState, command: SessionCommand): SessionReopened {
  return {
    type: 'SessionReopened',
    data: {
      ...stampOf(command, state),
      profileId: state.profileId,
      reversedRevenue: countedRevenueOf(state),
      reversedItems: remainingLines(state),
    },
  };
}

// ---------------------------------------------------------------- the verbs

function addCartItems(command: AddCartItems, state: SessionState | null): SessionEvent[] {
  checkIntegrationId(command.integrationId);
  const items = checkCartItems(command.cartItems, '/cartItems');
  if (state === null) throw notFound(command);
  if (state.cartItems.length + items.length > SESSION_LIMITS.cartLines) {
    throw new DomainError(
      DomainErrorCode.LimitExceeded,
      `A cart holds at most ${SESSION_LIMITS.cartLines} items (it has ${state.cartItems.length})`,
      '/cartItems',
    );
  }
  if (items.length === 0) return [];
  if (state.state !== 'open') throw notModifiable(state, '/cartItems');
  return [
    {
      type: 'CartItemsAdded',
      data: { ...stampOf(command, state), firstPosition: state.cartItems.length, cartItems: items },
    },
  ];
}

function closeSession(command: CloseSession, state: SessionState | null): SessionEvent[] {
  checkIntegrationId(command.integrationId);
  if (state === null) throw notFound(command);
  if (state.state !== 'open') throw illegal(state.state, 'close');
  return [closed(state, command)];
}

function cancelSession(command: CancelSession, state: SessionState | null): SessionEvent[] {
  checkIntegrationId(command.integrationId);
  if (state === null) throw notFound(command);
  if (state.state === 'cancelled') throw illegal(state.state, 'cancel');
  return [cancelled(state, command)];
}

function reopenSession(command: ReopenSession, state: SessionState | null): SessionEvent[] {
  checkIntegrationId(command.integrationId);
  if (state === null) throw notFound(command);
  if (state.state !== 'closed') throw illegal(state.state, 'reopen');
  return [reopened(state, command)];
}

function returnItems(command: ReturnItems, state: SessionState | null): SessionEvent[] {
  checkIntegrationId(command.integrationId);
  const entries = checkReturnEntries(command.returnedCartItems);
  if (state === null) throw notFound(command);
  assertSafeId(command.returnId, 'ReturnItems.returnId');
  entries.forEach((entry, i) => assertNamesALine(state, entry, i));
  if (state.state !== 'closed' && state.state !== 'partially_returned')
    throw illegal(state.state, 'return items of');

  const before = state.cartItems.map(remainingQuantity);
  const remaining = [...before];
  const returned: CountedLine[] = entries.map((entry, i) => {
    const { line, quantity } = resolveReturn(state, before, remaining, entry, i);
    remaining[line.position] -= quantity;
    return countedLine(line, quantity);
  });
  return [
    {
      type: 'CartItemsReturned',
      data: {
        ...stampOf(command, state),
        returnId: command.returnId,
        profileId: state.profileId,
        previousState: state.state,
        returnedCartItems: returned,
        returnedValue: sumMoney(returned.map((line) => line.value)),
      },
    },
  ];
}

function assertNamesALine(state: SessionState, entry: ValidReturnEntry, i: number): void {
  if (entry.position !== undefined) {
    if (entry.position >= state.cartItems.length) {
      throw new DomainError(
        DomainErrorCode.CartItemNotFound,
        `The cart has no item at position ${entry.position}`,
        `/returnedCartItems/${i}/position`,
      );
    }
  } else if (!state.cartItems.some((line) => line.sku === entry.sku)) {
    throw new DomainError(
      DomainErrorCode.CartItemNotFound,
      `The cart has no item with sku ${JSON.stringify(entry.sku)}`,
      `/returnedCartItems/${i}/sku`,
    );
  }
}

/**
 * `position` names the line (and wins over `sku`); `sku` alone names the first line with that sku
 * whose remaining quantity covers the request — counting earlier entries of the same return.
 * Without `quantity`, the whole remaining quantity of the line is returned. `before` is what each line had
 * left before this return, `remaining` what the entries before this one leave of it.
 */
function resolveReturn(
  state: SessionState,
  before: readonly number[],
  remaining: number[],
  entry: ValidReturnEntry,
  i: number,
): { line: CartLine; quantity: number } {
  const line =
    entry.position !== undefined
      ? state.cartItems[entry.position]
      : state.cartItems.find(
          (candidate) =>
            candidate.sku === entry.sku && remaining[candidate.position] >= (entry.quantity ?? 1),
        );
  const left = line === undefined ? 0 : remaining[line.position];
  const quantity = entry.quantity ?? left;
  if (line === undefined || quantity === 0 || quantity > left) {
    const pointer = `/returnedCartItems/${i}`;
    throw new DomainError(
      DomainErrorCode.ReturnQuantityExceeded,
      line === undefined
        ? noSkuLineLeft(state, before, remaining, entry)
        : notLeftOnLine(line.position, before[line.position], left, entry.quantity),
      entry.quantity !== undefined ? `${pointer}/quantity` : pointer,
    );
  }
  return { line, quantity };
}

/** Said after a refusal when `quantity` was omitted: it asked for what is left, and nothing is. */
const OMITTED_QUANTITY = 'an omitted quantity returns every unit left';

/**
 * Why the line at `position` cannot give `requested` units (undefined: the quantity was omitted) when
 * `before` were left before this return and `left` are after its earlier entries.
 */
function notLeftOnLine(
  position: number,
  before: number,
  left: number,
  requested: number | undefined,
): string {
  const taken = before - left;
  if (requested === undefined) {
    return taken > 0
      ? `Position ${position} has no units left to return: earlier entries of this return already take the ${before} it had left (${OMITTED_QUANTITY})`
      : `Position ${position} has no units left to return: every unit was returned before (${OMITTED_QUANTITY})`;
  }
  const refused = `Position ${position} has ${left} unit(s) left to return, ${requested} requested`;
  return taken > 0
    ? `${refused} (earlier entries of this return already take ${taken} of the ${before} it had left)`
    : refused;
}

/**
 * Why no line with the entry's sku can give what it asks. When a line could have before this return, its
 * earlier entries took those units: that is said, with the first such line.
 */
function noSkuLineLeft(
  state: SessionState,
  before: readonly number[],
  remaining: readonly number[],
  entry: ValidReturnEntry,
): string {
  const sku = JSON.stringify(entry.sku);
  const wanted = entry.quantity === undefined ? 'any unit' : `${entry.quantity} unit(s)`;
  const refused = `No item with sku ${sku} has ${wanted} left to return`;
  const covered = state.cartItems.find(
    (line) => line.sku === entry.sku && before[line.position] >= (entry.quantity ?? 1),
  );
  if (covered !== undefined) {
    const position = covered.position;
    const taken = before[position] - remaining[position];
    const took = `earlier entries of this return already take ${taken} of the ${before[position]} left at position ${position}`;
    return entry.quantity === undefined ? `${refused}: ${took} (${OMITTED_QUANTITY})` : `${refused}: ${took}`;
  }
  return entry.quantity === undefined
    ? `${refused}: every unit was returned before (${OMITTED_QUANTITY})`
    : refused;
}

// ---------------------------------------------------------------- what fits in the event store

/**
 * Bytes of a line in the event that closes, cancels or reopens the session (a `CountedLine`:
 * `{"position":…,"sku":…,"quantity":…,"value":"…"},`) beyond its SKU's JSON, its quantity's digits (twice: the
 * quantity, and what multiplying by it adds to the value's integer part) and its value's digits: keys, quotes and
 * punctuation (44) and up to 4 digits of position.
 */
const COUNTED_LINE_BYTES = 48;
/**
 * The value's digits beyond the integer digits of its longest part and its fraction digits: a sum of up to 101
 * parts (price and 100 item costs) has at most 3 more integer digits, and the point.
 */
const VALUE_EXTRA_DIGITS = 4;
/**
 * The rest of such an event beyond its amounts' fraction digits: stamp, keys, total or reversed revenue (integer
 * parts of up to 30 digits), previous state (profileId counted apart).
 */
const STATE_EVENT_BYTES = 400;

type CountedInput = Pick<CartItemData, 'sku' | 'quantity' | 'price' | 'additionalCosts'>;
type Costs = Record<string, { price: Decimal }> | undefined;

/**
 * Digits after the point of a decimal string as the domain prints amounts (plain, never in exponent notation): a
 * price of 5e-324 makes every amount it is part of 324 fraction digits long.
 */
function fractionDigits(amount: Decimal | undefined): number {
  if (amount === undefined) return 0;
  const point = amount.indexOf('.');
  return point < 0 ? 0 : amount.length - point - 1;
}

/** Digits before the point ("0.5": 1; none: 1, the "0" of a line without a price). */
function integerDigits(amount: Decimal | undefined): number {
  if (amount === undefined) return 1;
  const point = amount.indexOf('.');
  return point < 0 ? amount.length : point;
}

/** The most fraction digits of any of these costs. */
function costsFraction(costs: Costs): number {
  let digits = 0;
  if (costs !== undefined)
    for (const name in costs) digits = Math.max(digits, fractionDigits(costs[name]!.price));
  return digits;
}

/** Fraction digits of a line's counted value ((price + item costs) × units): those of its longest part. */
const lineFraction = (line: CountedInput): number =>
  Math.max(fractionDigits(line.price), costsFraction(line.additionalCosts));

/** Digits of a whole number ≥ 0. */
const digitsOf = (n: number): number => (n < 10 ? 1 : Math.floor(Math.log10(n)) + 1);

/**
 * An upper bound of a line's bytes in the closing event beyond its SKU's JSON (see COUNTED_LINE_BYTES): its
 * value is at most (integer digits of its longest part + 3 + the quantity's digits) before the point and its
 * parts' fraction digits after it.
 */
function countedLineBytes(line: CountedInput, fraction: number): number {
  let integer = integerDigits(line.price);
  const costs = line.additionalCosts;
  if (costs !== undefined)
    for (const name in costs) integer = Math.max(integer, integerDigits(costs[name]!.price));
  const quantity = digitsOf(line.quantity);
  return COUNTED_LINE_BYTES + 2 * quantity + integer + VALUE_EXTRA_DIGITS + fraction;
}

/** Bytes a string takes in JSON at most: 6 per UTF-16 unit (a \u escape) and the quotes. */
const jsonBound = (text: string): number => 6 * text.length + 2;
/** Bytes a string takes in JSON, exactly (UTF-8). */
const jsonBytes = (text: string): number => utf8Length(JSON.stringify(text));

/**
 * An upper bound of the bytes of the event that would close, cancel or reopen a session with this profile,
 * these lines (`lines`, then `added`) and these session costs. Settled by a quick bound when it can be (no
 * string is serialised then), otherwise by the exact JSON length of each SKU.
 */
function stateEventBytes(
  profileId: string,
  lines: readonly CountedInput[],
  added: readonly CountedInput[],
  costs: Costs,
  size: (text: string) => number = jsonBound,
): number {
  let bytes = STATE_EVENT_BYTES + size(profileId);
  let fraction = costsFraction(costs);
  for (const group of [lines, added])
    for (let i = 0; i < group.length; i++) {
      const line = group[i]!;
      const digits = lineFraction(line);
      fraction = Math.max(fraction, digits);
      bytes += countedLineBytes(line, digits) + size(line.sku);
    }
  // The total and the reversed revenue have as many fraction digits as the longest of their parts.
  bytes += 2 * fraction;
  if (bytes <= SESSION_LIMITS.eventBytes || size === jsonBytes) return bytes;
  return stateEventBytes(profileId, lines, added, costs, jsonBytes);
}

/**
 * Refuses what the event store could not take: the command's events over `eventBytes` together, or a cart
 * (after the command) whose close, cancel or reopen event would be over it.
 */
function checkEventBytes(events: SessionEvent[], state: SessionState | null): void {
  let profileId = state?.profileId ?? '';
  let lines: readonly CountedInput[] = state?.cartItems ?? [];
  let added: CountedInput[] = [];
  let costs: Costs = state?.additionalCosts;
  let cartChanged = false;
  for (const event of events) {
    switch (event.type) {
      case 'SessionCreated':
        profileId = event.data.profileId;
        lines = event.data.cartItems;
        costs = event.data.additionalCosts;
        added = [];
        cartChanged = true;
        break;
      case 'AdditionalCostsChanged':
        costs = event.data.additionalCosts;
        cartChanged = true;
        break;
      case 'CartItemsReplaced':
        lines = event.data.cartItems;
        added = [];
        cartChanged = true;
        break;
      case 'CartItemsAdded':
        added = added.length === 0 ? event.data.cartItems : [...added, ...event.data.cartItems];
        cartChanged = true;
        break;
      case 'ProfileChanged':
        profileId = event.data.profileId;
        cartChanged = true;
        break;
      default:
        break;
    }
  }
  const closing = cartChanged ? stateEventBytes(profileId, lines, added, costs) : 0;
  if (closing > SESSION_LIMITS.eventBytes) {
    throw new DomainError(
      DomainErrorCode.LimitExceeded,
      `The cart's lines would take about ${closing} bytes in the event that closes the session; at most ${SESSION_LIMITS.eventBytes} fit (fewer lines, shorter SKUs or prices with fewer decimal places)`,
      '/cartItems',
    );
  }
  let bytes = 0;
  for (const event of events) bytes += utf8Length(JSON.stringify(event.data));
  if (bytes > SESSION_LIMITS.eventBytes) {
    throw new DomainError(
      DomainErrorCode.LimitExceeded,
      `This request would record ${bytes} bytes of events; one request may record at most ${SESSION_LIMITS.eventBytes}`,
    );
  }
}
