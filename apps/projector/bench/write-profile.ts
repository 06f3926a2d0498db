/**
 * The read-model writes alone, without an event store: the bench's workload folded into PostgreSQL or
 * SQLite in batches, for profiling (`node --cpu-prof -r ./tools/register.js apps/projector/bench/write-profile.ts sqlite`).
 */
import { openReadModelDatabase, type ProjectedEvent, ReadModelWriter } from '@session-engine/read-models';
import { postgresTestDatabase, sqliteTestDatabase } from '@session-engine/read-models/testing/test-databases';
import os from 'node:os';
import { workload } from '../src/testing/workload';

async function main() {
  const name = process.argv[2] ?? 'sqlite';
  const batch = Number(process.argv[3] ?? 2000);
  const total = Number(process.argv[4] ?? 100_000);
  const events: ProjectedEvent[] = workload(Math.ceil(total / 4.5)).flatMap((h) => h.events);
  const database = name === 'postgres' ? postgresTestDatabase() : sqliteTestDatabase();
  const rm = await openReadModelDatabase(database.options());
  const writer = await ReadModelWriter.open(rm.db);
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (let i = 0; i < events.length; i += batch) {
    const part = events.slice(i, i + batch);
    await writer.apply(part, part[part.length - 1].position);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  console.log(
    `${name} batch ${batch}: ${events.length} events in ${seconds.toFixed(2)} s = ${Math.round(events.length / seconds)}/s, ` +
      `CPU ${((used.user + used.system) / events.length).toFixed(1)} µs/event, load ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  await rm.close();
  await database.drop();
}
main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
