import { type Kysely, sql } from 'kysely';
import type { ReadModelTables } from './database';

type Table = keyof ReadModelTables;
// SQLite allows 32 766 bound parameters per statement, PostgreSQL 65 535.
const MAX_PARAMETERS = 30_000;

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/** Inserts rows, or replaces every non-key column of the rows that exist (`ON CONFLICT … DO UPDATE`). */
export async function upsert<T extends Table>(
  db: Kysely<ReadModelTables>,
  table: T,
  keyColumns: readonly (keyof ReadModelTables[T] & string)[],
  rows: readonly ReadModelTables[T][],
): Promise<void> {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]);
  const updates = Object.fromEntries(
    columns.filter((c) => !keyColumns.includes(c as never)).map((c) => [c, sql.ref(`excluded.${c}`)]),
  );
  for (const part of chunk(rows, Math.floor(MAX_PARAMETERS / columns.length))) {
    await db
      .insertInto(table)
      .values(part as never)
      .onConflict((oc) => oc.columns(keyColumns as never).doUpdateSet(updates as never))
      .execute();
  }
}

/** `SELECT * FROM table WHERE column IN (values)`, in chunks. */
export async function selectIn<T extends Table>(
  db: Kysely<ReadModelTables>,
  table: T,
  column: keyof ReadModelTables[T] & string,
  values: readonly string[],
  where?: { column: keyof ReadModelTables[T] & string; value: string | number },
): Promise<ReadModelTables[T][]> {
  const rows: ReadModelTables[T][] = [];
  for (const part of chunk([...new Set(values)], 1000)) {
    let query = db
      .selectFrom(table as Table)
      .selectAll()
      .where(column as never, 'in', part as never);
    if (where) query = query.where(where.column as never, '=', where.value as never);
    rows.push(...((await query.execute()) as unknown as ReadModelTables[T][]));
  }
  return rows;
}
