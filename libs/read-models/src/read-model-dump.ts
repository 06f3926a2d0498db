import type { ReadModelDb, ReadModelTables } from './database';
import { normalize } from './money';
import { withoutKeyColumns } from './postgres-text';

const TABLES: { table: keyof ReadModelTables; order: string[]; money: string[] }[] = [
  { table: 'sessions', order: ['stream_id'], money: ['total'] },
  { table: 'session_coupons', order: ['stream_id', 'code'], money: [] },
  { table: 'profile_sessions', order: ['stream_id'], money: ['counted_sales'] },
  { table: 'customer_profiles', order: ['id'], money: ['total_sales'] },
  {
    table: 'daily_analytics',
    order: ['id'],
    money: ['gross_revenue', 'returned_value', 'reversed_revenue', 'net_revenue'],
  },
  { table: 'sku_analytics', order: ['id'], money: ['revenue'] },
  { table: 'projection_streams', order: ['projection', 'stream_id'], money: [] },
];

/**
 * Every read-model row, in key order, with money in canonical decimal form and ids as numbers, without
 * PostgreSQL's generated key columns: two databases holding the same read models dump equal (the crash
 * test and `verify` rely on it).
 */
export async function dumpReadModels(db: ReadModelDb): Promise<Record<string, Record<string, unknown>[]>> {
  const dump: Record<string, Record<string, unknown>[]> = {};
  for (const { table, order, money } of TABLES) {
    let query = db.selectFrom(table).selectAll();
    for (const column of order) query = query.orderBy(column as never);
    const rows = (await query.execute()) as Record<string, unknown>[];
    dump[table] = rows.map((row) => {
      const copy: Record<string, unknown> = withoutKeyColumns(table, { ...row });
      for (const column of money) copy[column] = normalize(copy[column] as string);
      if ('id' in copy && table === 'sessions') copy.id = Number(copy.id);
      return copy;
    });
  }
  return dump;
}
