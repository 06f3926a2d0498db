import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { openReadModelDatabase } from './database';
import { TEST_DATABASE_URL } from './testing/test-databases';

/**
 * Opening the read models while another process drops a schema of its own in the same database (a `replay
 * rebuild` retiring its old copy, another deployment): the migrator looks through every schema's tables first,
 * and a schema dropped during that look failed the opening with "schema … does not exist", though not ours.
 */
describe('opening PostgreSQL read models while other schemas come and go', () => {
  it('opens and migrates every time', async () => {
    const admin = new Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    const ours = Array.from({ length: 30 }, () => `rm_open_${randomBytes(5).toString('hex')}`);
    let churning = true;
    // Another process: schemas with a table each, created and dropped again and again.
    const churn = (async () => {
      for (let i = 0; churning; i++) {
        const other = `rm_churn_${randomBytes(5).toString('hex')}`;
        await admin.query(`create schema ${other}; create table ${other}.t${i} (id serial primary key)`);
        await admin.query(`drop schema ${other} cascade`);
        // Far more often than any deployment drops a schema, but not without pause.
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const failures: string[] = [];
    try {
      for (const schema of ours) {
        try {
          const database = await openReadModelDatabase({ databaseUrl: TEST_DATABASE_URL, schema });
          await database.close();
        } catch (error) {
          failures.push((error as Error).message);
        }
      }
    } finally {
      churning = false;
      await churn;
      for (const schema of ours) await admin.query(`drop schema if exists ${schema} cascade`);
      await admin.end();
    }
    expect(failures).toEqual([]);
  }, 60_000);
});
