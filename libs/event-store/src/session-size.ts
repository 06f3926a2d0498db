/**
 * Approximate heap bytes of a cached session (folded state and its keyed-command index), so the command
 * handler's cache is bounded by memory rather than by a count that means 2 MB for small carts and gigabytes
 * for sessions near the limits (1,000 lines, 64 KiB of attributes).
 *
 * The weights come from measuring V8 heap growth per cached session on Node 20 (`testing/session-heap.ts`: the
 * folded state, its keyed-command index and the cache's entry for it): about 1 KiB for a session with no lines,
 * 0.3 KiB per short cart line and 0.85 KiB per keyed command in the index (two SHA-256 hex strings, a command
 * id, three bigints); strings count two bytes per character, free-form attributes three bytes per character of
 * their JSON. It is an estimate, not
 * an accounting; it errs on the heavy side. It runs on every cached write, so it reads only string lengths and
 * key counts; free-form attributes, whose objects keep their identity across `evolve`, are serialised once per
 * object.
 */
import type { CartLine, SessionState } from '@session-engine/session-domain';

const SESSION_BASE = 1000;
const LINE_BASE = 310;
const LIST_ENTRY = 48;
const MAP_ENTRY = 120;
const RETURN_BASE = 200;
const RETURN_LINE = 80;
const KEYED_COMMAND = 900;

const objectBytes = new WeakMap<object, number>();

const text = (value: string | undefined): number => (value === undefined ? 0 : 2 * value.length);

const listBytes = (values: readonly string[]): number =>
  values.reduce((sum, value) => sum + LIST_ENTRY + text(value), 0);

const mapBytes = (map: Record<string, unknown> | undefined): number =>
  map === undefined ? 0 : Object.keys(map).reduce((sum, key) => sum + MAP_ENTRY + text(key), 0);

function attributesBytes(attributes: Record<string, unknown> | undefined): number {
  if (attributes === undefined) return 0;
  let bytes = objectBytes.get(attributes);
  if (bytes === undefined) {
    bytes = 3 * JSON.stringify(attributes).length;
    objectBytes.set(attributes, bytes);
  }
  return bytes;
}

function cartLineBytes(line: CartLine): number {
  return (
    LINE_BASE +
    text(line.sku) +
    text(line.name) +
    text(line.category) +
    text(line.product?.name) +
    text(line.price) +
    mapBytes(line.additionalCosts) +
    attributesBytes(line.attributes)
  );
}

/** Approximate bytes a cached session takes: its state plus `keyedCommands` entries of its command index. */
export function approximateSessionBytes(state: SessionState | null, keyedCommands = 0): number {
  let bytes = SESSION_BASE + KEYED_COMMAND * keyedCommands;
  if (state === null) return bytes;
  bytes +=
    text(state.integrationId) +
    text(state.profileId) +
    text(state.storeIntegrationId) +
    text(state.referralCode) +
    listBytes(state.couponCodes) +
    listBytes(state.loyaltyCards) +
    listBytes(state.identifiers) +
    mapBytes(state.additionalCosts) +
    attributesBytes(state.attributes);
  for (const line of state.cartItems) bytes += cartLineBytes(line);
  for (const record of state.returns) bytes += RETURN_BASE + RETURN_LINE * record.returnedCartItems.length;
  return bytes;
}
