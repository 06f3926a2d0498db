import { type Expression, type RawBuilder, sql } from 'kysely';
import type { ProjectedEvent, ProjectedItem } from './projected-event';

/**
 * PostgreSQL and the text the domain accepts.
 *
 * **Long keys.** A b-tree entry holds at most 2704 bytes, and the texts the read models are keyed or
 * filtered by reach 4000 (1000 code points of 4-byte UTF-8: integration ids, hence stream names, profile
 * ids, SKUs, store ids). On PostgreSQL each such column has a generated key column beside it
 * (`POSTGRES_TEXT_KEYS`: `<column>_key`, `textKeySql`: the text's UTF-8 bytes when short, a SHA-256 of
 * them when long — at most 256 bytes), which the unique constraints and the indexes are on; every lookup
 * compares the key *and* the full text, so an answer is exactly what `column = value` gives (migration
 * `0003_text_keys`). The key columns are the database's business: the writers never write them,
 * `dumpReadModels` and `replay verify` leave them out (`withoutKeyColumns`). SQLite has no such limit
 * and keeps its plain indexes.
 *
 * **U+0000.** PostgreSQL text cannot hold U+0000 (and neither can `jsonb`); the API refuses it in new
 * input, but events already in the log may carry it. On PostgreSQL the read models are those of the log
 * with **every U+0000 read as U+FFFD** (REPLACEMENT CHARACTER): in every string of every event — stream
 * name, ids, codes, SKUs, names, attribute keys and values — before the projections see it
 * (`eventsWithoutNul`), so the keys, the columns and the sessions' JSON all agree, and a query's text
 * filters are read the same way (`withoutNul`). SQLite stores U+0000 as it is. `replay verify` compares
 * text with U+0000 read as U+FFFD on both sides (`comparableText`), so it finds the PostgreSQL rows equal
 * to the log. Two texts differing only by U+0000 against U+FFFD at the same places are one text on
 * PostgreSQL (a session id `a\u0000` and another `a\uFFFD` of the same application would share a row).
 */
export const NUL_REPLACEMENT = '\uFFFD';

const NUL = /\0/g;

/** The text as PostgreSQL read models hold it: U+0000 read as U+FFFD. */
export function withoutNul(text: string): string {
  return text.includes('\0') ? text.replace(NUL, NUL_REPLACEMENT) : text;
}

function containsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\0');
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) {
    for (const element of value) if (containsNul(element)) return true;
    return false;
  }
  for (const key in value) {
    if (key.includes('\0') || containsNul((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

function replaceNul(value: unknown): unknown {
  if (typeof value === 'string') return withoutNul(value);
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(replaceNul);
  const copy: Record<string, unknown> = {};
  for (const key in value) copy[withoutNul(key)] = replaceNul((value as Record<string, unknown>)[key]);
  return copy;
}

/**
 * The events as the PostgreSQL read models see them: every U+0000 in their strings read as U+FFFD. The
 * same array when none has one (nearly always); otherwise copies of the events that do. A tombstone's stream
 * name is read so too (it names the rows to remove).
 */
export function eventsWithoutNul<T extends ProjectedItem>(events: readonly T[]): readonly T[] {
  let copy: T[] | undefined;
  for (let i = 0; i < events.length; i++) {
    const projected = events[i];
    if (projected.kind === 'tombstone') {
      if (!projected.streamId.includes('\0')) continue;
      copy ??= events.slice();
      copy[i] = { ...projected, streamId: withoutNul(projected.streamId) };
      continue;
    }
    if (!projected.streamId.includes('\0') && !containsNul(projected.event)) continue;
    copy ??= events.slice();
    copy[i] = {
      ...projected,
      streamId: withoutNul(projected.streamId),
      event: replaceNul(projected.event) as ProjectedEvent['event'],
    };
  }
  return copy ?? events;
}

/** `\u0000` escapes in JSON text (an even run of backslashes before it: the backslash is not escaped). */
const JSON_NUL_ESCAPE = /(?<!\\)((?:\\\\)*)\\u0000/g;

/**
 * A stored or recomputed text as `replay verify` compares it: U+0000 read as U+FFFD, and in JSON text
 * (`json`: the `*_json` columns, written by `JSON.stringify`) the `\u0000` escape read as U+FFFD too —
 * the JSON `JSON.stringify` writes for the same value with U+FFFD in place of U+0000.
 */
export function comparableText(text: string, json = false): string {
  const plain = withoutNul(text);
  return json && plain.includes('\\u0000') ? plain.replace(JSON_NUL_ESCAPE, `$1${NUL_REPLACEMENT}`) : plain;
}

/** Texts of at most this many bytes are their own key; longer ones are keyed by their SHA-256. */
export const TEXT_KEY_MAX_BYTES = 256;

/** The text's UTF-8 bytes: `convert_to` is not IMMUTABLE; `decode(…, 'escape')` with backslashes doubled is. */
const utf8 = (expression: string) => `decode(replace(${expression}, E'\\\\', E'\\\\\\\\'), 'escape')`;

/**
 * SQL of the key of a text on PostgreSQL (a generated column's expression must be IMMUTABLE): the text's
 * UTF-8 bytes when they are at most `TEXT_KEY_MAX_BYTES`, otherwise the byte 0xFF followed by their
 * SHA-256 — at most 256 bytes either way, and one-to-one (0xFF never occurs in UTF-8, so a hashed key
 * is never a short text's key). Short texts, nearly all of them, cost no hash. `expression` is SQL,
 * never data. Changing this needs a migration of the key columns.
 */
export function textKeySql(expression: string): string {
  const bytes = utf8(expression);
  return (
    `(case when octet_length(${expression}) <= ${TEXT_KEY_MAX_BYTES} then ${bytes} ` +
    `else decode('ff', 'hex') || sha256(${bytes}) end)`
  );
}

/** `textKeySql` of an expression of Kysely's (a parameter): compared with a `<column>_key` column. */
export function textKey(expression: Expression<unknown>): RawBuilder<Buffer> {
  const bytes = sql`decode(replace(${expression}, E'\\\\', E'\\\\\\\\'), 'escape')`;
  return sql<Buffer>`(case when octet_length(${expression}) <= ${sql.lit(TEXT_KEY_MAX_BYTES)} then ${bytes} else decode('ff', 'hex') || sha256(${bytes}) end)`;
}

/**
 * PostgreSQL: per table, the long text columns and the generated column holding each one's key
 * (migration `0003_text_keys`); the indexes and unique constraints are on the key columns.
 */
export const POSTGRES_TEXT_KEYS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  sessions: {
    stream_id: 'stream_id_key',
    profile_id: 'profile_id_key',
    integration_id: 'integration_id_key',
  },
  session_coupons: { stream_id: 'stream_id_key', code: 'code_key' },
  profile_sessions: { stream_id: 'stream_id_key' },
  customer_profiles: { id: 'id_key', profile_id: 'profile_id_key' },
  sku_analytics: { id: 'id_key' },
  projection_streams: { stream_id: 'stream_id_key' },
};

/** The key column of `table.column` on PostgreSQL, if it has one. */
export function textKeyColumn(table: string, column: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(POSTGRES_TEXT_KEYS, table)
    ? POSTGRES_TEXT_KEYS[table][column]
    : undefined;
}

/** A row read with `select *` without the PostgreSQL key columns (a row as the writers wrote it). In place. */
export function withoutKeyColumns<R extends object>(table: string, row: R): R {
  const keys = Object.prototype.hasOwnProperty.call(POSTGRES_TEXT_KEYS, table)
    ? POSTGRES_TEXT_KEYS[table]
    : {};
  for (const column in keys) delete (row as Record<string, unknown>)[keys[column]];
  return row;
}
