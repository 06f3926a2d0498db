import { type Kysely, type Migration, Migrator, sql } from 'kysely';
import type { SqlDialectName } from './database';
import { normalize, sortKey } from './money';
import { textKeySql } from './postgres-text';

/**
 * Schema changes, in code so they ship with the build and run at start-up (Kysely's Migrator
 * takes a lock, so an API and a projector starting together apply them once).
 */
export function readModelMigrations(dialect: SqlDialectName): Record<string, Migration> {
  const money = dialect === 'postgres' ? sql`numeric` : sql`text`;
  // Sort keys compare byte-wise on both databases, whatever PostgreSQL's default collation is.
  const sortable = dialect === 'postgres' ? sql`text collate "C"` : sql`text`;
  const bigint = dialect === 'postgres' ? sql`bigint` : sql`integer`;

  return {
    '0001_read_models': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('projection_checkpoints')
          .addColumn('projection', 'text', (c) => c.primaryKey())
          .addColumn('position', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('projection_streams')
          .addColumn('projection', 'text', (c) => c.notNull())
          .addColumn('stream_id', 'text', (c) => c.notNull())
          .addColumn('revision', 'integer', (c) => c.notNull())
          .addPrimaryKeyConstraint('projection_streams_pk', ['projection', 'stream_id'])
          .execute();

        await db.schema
          .createTable('sessions')
          .addColumn('stream_id', 'text', (c) => c.primaryKey())
          .addColumn('id', bigint, (c) => c.notNull().unique())
          .addColumn('application_id', 'integer', (c) => c.notNull())
          .addColumn('integration_id', 'text', (c) => c.notNull())
          .addColumn('integration_id_lc', 'text', (c) => c.notNull())
          .addColumn('profile_id', 'text', (c) => c.notNull())
          .addColumn('profile_id_lc', 'text', (c) => c.notNull())
          .addColumn('store_integration_id', 'text')
          .addColumn('store_integration_id_lc', 'text')
          .addColumn('referral_code', 'text', (c) => c.notNull())
          .addColumn('referral_code_lc', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('created', sortable, (c) => c.notNull())
          .addColumn('updated', sortable, (c) => c.notNull())
          .addColumn('total', money, (c) => c.notNull())
          .addColumn('total_key', sortable, (c) => c.notNull())
          .addColumn('revision', 'integer', (c) => c.notNull())
          .addColumn('state_json', 'text', (c) => c.notNull())
          .addColumn('session_json', 'text', (c) => c.notNull())
          .execute();
        for (const column of ['created', 'updated', 'total_key', 'profile_id', 'integration_id', 'state']) {
          await db.schema
            .createIndex(`sessions_app_${column}_idx`)
            .on('sessions')
            .columns(['application_id', column, 'id'])
            .execute();
        }
        await db.schema
          .createTable('session_coupons')
          .addColumn('stream_id', 'text', (c) => c.notNull())
          .addColumn('application_id', 'integer', (c) => c.notNull())
          .addColumn('code', 'text', (c) => c.notNull())
          .addColumn('code_lc', 'text', (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('session_coupons_stream_idx')
          .on('session_coupons')
          .column('stream_id')
          .execute();
        await db.schema
          .createIndex('session_coupons_code_idx')
          .on('session_coupons')
          .columns(['application_id', 'code'])
          .execute();

        await db.schema
          .createTable('profile_sessions')
          .addColumn('stream_id', 'text', (c) => c.primaryKey())
          .addColumn('application_id', 'integer', (c) => c.notNull())
          .addColumn('integration_id', 'text', (c) => c.notNull())
          .addColumn('profile_id', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('counted_sales', money, (c) => c.notNull())
          .addColumn('first_session', 'integer', (c) => c.notNull())
          .addColumn('last_activity', 'text', (c) => c.notNull())
          .addColumn('revision', 'integer', (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('customer_profiles')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('application_id', 'integer', (c) => c.notNull())
          .addColumn('profile_id', 'text', (c) => c.notNull())
          .addColumn('session_count', 'integer', (c) => c.notNull())
          .addColumn('closed_sessions', 'integer', (c) => c.notNull())
          .addColumn('total_sales', money, (c) => c.notNull())
          .addColumn('first_session_integration_id', 'text')
          .addColumn('last_activity', 'text')
          .addUniqueConstraint('customer_profiles_app_profile_uq', ['application_id', 'profile_id'])
          .execute();

        await db.schema
          .createTable('daily_analytics')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('application_id', 'integer', (c) => c.notNull())
          .addColumn('date', sortable, (c) => c.notNull())
          .addColumn('sessions_created', 'integer', (c) => c.notNull())
          .addColumn('sessions_closed', 'integer', (c) => c.notNull())
          .addColumn('sessions_cancelled', 'integer', (c) => c.notNull())
          .addColumn('sessions_reopened', 'integer', (c) => c.notNull())
          .addColumn('items_returned', 'integer', (c) => c.notNull())
          .addColumn('gross_revenue', money, (c) => c.notNull())
          .addColumn('returned_value', money, (c) => c.notNull())
          .addColumn('reversed_revenue', money, (c) => c.notNull())
          .addColumn('net_revenue', money, (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('daily_analytics_app_date_idx')
          .on('daily_analytics')
          .columns(['application_id', 'date'])
          .execute();
        await db.schema
          .createTable('sku_analytics')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('application_id', 'integer', (c) => c.notNull())
          .addColumn('sku', 'text', (c) => c.notNull())
          .addColumn('date', sortable, (c) => c.notNull())
          .addColumn('quantity_sold', 'integer', (c) => c.notNull())
          .addColumn('quantity_returned', 'integer', (c) => c.notNull())
          .addColumn('revenue', money, (c) => c.notNull())
          .execute();
        await db.schema
          .createIndex('sku_analytics_app_date_idx')
          .on('sku_analytics')
          .columns(['application_id', 'date'])
          .execute();
      },
    },
    '0002_projector_lock': {
      // The SQLite projector's lease (projector-lock.ts); PostgreSQL uses an advisory lock instead.
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('projector_lock')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('owner', 'text', (c) => c.notNull())
          .addColumn('pid', 'integer', (c) => c.notNull())
          .addColumn('host', 'text', (c) => c.notNull())
          .addColumn('heartbeat', bigint, (c) => c.notNull())
          .execute();
      },
    },
    '0003_text_keys': {
      // PostgreSQL: a b-tree entry holds at most 2704 bytes, and stream names, profile ids, integration
      // ids, SKUs (and the keys made of them) reach ~4000 (1000 code points of 4-byte UTF-8). Each such
      // column gets a generated column `<column>_key` — its UTF-8 bytes when short, their SHA-256 when
      // long, at most 256 bytes (`textKeySql`, postgres-text.ts) — and the unique constraints and indexes
      // move onto the key columns; queries compare the key and the text. Existing rows stay (the tables are rewritten once to fill the key columns, under an
      // exclusive lock). SQLite: no such limit, nothing changes.
      async up(db: Kysely<unknown>) {
        if (dialect !== 'postgres') return;
        const run = (query: string) => sql.raw(query).execute(db);
        const key = (column: string) =>
          `add column ${column}_key bytea not null generated always as (${textKeySql(column)}) stored`;
        await run(
          `alter table sessions drop constraint if exists sessions_pkey, ${key('stream_id')}, ` +
            `${key('profile_id')}, ${key('integration_id')}`,
        );
        await run('drop index if exists sessions_app_profile_id_idx');
        await run('drop index if exists sessions_app_integration_id_idx');
        await run('create unique index sessions_stream_key_uq on sessions (stream_id_key)');
        await run(
          'create index sessions_app_profile_key_idx on sessions (application_id, profile_id_key, id)',
        );
        await run(
          'create index sessions_app_integration_key_idx on sessions (application_id, integration_id_key, id)',
        );

        await run(`alter table session_coupons ${key('stream_id')}, ${key('code')}`);
        await run('drop index if exists session_coupons_stream_idx');
        await run('drop index if exists session_coupons_code_idx');
        await run('create index session_coupons_stream_key_idx on session_coupons (stream_id_key)');
        await run(
          'create index session_coupons_app_code_key_idx on session_coupons (application_id, code_key)',
        );

        await run(
          `alter table profile_sessions drop constraint if exists profile_sessions_pkey, ${key('stream_id')}`,
        );
        await run('create unique index profile_sessions_stream_key_uq on profile_sessions (stream_id_key)');

        await run(
          'alter table customer_profiles drop constraint if exists customer_profiles_pkey, ' +
            `drop constraint if exists customer_profiles_app_profile_uq, ${key('id')}, ${key('profile_id')}`,
        );
        await run('create unique index customer_profiles_id_key_uq on customer_profiles (id_key)');
        await run(
          'create unique index customer_profiles_app_profile_key_uq on customer_profiles (application_id, profile_id_key)',
        );

        await run(`alter table sku_analytics drop constraint if exists sku_analytics_pkey, ${key('id')}`);
        await run('create unique index sku_analytics_id_key_uq on sku_analytics (id_key)');

        await run(
          `alter table projection_streams drop constraint if exists projection_streams_pk, ${key('stream_id')}`,
        );
        await run(
          'create unique index projection_streams_stream_key_uq on projection_streams (projection, stream_id_key)',
        );
      },
    },
    '0004_exact_total_keys': {
      // Sort keys used to cut totals at 12 decimal places, so totals closer than 1e-12 tied (and sorted by id),
      // and sorted totals of 1e24 and more among smaller ones. Keys are unchanged for every other total: only
      // those rows are rewritten.
      async up(db: Kysely<unknown>) {
        const longer =
          dialect === 'postgres'
            ? sql`scale(total) > 12 or abs(total) >= 1e24`
            : sql`total like '%e%' or (instr(total, '.') > 0 and length(total) - instr(total, '.') > 12)
                or abs(cast(total as real)) >= 1e24`;
        const { rows } = await sql<{ stream_id: string; total: string }>`
          select stream_id, cast(total as text) as total from sessions where ${longer}`.execute(db);
        for (let start = 0; start < rows.length; start += 500) {
          const values = rows
            .slice(start, start + 500)
            .map((row) => sql`(${row.stream_id}, ${sortKey(normalize(row.total))})`);
          await sql`with v (stream_id, total_key) as (values ${sql.join(values)})
            update sessions set total_key = (select v.total_key from v where v.stream_id = sessions.stream_id)
            where stream_id in (select stream_id from v)`.execute(db);
        }
      },
    },
    '0005_profile_sessions_by_profile': {
      // An erasure (a session stream's tombstone) brings a profile that keeps other sessions to what those sessions'
      // rows say, and finds them by profile id: without an index, a scan of every profile's sessions inside the
      // projector's batch. PostgreSQL: a hash index, since a profile id may be longer than a b-tree entry holds
      // (see 0003) — it answers `profile_id = any(…)` through a bitmap scan. Built once, at this upgrade (a scan of
      // the table that holds back the projector's writes meanwhile).
      async up(db: Kysely<unknown>) {
        if (dialect === 'postgres') {
          await sql
            .raw(
              'create index if not exists profile_sessions_profile_hash_idx on profile_sessions using hash (profile_id)',
            )
            .execute(db);
        } else {
          await db.schema
            .createIndex('profile_sessions_profile_idx')
            .ifNotExists()
            .on('profile_sessions')
            .column('profile_id')
            .execute();
        }
      },
    },
  };
}

export async function migrateToLatest(
  db: Kysely<any>, // eslint-disable-line @typescript-eslint/no-explicit-any -- the migrator is schema-agnostic
  dialect: SqlDialectName,
  schema?: string,
): Promise<number> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => readModelMigrations(dialect) },
    // Kysely looks for its migration tables in every schema unless told which one is ours.
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  let { error, results } = await migrator.migrateToLatest();
  // Kysely's migrator first looks through the tables of every schema; one that another process drops meanwhile
  // (a `replay rebuild` retiring its old copy, another deployment's schema) fails that look (`droppedMeanwhile`),
  // though it is not ours. Looked at again, it is gone from the catalog.
  for (let attempt = 1; attempt < 10 && droppedMeanwhile(error, schema); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
    ({ error, results } = await migrator.migrateToLatest());
  }
  const failed = results?.find((result) => result.status === 'Error');
  if (error || failed) {
    // Kysely names the failed migration only when one ran; otherwise (its own tables could not be read or made)
    // the error says what failed.
    const which = failed === undefined ? 'of the read models' : failed.migrationName;
    throw new Error(`Read-model migration ${which} failed: ${String(error)}`, { cause: error });
  }
  return results?.filter((result) => result.status === 'Success').length ?? 0;
}

/**
 * What another process dropping a schema of its own meanwhile fails Kysely's look at every schema's tables with,
 * naming that schema, not `ours`: PostgreSQL's 3F000 (invalid_schema_name, `schema "…" does not exist`), or
 * 42P01 (undefined_table, `relation "schema.table" does not exist`: a table of it the look had listed, gone when
 * its columns were read).
 */
export function droppedMeanwhile(error: unknown, ours: string | undefined): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  const message = (error as Error | undefined)?.message ?? '';
  const named =
    code === '3F000'
      ? /schema "([^"]+)" does not exist/.exec(message)?.[1]
      : code === '42P01'
        ? /relation "([^".]+)\.[^"]+" does not exist/.exec(message)?.[1]
        : undefined;
  return named !== undefined && named !== ours;
}
