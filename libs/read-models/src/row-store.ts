import type Database from 'better-sqlite3';
import { type Kysely, sql } from 'kysely';
import { isPostgres, type ReadModelTables } from './database';
import { textKeyColumn, textKeySql } from './postgres-text';
import { chunk, selectIn, upsert } from './sql-helpers';

type Table = keyof ReadModelTables;
type Column<T extends Table> = keyof ReadModelTables[T] & string;

/**
 * The few row operations the projection writers need, inside the batch's transaction. The writers
 * only say which rows; how they reach the database depends on where they run:
 * - `kyselyRowStore`: Kysely's query builder — any `Kysely` (rebuild's renamed tables and schemas too);
 * - `sqliteRowStore`: the projector on SQLite, prepared better-sqlite3 statements run directly on the
 *   connection Kysely's transaction holds (no query building per batch, SQLite parses each once);
 * - `postgresRowStore`: the projector on PostgreSQL, a handful of statements per batch whose rows travel
 *   as one JSON or array parameter (`json_populate_recordset`, `= any($1)`) instead of tens of thousands
 *   of bound parameters built into a query tree.
 * All three write the same rows: the read models do not depend on the store.
 */
export interface RowStore {
  /** `SELECT * FROM table WHERE column IN (values) [AND where.column = where.value]` (duplicates allowed). */
  selectIn<T extends Table>(
    table: T,
    column: Column<T>,
    values: readonly string[],
    where?: { column: Column<T>; value: string | number },
  ): Promise<ReadModelTables[T][]>;
  /** Inserts rows, or replaces every non-key column of the rows that exist. All rows have the same keys. */
  upsert<T extends Table>(
    table: T,
    keyColumns: readonly Column<T>[],
    rows: readonly ReadModelTables[T][],
  ): Promise<void>;
  /** `DELETE FROM table WHERE column IN (values) [AND where.column = where.value]`. */
  deleteIn<T extends Table>(
    table: T,
    column: Column<T>,
    values: readonly string[],
    where?: { column: Column<T>; value: string | number },
  ): Promise<void>;
  /** Plain inserts; all rows have the same keys. */
  insert<T extends Table>(table: T, rows: readonly ReadModelTables[T][]): Promise<void>;
}

export function kyselyRowStore(db: Kysely<ReadModelTables>): RowStore {
  // PostgreSQL finds rows by the key columns of long texts (postgres-text.ts), which the builder does not know.
  if (isPostgres(db)) return postgresRowStore(db);
  return {
    selectIn: (table, column, values, where) => selectIn(db, table, column, values, where),
    upsert: (table, keyColumns, rows) => upsert(db, table, keyColumns, rows),
    async deleteIn(table, column, values, where) {
      for (const part of chunk(values, 1000)) {
        let query = db.deleteFrom(table as Table).where(column as never, 'in', part as never);
        if (where) query = query.where(where.column as never, '=', where.value as never);
        await query.execute();
      }
    },
    async insert(table, rows) {
      if (rows.length === 0) return;
      const size = Math.floor(30_000 / Object.keys(rows[0]).length);
      for (const part of chunk(rows, size)) {
        await db
          .insertInto(table)
          .values(part as never)
          .execute();
      }
    },
  };
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/** Table and column names come from the code (`ReadModelTables`), never from data; checked anyway. */
function ident(name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`Not an identifier: ${name}`);
  return `"${name}"`;
}

/** `conflictTarget`: the column `ON CONFLICT (…)` names for a key column (PostgreSQL: its key column). */
function upsertSql(
  table: string,
  columns: readonly string[],
  keyColumns: readonly string[],
  source: string,
  conflictTarget: (column: string) => string = ident,
) {
  const updates = columns
    .filter((c) => !keyColumns.includes(c))
    .map((c) => `${ident(c)} = excluded.${ident(c)}`);
  return (
    `insert into ${ident(table)} (${columns.map(ident).join(', ')}) ${source} ` +
    `on conflict (${keyColumns.map(conflictTarget).join(', ')}) ` +
    (updates.length > 0 ? `do update set ${updates.join(', ')}` : 'do nothing')
  );
}

/**
 * SQLite through the better-sqlite3 handle under Kysely's `SqliteDialect`. Only for use inside a
 * transaction Kysely opened on that handle (Kysely runs one query at a time on its single connection,
 * so nothing interleaves): the statements here are synchronous and join that transaction. A key list
 * is bound as one JSON array (`IN (SELECT value FROM json_each(?))`, which SQLite answers with the key's
 * index like an `IN` list) and rows are written one prepared statement run each.
 */
export function sqliteRowStore(sqlite: Database.Database): RowStore {
  const statements = new Map<string, Database.Statement>();
  const prepare = (source: string) => {
    let statement = statements.get(source);
    if (!statement) {
      statement = sqlite.prepare(source);
      statements.set(source, statement);
    }
    return statement;
  };
  const writeRows = (source: (columns: string[]) => string, rows: readonly object[]) => {
    if (rows.length === 0) return;
    const columns = Object.keys(rows[0]);
    const statement = prepare(source(columns));
    const values: unknown[] = new Array(columns.length);
    for (const row of rows) {
      const record = row as Record<string, unknown>;
      for (let i = 0; i < columns.length; i++) values[i] = record[columns[i]];
      statement.run(values);
    }
  };
  return {
    selectIn(table, column, values, where) {
      if (values.length === 0) return Promise.resolve([]);
      const keys = JSON.stringify([...new Set(values)]);
      const filter = `${ident(column)} in (select value from json_each(?))`;
      if (where) {
        const statement = prepare(
          `select * from ${ident(table)} where ${ident(where.column)} = ? and ${filter}`,
        );
        return Promise.resolve(statement.all(where.value, keys) as ReadModelTables[typeof table][]);
      }
      return Promise.resolve(
        prepare(`select * from ${ident(table)} where ${filter}`).all(keys) as ReadModelTables[typeof table][],
      );
    },
    upsert(table, keyColumns, rows) {
      writeRows(
        (columns) => upsertSql(table, columns, keyColumns, `values (${columns.map(() => '?').join(', ')})`),
        rows,
      );
      return Promise.resolve();
    },
    deleteIn(table, column, values, where) {
      if (values.length > 0) {
        const filter = `${ident(column)} in (select value from json_each(?))`;
        if (where)
          prepare(`delete from ${ident(table)} where ${ident(where.column)} = ? and ${filter}`).run(
            where.value,
            JSON.stringify(values),
          );
        else prepare(`delete from ${ident(table)} where ${filter}`).run(JSON.stringify(values));
      }
      return Promise.resolve();
    },
    insert(table, rows) {
      writeRows(
        (columns) =>
          `insert into ${ident(table)} (${columns.map(ident).join(', ')}) values (${columns.map(() => '?').join(', ')})`,
        rows,
      );
      return Promise.resolve();
    },
  };
}

/** Rows per statement on PostgreSQL: one JSON parameter each (a batch's sessions are a few MiB of it). */
const POSTGRES_ROWS_PER_STATEMENT = 2_000;

/**
 * `column` equal to one of `keys`. Where the column has a key column (postgres-text.ts), by the key —
 * what its index is on — and by the text: `key = any(array(keys' keys))`, which PostgreSQL answers with
 * an index scan whatever its statistics (a join on the keys was planned as a hash join over the whole
 * table while the statistics lagged behind a fast-growing table, hashing every row).
 */
function inKeys(table: string, column: string, keys: readonly string[]) {
  const key = textKeyColumn(table, column);
  const text = sql`${sql.ref(column)} = any(${keys}::text[])`;
  if (key === undefined) return text;
  return sql`${sql.ref(key)} = any(array(select ${sql.raw(textKeySql('k'))} from unnest(${keys}::text[]) as k)) and ${text}`;
}

/**
 * PostgreSQL inside a Kysely transaction (the tables are found through the connection's `search_path`).
 * Rows go as one JSON array per statement, turned into rows of the table's own type by
 * `json_populate_recordset(null::table, $1)` — text, integers and decimal strings land in their
 * columns exactly as bound parameters would; key lists go as one text array. Long text columns are
 * found, and kept unique, by their generated key columns (never written here); `selectIn` returns those
 * too. The rows hold no U+0000: the writers see the events with it read as U+FFFD (postgres-text.ts).
 */
export function postgresRowStore(trx: Kysely<ReadModelTables>): RowStore {
  return {
    async selectIn(table, column, values, where) {
      const keys = [...new Set(values)];
      if (keys.length === 0) return [];
      const filter = where ? sql`${sql.ref(where.column)} = ${where.value} and ` : sql``;
      const result = await sql<
        ReadModelTables[typeof table]
      >`select * from ${sql.table(table)} where ${filter}${inKeys(table, column, keys)}`.execute(trx);
      return result.rows;
    },
    async upsert(table, keyColumns, rows) {
      const target = (column: string) => ident(textKeyColumn(table, column) ?? column);
      await jsonRows(trx, table, rows, (columns, source) =>
        upsertSql(table, columns, keyColumns, source, target),
      );
    },
    async deleteIn(table, column, values, where) {
      if (values.length === 0) return;
      const filter = where ? sql`${sql.ref(where.column)} = ${where.value} and ` : sql``;
      await sql`delete from ${sql.table(table)} where ${filter}${inKeys(table, column, [...new Set(values)])}`.execute(
        trx,
      );
    },
    async insert(table, rows) {
      await jsonRows(
        trx,
        table,
        rows,
        (columns, source) => `insert into ${ident(table)} (${columns.map(ident).join(', ')}) ${source}`,
      );
    },
  };
}

async function jsonRows(
  trx: Kysely<ReadModelTables>,
  table: string,
  rows: readonly object[],
  statement: (columns: string[], source: string) => string,
): Promise<void> {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]);
  const source = `select ${columns.map(ident).join(', ')} from json_populate_recordset(null::${ident(table)}, `;
  const [before, after] = statement(columns, `${source}\u0000)`).split('\u0000');
  for (const part of chunk(rows, POSTGRES_ROWS_PER_STATEMENT)) {
    await sql`${sql.raw(before)}${JSON.stringify(part)}::json${sql.raw(after)}`.execute(trx);
  }
}
