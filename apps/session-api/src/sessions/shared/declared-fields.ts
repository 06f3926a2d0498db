/**
 * The check of a request body's keys that the validation pipe cannot make. The pipe validates a copy of the
 * body that never holds a key named like a member of Object.prototype (`toString`, `hasOwnProperty`,
 * `constructor`, `__proto__`…) nor `prototype`: class-transformer leaves them out of the DTO it builds and
 * Nest's ValidationPipe deletes three of them from the body in place, so its whitelist never sees them and
 * `{"customerSession":{"toString":1}}` would pass where `{"customerSession":{"foo":1}}` is refused. This walks
 * the body as the client sent it through the fields the DTOs declare (the same names the pipe's whitelist
 * uses: every field with a class-validator decorator) and names every key none of them declares:
 * - in a nested DTO (`NestedObject`): its own declared fields, and the fields it ignores (`IgnoredField`);
 * - in free-form JSON (`IsJsonObject`, the `attributes`): nothing, any key is data;
 * - in a cost map (`IsPriceMap`): the names are data, an entry holds `price` only.
 * Only needed when the body holds such a key (JsonBodyMiddleware parses such a body twice, see
 * `validatedBody`), and it only goes through the DTO levels (not into attributes), so it costs nothing on
 * ordinary bodies and little on the rest.
 */
import { getMetadataStorage } from 'class-validator';
import { escapePointer, unknownFields } from '../../errors/validation-errors';
import { COST_FIELDS, forEachCostMap, isPlainObject, shapeOf, type DtoType } from './validators';

const declared = new Map<DtoType, ReadonlySet<string>>();

/** The fields `type` declares: those the validation pipe's whitelist allows (validated as the pipe does). */
function declaredFields(type: DtoType): ReadonlySet<string> {
  let fields = declared.get(type);
  if (fields === undefined) {
    const metadata = getMetadataStorage().getTargetValidationMetadatas(type, '', false, false);
    fields = new Set(metadata.map((entry) => entry.propertyName));
    declared.set(type, fields);
  }
  return fields;
}

/** JSON pointers (below `pointer`) of the keys of `value` that `type` and its nested DTOs do not declare. */
export function undeclaredFields(type: DtoType, value: unknown, pointer = ''): string[] {
  const found: string[] = [];
  collect(type, value, pointer, found);
  return found;
}

function collect(type: DtoType, value: unknown, pointer: string, found: string[]): void {
  if (!isPlainObject(value)) return;
  const fields = declaredFields(type);
  for (const key in value) {
    const at = `${pointer}/${escapePointer(key)}`;
    const shape = shapeOf(type, key);
    if (!fields.has(key) && shape?.kind !== 'ignored') {
      found.push(at);
      continue;
    }
    const member = value[key];
    if (shape === undefined || shape.kind === 'data' || shape.kind === 'ignored') continue;
    if (shape.kind === 'costs') {
      forEachUnknownCostField(member, (name, field) =>
        found.push(`${at}/${escapePointer(name)}/${escapePointer(field)}`),
      );
    } else if (!shape.each) {
      collect(shape.type(), member, at, found);
    } else if (Array.isArray(member)) {
      for (let i = 0; i < member.length; i++) collect(shape.type(), member[i], `${at}/${i}`, found);
    }
  }
}

/** Calls `visit` with each key other than `price` in the entries of the cost map `costs`, and its cost's name. */
function forEachUnknownCostField(costs: unknown, visit: (name: string, field: string) => void): void {
  if (!isPlainObject(costs)) return;
  for (const name in costs) {
    const cost = costs[name];
    if (!isPlainObject(cost)) continue;
    for (const field in cost) if (!COST_FIELDS.has(field)) visit(name, field);
  }
}

/**
 * The keys other than `price` in the entries of every cost map of `value` (the DTO the validation pipe built
 * from a body), each as the path of keys that leads to it, for the pipe to name as unknown fields
 * (`IsPriceMap` checks a map as one value). Keys named like members of Object.prototype are not in that DTO;
 * `undeclaredFields` finds them in the body. A cost named "" is left out: `IsPriceMap` refuses the map, and
 * a path through "" has no pointer the pipe's errors could give.
 */
export function unknownCostFields(type: DtoType, value: unknown, path: string[] = []): string[][] {
  const found: string[][] = [];
  forEachCostMap(type, value, path, (costs, at) =>
    forEachUnknownCostField(costs, (name, key) => {
      if (name !== '') found.push([...at, name, key]);
    }),
  );
  return found;
}

/**
 * Refuses `body` with 400 UNKNOWN_FIELD at each key that `type` (the DTO the pipe validated) does not declare,
 * worded as the validation pipe words an unknown field.
 */
export function assertDeclaredFields(type: DtoType, body: unknown): void {
  const pointers = undeclaredFields(type, body);
  if (pointers.length > 0) throw unknownFields(pointers);
}
