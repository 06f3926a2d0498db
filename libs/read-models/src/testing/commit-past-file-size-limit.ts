/**
 * Run by read-model-writer.full.int-spec.ts in a child process whose files may not grow past a limit (`ulimit -f`,
 * with SIGXFSZ ignored): the write of the WAL at COMMIT then fails as on a full disk, after every statement of the
 * batch succeeded in the page cache. Applies a small batch, then one too large for the limit, and prints what the
 * second apply threw and what the database kept, as one JSON line.
 */
import { classifyBatchError } from '../../../../apps/projector/src/batch-failures';
import { openReadModelDatabase } from '../database';
import { ReadModelWriter } from '../read-model-writer';
import { item, SessionHistory } from './session-history';

const AT = '2025-03-01T10:00:00.000Z';

async function main(dataDir: string) {
  const rm = await openReadModelDatabase({ dataDir });
  const writer = await ReadModelWriter.open(rm.db);
  const first = new SessionHistory(1, 'first', 1).created(AT, { cartItems: [item('A', 1, '1')] });
  await writer.apply(first.events, first.events.at(-1)!.position);
  const large = new SessionHistory(1, 'large', 2).created(AT, {
    attributes: { note: 'x'.repeat(3_000_000) },
    cartItems: [item('B', 1, '1')],
  });
  const failure = (await writer.apply(large.events, large.events.at(-1)!.position).then(
    () => undefined,
    (error: unknown) => error,
  )) as { code?: string; message?: string } | undefined;
  const rows = await rm.db.selectFrom('sessions').select('integration_id').execute();
  process.stdout.write(
    JSON.stringify({
      code: failure?.code,
      message: failure?.message,
      kind: failure === undefined ? undefined : classifyBatchError(failure),
      resumePosition: String(writer.resumePosition()),
      firstPosition: String(first.events.at(-1)!.position),
      rows: rows.map((row) => row.integration_id),
    }) + '\n',
  );
  await rm.close();
}

void main(process.argv[2]!);
