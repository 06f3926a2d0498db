/**
 * Validators class-validator lacks: JSON objects (nested DTOs included), cost maps, "absent but never null".
 */
import { Transform, Type } from 'class-transformer';
import { ValidateBy, ValidateIf, ValidateNested, type ValidationOptions } from 'class-validator';

export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The field may be omitted, but `null` is not a value for it. */
export const IsOptionalNotNull = (): PropertyDecorator => ValidateIf((_object, value) => value !== undefined);

export const IsJsonObject = (options?: ValidationOptions): PropertyDecorator =>
  ValidateBy(
    {
      name: 'isJsonObject',
      validator: {
        validate: isPlainObject,
        defaultMessage: (args) => `${args?.property ?? 'value'} must be a JSON object`,
      },
    },
    options,
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
  type: () => new () => object,
  options: { message: string; each?: boolean },
): PropertyDecorator {
  const each = options.each === true;
  const decorators = [
    ValidateNested({ each, message: options.message }),
    Type(type),
    Transform(({ value }: { value: unknown }) =>
      each ? (Array.isArray(value) ? value.map(arrayAsNonObject) : value) : arrayAsNonObject(value),
    ),
  ];
  return (target, propertyKey) => {
    for (const decorate of decorators) decorate(target, propertyKey);
  };
}

const isFiniteNonNegative = (value: unknown): boolean =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0;

/** `{ name: { price: number ≥ 0 } }`, names 1..1000 characters, nothing else in the entries. */
export const IsPriceMap = (options?: ValidationOptions): PropertyDecorator =>
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
              Object.keys(cost).length === 1 &&
              isFiniteNonNegative(cost.price),
          ),
        defaultMessage: (args) =>
          `${args?.property ?? 'value'} must map names (1..1000 characters) to {"price": <finite number ≥ 0>}`,
      },
    },
    options,
  );
