/**
 * Validators class-validator lacks: JSON objects (nested DTOs included), cost maps, "absent but never null",
 * fields accepted and ignored. All but "absent but never null" also note the shape of their field (`shapeOf`),
 * for the check of the keys the validation pipe never sees (declared-fields.ts).
 */
import { Exclude, Transform, Type } from 'class-transformer';
import { ValidateBy, ValidateIf, ValidateNested, type ValidationOptions } from 'class-validator';

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

const isFiniteNonNegative = (value: unknown): boolean =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0;

/** The one field of a cost (`IsPriceMap`). */
export const COST_FIELDS: ReadonlySet<string> = new Set(['price']);

/**
 * `{ name: { price: number ≥ 0 } }`, names 1..1000 characters. Other keys in an entry are not this
 * constraint's to refuse: it checks the map as one value and could only say the whole map is wrong, so the
 * validation pipe names each of them as an unknown field at its own pointer (`unknownCostFields`), as it
 * names an unknown field anywhere else.
 */
export const IsPriceMap = (options?: ValidationOptions): PropertyDecorator =>
  withShape(
    { kind: 'costs' },
    ValidateBy(
      {
        name: 'isPriceMap',
        validator: {
          validate: (value: unknown) =>
            isPlainObject(value) &&
            Object.entries(value).every(
              ([name, cost]) =>
                name.length >= 1 &&
                name.length <= 1000 &&
                isPlainObject(cost) &&
                isFiniteNonNegative(cost.price),
            ),
          defaultMessage: (args) =>
            `${args?.property ?? 'value'} must map names (1..1000 characters) to {"price": <finite number ≥ 0>}`,
        },
      },
      options,
    ),
  );
