/** Validators class-validator lacks: JSON objects, cost maps, "absent but never null". */
import { ValidateBy, ValidateIf, type ValidationOptions } from 'class-validator';

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
