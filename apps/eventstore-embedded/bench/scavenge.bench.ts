/**
 * What a scavenge frees of Idempotency-Key records: N record streams written as IdempotencyStore writes them
 * (`$maxAge` 24 h in `$$idempotency-…`, then one ~2.5 KB record appended with no_stream), the store's clock moved
 * 25 h on, one scavenge; then the same records tombstoned and scavenged again. Prints rows removed and the
 * file's pages (PRAGMA page_count / freelist_count, 4 KiB each).
 *   node -r ./tools/register.js apps/eventstore-embedded/bench/scavenge.bench.ts [N]
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EventStoreDBClient, jsonEvent, NO_STREAM } from '@eventstore/db-client';
import Database from 'better-sqlite3';
import { startEmbeddedEventStore } from '../src';

const N = Number(process.argv[2] ?? 3000);

function fileStats(dataDir: string) {
  const db = new Database(path.join(dataDir, 'eventstore.sqlite'), { readonly: true });
  try {
    const rows = db.prepare('SELECT count(*) FROM events').pluck().get() as number;
    const pages = db.pragma('page_count', { simple: true }) as number;
    const free = db.pragma('freelist_count', { simple: true }) as number;
    return { rows, pages, freePages: free, bytes: fs.statSync(path.join(dataDir, 'eventstore.sqlite')).size };
  } finally {
    db.close();
  }
}

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'es-scavenge-bench-'));
  const clock = { offsetMs: 0 };
  const start = () =>
    startEmbeddedEventStore({
      port: 0,
      silent: true,
      dataDir,
      synchronous: 'NORMAL',
      scavengeIntervalMs: 0,
      now: () => Date.now() + clock.offsetMs,
    });
  let es = await start();
  let client = EventStoreDBClient.connectionString(es.connectionString);
  const streams = Array.from(
    { length: N },
    (_, i) => `idempotency-1-${crypto.createHash('sha256').update(String(i)).digest('hex')}`,
  );
  const body = { sessionId: 'x'.repeat(36), cart: 'y'.repeat(2300) };
  for (let i = 0; i < N; i += 50) {
    await Promise.all(
      streams.slice(i, i + 50).map(async (stream) => {
        await client.setStreamMetadata(stream, { maxAge: 86400 });
        await client.appendToStream(
          stream,
          jsonEvent({
            type: 'IdempotentResponseRecorded',
            data: { status: 200, body, requestHash: 'h'.repeat(64) },
          }),
          { expectedRevision: NO_STREAM },
        );
      }),
    );
  }
  await client.dispose();
  await es.close();
  const written = fileStats(dataDir);
  console.log(`${N} records written:`, written);

  es = await start();
  client = EventStoreDBClient.connectionString(es.connectionString);
  clock.offsetMs = 25 * 60 * 60 * 1000;
  const aged = await es.scavenge!();
  console.log('scavenge with every record 25 h old:', aged);
  for (let i = 0; i < N; i += 50)
    await Promise.all(streams.slice(i, i + 50).map((s) => client.tombstoneStream(s)));
  const tombstoned = await es.scavenge!();
  console.log('scavenge after tombstoning them:', tombstoned);
  // Long streams trimmed by `$maxCount`: the transactions are bounded by their deletes.
  for (let s = 0; s < 5; s++) {
    await client.setStreamMetadata(`trimmed-${s}`, { maxCount: 1 });
    for (let i = 0; i < 2000; i += 100)
      await client.appendToStream(
        `trimmed-${s}`,
        Array.from({ length: 100 }, () => jsonEvent({ type: 'SessionEvent', data: body })),
      );
  }
  console.log('scavenge of 5 streams of 2,000 events with $maxCount 1:', await es.scavenge!());
  await client.dispose();
  await es.close();
  console.log('file after:', fileStats(dataDir));
  fs.rmSync(dataDir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
