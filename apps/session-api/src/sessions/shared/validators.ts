/**
 * Validators class-validator lacks: JSON objects (nested DTOs included), cost maps, "absent but never null",
 * fields accepted and ignored. All but "absent but never null" also note the shape of their field (`shapeOf`),
 * for the check of the keys the validation pipe never sees (declared-fields.ts).
 */
import { Exclude, Transform, Type } from 'class-transformer';
import { ValidateBy, ValidateIf, ValidateNested, type ValidationOptions } from 'class-validator';
import { charLength, SESSION_LIMITS } from '@session-engine/session-domain';

export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A DTO class, as `NestedObject` names one. */
export type DtoType = new () => object;

/**
 * What a field holds beyond a scalar (any field without a shape holds no keys a DTO declares): a nested DTO
 * (`NestedObject`, `each` for an array of them), free-form JSON whose keys are all data (`IsJsonObject`), a
 * cost map whose names are data and whose entries are `{price}` (`IsPriceMap`), or anything at all, ignored
 * (`IgnoredField`).
 */
export type FieldShape =
  | { kind: 'dto'; type: () => DtoType; each: boolean }
  | { kind: 'data' }
  | { kind: 'costs' }
  | { kind: 'ignored' };

const shapes = new Map<object, Map<string, FieldShape>>();

function noteShape(target: object, field: string | symbol, shape: FieldShape): void {
  let fields = shapes.get(target.constructor);
  if (fields === undefined) shapes.set(target.constructor, (fields = new Map()));
  fields.set(String(field), shape);
}

/** The shape of `field` of `type` (or of a class it extends), undefined for a scalar or a list of them. */
export function shapeOf(type: DtoType, field: string): FieldShape | undefined {
  for (let t: object | null = type; t !== null && t !== Function.prototype; t = Object.getPrototypeOf(t)) {
    const shape = shapes.get(t)?.get(field);
    if (shape !== undefined) return shape;
  }
  return undefined;
}

const shaped = new Map<DtoType, ReadonlyArray<readonly [string, FieldShape]>>();

/**
 * The fields of `type` (and of the classes it extends) that hold a nested DTO or a cost map, for walks that
 * only look there (a cart item has two: product and additionalCosts).
 */
export function nestedFields(type: DtoType): ReadonlyArray<readonly [string, FieldShape]> {
  let fields = shaped.get(type);
  if (fields === undefined) {
    const found = new Map<string, FieldShape>();
    const chain: object[] = [];
    for (let t: object | null = type; t !== null && t !== Function.prototype; t = Object.getPrototypeOf(t)) {
      chain.unshift(t);
    }
    for (const t of chain) for (const [field, shape] of shapes.get(t) ?? []) found.set(field, shape);
    fields = [...found].filter(([, shape]) => shape.kind === 'dto' || shape.kind === 'costs');
    shaped.set(type, fields);
  }
  return fields;
}

/** `decorators` applied in order, and `shape` noted for the field. */
function withShape(shape: FieldShape, ...decorators: PropertyDecorator[]): PropertyDecorator {
  return (target, propertyKey) => {
    for (const decorate of decorators) decorate(target, propertyKey);
    noteShape(target, propertyKey, shape);
  };
}

/** The field may be omitted, but `null` is not a value for it. */
export const IsOptionalNotNull = (): PropertyDecorator => ValidateIf((_object, value) => value !== undefined);

/**
 * A field a response has and a request may echo back (a computed one): accepted with any value and ignored.
 * class-transformer leaves it out of the DTO the pipe validates, so no validator runs for it (present or not)
 * and nothing it holds can make the pipe fail; the domain never reads it from the body it gets. Apply it to a
 * name the class does not declare as a field: a class field is an own property of every instance (ES2022
 * class fields), which the whitelist would refuse.
 */
export const IgnoredField = (): PropertyDecorator =>
  withShape({ kind: 'ignored' }, Exclude({ toClassOnly: true }));

/** A free-form JSON object: any key in it is data. */
export const IsJsonObject = (options?: ValidationOptions): PropertyDecorator =>
  withShape(
    { kind: 'data' },
    ValidateBy(
      {
        name: 'isJsonObject',
        validator: {
          validate: isPlainObject,
          defaultMessage: (args) => `${args?.property ?? 'value'} must be a JSON object`,
        },
      },
      options,
    ),
  );

/** Stands in, during validation only, for an array found where a JSON object belongs. */
const NOT_AN_OBJECT = Symbol('not a JSON object');
const arrayAsNonObject = (value: unknown): unknown => (Array.isArray(value) ? NOT_AN_OBJECT : value);

/**
 * A nested DTO that must be a JSON object (with `each`: every entry of an array of them). `ValidateNested`
 * alone walks into an array wherever it finds one, so `[]` or `[{...}]` sent for an object would pass entry by
 * entry and reach the command as an array. For validation only (commands take the body as the client sent
 * it), such an array is replaced by a non-object, which `ValidateNested` refuses with `message` at the
 * field's own pointer (`/customerSession`, `/customerSession/cartItems/0`), like any other non-object.
 */
export function NestedObject(
  type: () => DtoType,
  options: { message: string; each?: boolean },
): PropertyDecorator {
  const each = options.each === true;
  return withShape(
    { kind: 'dto', type, each },
    ValidateNested({ each, message: options.message }),
    Type(type),
    Transform(({ value }: { value: unknown }) =>
      each ? (Array.isArray(value) ? value.map(arrayAsNonObject) : value) : arrayAsNonObject(value),
    ),
  );
}

/** The one field of a cost (`IsPriceMap`). */
export const COST_FIELDS: ReadonlySet<string> = new Set(['price']);

/** A cost's name: 1..1000 characters (code points, as every other text is counted). */
const isCostName = (name: string): boolean =>
  name.length >= 1 &&
  (name.length <= SESSION_LIMITS.additionalCostNameLength ||
    charLength(name) <= SESSION_LIMITS.additionalCostNameLength);

/**
 * A cost map: a JSON object whose names are 1..1000 characters. That much is checked here, as one value: a map
 * that is no object, or a name out of bounds (a name is part of the pointer of its entry, and "" gives none the
 * exception factory can name), is refused at the map's pointer. What its entries hold is not this constraint's
 * to refuse, as it could only say the whole map is wrong: the validation pipe names each bad entry at its own
 * pointer, as it names a cart item's bad field — a cost that is no object at `…/additionalCosts/<name>`, a bad
 * price at `…/additionalCosts/<name>/price` (`invalidCosts`), a key beside `price` as an unknown field
 * (`unknownCostFields`).
 */
export const IsPriceMap = (options?: ValidationOptions): PropertyDecorator =>
  withShape(
    { kind: 'costs' },
    ValidateBy(
      {
        name: 'isPriceMap',
        validator: {
          validate: (value: unknown) => isPlainObject(value) && Object.keys(value).every(isCostName),
          defaultMessage: (args) =>
            `${args?.property ?? 'value'} must map names (1..1000 characters) to {"price": <finite number ≥ 0>}`,
        },
      },
      options,
    ),
  );

/**
 * What is wrong with one entry of a cost map, worded as a cart item's price is (cart-item.dto.ts): `field` is
 * `price` when the fault is in the price, absent when the entry itself is no object. `constraint` is the
 * class-validator constraint a field of a DTO would have failed; undefined when the entry is valid.
 */
function costEntryProblem(
  cost: unknown,
): { field?: 'price'; constraint: string; message: string } | undefined {
  if (!isPlainObject(cost))
    return { constraint: 'isObject', message: 'a cost must be a JSON object {"price": <finite number ≥ 0>}' };
  const price = cost.price;
  if (price === undefined || price === null)
    return { field: 'price', constraint: 'isDefined', message: 'price is required: a finite number ≥ 0' };
  if (typeof price !== 'number' || !Number.isFinite(price))
    return { field: 'price', constraint: 'isNumber', message: 'price must be a finite number' };
  if (price < 0) return { field: 'price', constraint: 'min', message: 'price must not be less than 0' };
  return undefined;
}

/**
 * Calls `visit` with every cost map that `value` (a DTO the validation pipe built, or a body) holds where
 * `type` declares one (`IsPriceMap`), session level and item level, and the path of keys to it. A walk through
 * the DTO's nested objects and cost maps only (not into attributes); values of the wrong type are left to
 * the validators.
 */
export function forEachCostMap(
  type: DtoType,
  value: unknown,
  path: readonly string[],
  visit: (costs: Record<string, unknown>, path: string[]) => void,
): void {
  if (!isPlainObject(value)) return;
  for (const [field, shape] of nestedFields(type)) {
    const member = value[field];
    if (shape.kind === 'costs') {
      if (isPlainObject(member)) visit(member, [...path, field]);
    } else if (shape.kind === 'dto' && !shape.each) {
      forEachCostMap(shape.type(), member, [...path, field], visit);
    } else if (shape.kind === 'dto' && Array.isArray(member)) {
      for (let i = 0; i < member.length; i++) {
        forEachCostMap(shape.type(), member[i], [...path, field, String(i)], visit);
      }
    }
  }
}

/** A bad entry of a cost map: the path of keys to what is wrong, and what the pipe says of it. */
export interface CostProblem {
  path: string[];
  constraint: string;
  message: string;
}

/**
 * The bad entries of every cost map of `value` (see `forEachCostMap`), each at the path of keys to its fault
 * (`costEntryProblem`), for the validation pipe to report as it reports a cart item's bad field. Entries of
 * a name out of bounds are left out: `IsPriceMap` refuses their map.
 */
export function invalidCosts(type: DtoType, value: unknown, path: readonly string[] = []): CostProblem[] {
  const found: CostProblem[] = [];
  forEachCostMap(type, value, path, (costs, at) => {
    for (const name in costs) {
      if (!isCostName(name)) continue;
      const problem = costEntryProblem(costs[name]);
      if (problem === undefined) continue;
      const { field, constraint, message } = problem;
      found.push({ path: field === undefined ? [...at, name] : [...at, name, field], constraint, message });
    }
  });
  return found;
}
