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
import { COST_FIELDS, isPlainObject, shapeOf, type DtoType } from './validators';

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
      if (!isPlainObject(member)) continue;
      for (const name in member) {
        const cost = member[name];
        if (!isPlainObject(cost)) continue;
        for (const field in cost) {
          if (!COST_FIELDS.has(field)) found.push(`${at}/${escapePointer(name)}/${escapePointer(field)}`);
        }
      }
    } else if (!shape.each) {
      collect(shape.type(), member, at, found);
    } else if (Array.isArray(member)) {
      for (let i = 0; i < member.length; i++) collect(shape.type(), member[i], `${at}/${i}`, found);
    }
  }
}

/**
 * Refuses `body` with 400 UNKNOWN_FIELD at each key that `type` (the DTO the pipe validated) does not declare,
 * worded as the validation pipe words an unknown field.
 */
export function assertDeclaredFields(type: DtoType, body: unknown): void {
  const pointers = undeclaredFields(type, body);
  if (pointers.length > 0) throw unknownFields(pointers);
}
