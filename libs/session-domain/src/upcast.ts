/**
 * Event schema versions. Events are stored with the schema version they were written with and brought up to the
 * newest shape this build reads when read, before `evolve` sees them: each upcaster is a pure function from
 * version n to n + 1, and a stored event climbs every step up to the version read.
 *
 * The version an event type is READ at (the newest shape this build knows, the one the domain works with) and
 * the version it is WRITTEN at are kept apart, so that a new version can be rolled out readers first
 * (docs/operations.md, "Upgrades: new event versions"). The API both reads and writes: were the two one number,
 * the first build that could read n + 1 would also write it, while older replicas, projectors and consumers
 * still ran. So a release reads n + 1 and still writes n — the domain's event, in the n + 1 shape, is brought
 * down a step by that type's downcaster as it is written — and only the next release writes n + 1, once every
 * process reads it. Outside such a rollout the two versions are equal and there is no downcaster.
 */
import { eventShapeProblem } from './event-shape';
import type { SessionEvent, SessionEventType } from './events';
import { isPlainObject } from './json';
import { moneyFromNumber, normalizeMoney } from './money';

/** The newest schema version of each event type this build reads: stored events are upcast to it. */
export const SESSION_EVENT_READ_VERSIONS: Readonly<Record<SessionEventType, number>> = Object.freeze({
  SessionCreated: 1,
  ProfileChanged: 1,
  StoreChanged: 1,
  CouponCodesChanged: 1,
  ReferralCodeChanged: 1,
  LoyaltyCardsChanged: 1,
  IdentifiersChanged: 1,
  AttributesChanged: 1,
  AdditionalCostsChanged: 1,
  CartItemsReplaced: 1,
  CartItemsAdded: 2,
  SessionClosed: 1,
  SessionCancelled: 1,
  SessionReopened: 1,
  CartItemsReturned: 1,
});

/**
 * The schema version each event type is written at: its read version, except in the release that rolls a new
 * version out, which reads n + 1 and writes n (with a downcaster n + 1 → n) — list such a type here with n, after
 * the spread. The next release takes it out again.
 */
export const SESSION_EVENT_WRITE_VERSIONS: Readonly<Record<SessionEventType, number>> = Object.freeze({
  ...SESSION_EVENT_READ_VERSIONS,
});

/** A stored event this build cannot read: an unknown type, a version it does not know, data of no shape. */
export class EventUpcastError extends Error {
  override readonly name = 'EventUpcastError';
}

/** A registry of versions, upcasters and downcasters that does not fit together (a build that must not start). */
export class EventSchemaError extends Error {
  override readonly name = 'EventSchemaError';
}

/** One pure step between two adjacent versions of an event type's data. */
export type SchemaStep = (data: Record<string, unknown>) => Record<string, unknown>;

/** What a build knows about its events' versions (the domain's: `SESSION_EVENT_SCHEMAS`; unit tests build others). */
export interface EventSchemaRegistry {
  /** Per event type, the newest version read (the shape the domain works with). */
  readonly read: Readonly<Record<string, number>>;
  /** Per event type, the version written: the read version, or lower while a new version is rolled out. */
  readonly write: Readonly<Record<string, number>>;
  /** `upcasters[type][n]`: version n → n + 1, for every n from 1 below the read version. */
  readonly upcasters: Readonly<Record<string, Readonly<Record<number, SchemaStep>>>>;
  /** `downcasters[type][n]`: version n → n − 1, for every n above the write version up to the read version. */
  readonly downcasters: Readonly<Record<string, Readonly<Record<number, SchemaStep>>>>;
}

/** A schema version as stored in `metadata.schemaVersion`: a positive integer. */
export function isSchemaVersion(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1;
}

/**
 * The schema version an event's metadata declares, for a reader to judge (`isSchemaVersion`): 1 when the
 * metadata has no `schemaVersion` at all — events written before versions existed (docs/events.md, "missing =
 * 1") — and otherwise the value as stored, so that `"3"`, `2.5`, `null` or `0` are refused as unreadable rather
 * than read as version 1.
 */
export function storedSchemaVersion(metadata: unknown): unknown {
  return isPlainObject(metadata) && Object.hasOwn(metadata, 'schemaVersion') ? metadata.schemaVersion : 1;
}

/** Why a registry does not fit together: a write version above its read version, a step missing. */
function registryProblems(registry: EventSchemaRegistry): string[] {
  const problems: string[] = [];
  const types = new Set([...Object.keys(registry.read), ...Object.keys(registry.write)]);
  for (const type of types) {
    const read = registry.read[type];
    const write = registry.write[type];
    if (!isSchemaVersion(read) || !isSchemaVersion(write)) {
      problems.push(
        `${type}: read version ${read} and write version ${write} must both be positive integers`,
      );
      continue;
    }
    if (write > read) {
      problems.push(`${type} is written at v${write} but read only up to v${read}: no process could read it`);
      continue;
    }
    for (let version = 1; version < read; version++)
      if (registry.upcasters[type]?.[version] === undefined)
        problems.push(`${type}: no upcaster v${version} → v${version + 1} (it is read up to v${read})`);
    for (let version = read; version > write; version--)
      if (registry.downcasters[type]?.[version] === undefined)
        problems.push(
          `${type}: no downcaster v${version} → v${version - 1} (it is read at v${read} and written at v${write})`,
        );
  }
  return problems;
}

/** A checked registry: reads any version it knows up to the read version, writes at the write version. */
export class EventSchemas {
  /** Refuses (`EventSchemaError`) a registry whose versions and steps do not fit together. */
  constructor(readonly registry: EventSchemaRegistry) {
    const problems = registryProblems(registry);
    if (problems.length > 0)
      throw new EventSchemaError(`The event schema versions do not fit together: ${problems.join('; ')}`);
  }

  knows(type: string): boolean {
    return Object.hasOwn(this.registry.read, type);
  }

  /** The newest version of `type` read (undefined for a type this build does not know). */
  readVersion(type: string): number | undefined {
    return this.knows(type) ? this.registry.read[type] : undefined;
  }

  /** The version `type` is written at (undefined for a type this build does not know). */
  writeVersion(type: string): number | undefined {
    return this.knows(type) ? this.registry.write[type] : undefined;
  }

  /**
   * Brings a stored event of any version this build reads to the newest shape; throws EventUpcastError for a
   * type it does not know, a version that is not a positive integer or is above the read version, or data that
   * is not an object or, once upcast, does not have its type's shape (`eventShapeProblem`).
   */
  upcast(type: string, schemaVersion: unknown, data: unknown): SessionEvent {
    if (!this.knows(type)) throw new EventUpcastError(`Unknown session event type "${type}"`);
    const current = this.registry.read[type]!;
    if (!isSchemaVersion(schemaVersion) || schemaVersion > current) {
      throw new EventUpcastError(
        `Unknown schema version ${JSON.stringify(schemaVersion)} of ${type} (versions 1..${current} are known)`,
      );
    }
    if (!isPlainObject(data))
      throw new EventUpcastError(`The data of ${type} v${schemaVersion} is not an object`);
    let upgraded: Record<string, unknown> = data;
    let version = schemaVersion;
    try {
      for (; version < current; version++) upgraded = this.registry.upcasters[type]![version]!(upgraded);
    } catch (error) {
      if (error instanceof EventUpcastError) throw error;
      // A step that fails on data it cannot read: unreadable like any event of the wrong shape.
      throw new EventUpcastError(
        `${type} v${schemaVersion} cannot be upcast (step v${version} → v${version + 1}): ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    const problem = eventShapeProblem(type, upgraded);
    if (problem !== undefined)
      throw new EventUpcastError(
        `The data of ${type} v${schemaVersion} does not have the shape of its type: ${problem}`,
      );
    return { type, data: upgraded } as unknown as SessionEvent;
  }

  /**
   * The domain's event as a reader of this build will read it back once it is written: written at its type's
   * write version (`toWritten`) and upcast again. The event itself while the two versions are equal (outside a
   * rollout, no step runs); during one, what the downcaster and upcaster make of it — which a writer must fold
   * too, or its own cached session would differ from the one every later read folds.
   */
  asRead(event: SessionEvent): SessionEvent {
    if (this.readVersion(event.type) === this.writeVersion(event.type)) return event;
    const { schemaVersion, data } = this.toWritten(event);
    return this.upcast(event.type, schemaVersion, data);
  }

  /**
   * An event as it is written: the domain's event (in the newest shape) with its type's write version, its data
   * brought down to that version by the downcasters when it is below the read version.
   */
  toWritten(event: { type: string; data: object }): { schemaVersion: number; data: Record<string, unknown> } {
    const read = this.readVersion(event.type);
    const write = this.writeVersion(event.type);
    if (read === undefined || write === undefined)
      throw new EventSchemaError(`Unknown session event type "${event.type}": it has no schema version`);
    let data = event.data as Record<string, unknown>;
    for (let version = read; version > write; version--)
      data = this.registry.downcasters[event.type]![version]!(data);
    return { schemaVersion: write, data };
  }
}

/** A decimal string a v1 writer could have stored: plain, or in exponent notation within ±400. */
const V1_MONEY_STRING = /^-?\d+(?:\.\d+)?(?:[eE]([-+]?\d{1,3}))?$/;

/**
 * v1 → v2: money was a JSON number; it becomes the shortest decimal string that reads back as that number. A
 * string already there is normalised when it is a decimal a writer could have stored; anything else (`"19,99"`,
 * `"1e500000000"`, which would print as 500 million digits) is left as it is, for the shape check to refuse.
 */
function moneyToDecimalString(value: unknown): unknown {
  if (typeof value === 'number') return moneyFromNumber(value);
  if (typeof value !== 'string') return value;
  const match = V1_MONEY_STRING.exec(value);
  if (match === null || (match[1] !== undefined && Math.abs(Number(match[1])) > 400)) return value;
  return normalizeMoney(value);
}

function cartItemV1toV2(item: unknown): unknown {
  if (!isPlainObject(item)) return item;
  const upgraded: Record<string, unknown> = { ...item };
  if (item.price !== undefined && item.price !== null) upgraded.price = moneyToDecimalString(item.price);
  if (isPlainObject(item.additionalCosts)) {
    upgraded.additionalCosts = Object.fromEntries(
      Object.entries(item.additionalCosts).map(([name, cost]) => [
        name,
        isPlainObject(cost) ? { ...cost, price: moneyToDecimalString(cost.price) } : cost,
      ]),
    );
  }
  return upgraded;
}

const UPCASTERS: Partial<Record<SessionEventType, Record<number, SchemaStep>>> = {
  // CartItemsAdded v1 stored item prices and item-level additional cost prices as JSON numbers.
  CartItemsAdded: {
    1: (data) => ({
      ...data,
      cartItems: Array.isArray(data.cartItems) ? data.cartItems.map(cartItemV1toV2) : data.cartItems,
    }),
  },
};

/**
 * Downcasters, `DOWNCASTERS[type][n]`: n → n − 1, only for a type whose write version is below its read version
 * (the release that rolls version n out). None today: CartItemsAdded v2 was rolled out before the versions were
 * kept apart, and every other type has only v1.
 */
const DOWNCASTERS: Partial<Record<SessionEventType, Record<number, SchemaStep>>> = {};

/** The domain's registry, checked when this module loads: a build whose steps are missing does not start. */
export const SESSION_EVENT_SCHEMAS = new EventSchemas({
  read: SESSION_EVENT_READ_VERSIONS,
  write: SESSION_EVENT_WRITE_VERSIONS,
  upcasters: UPCASTERS,
  downcasters: DOWNCASTERS,
});

/** Brings a stored event of any known version to the current shape; throws EventUpcastError otherwise. */
export function upcast(type: string, schemaVersion: unknown, data: unknown): SessionEvent {
  return SESSION_EVENT_SCHEMAS.upcast(type, schemaVersion, data);
}
