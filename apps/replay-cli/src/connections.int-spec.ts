/**
 * A connection string without `tls=false` to a store without TLS (the embedded one): the client connects with TLS,
 * which that store never answers, and the command refuses with the hint that says so.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedEventStore, type EmbeddedEventStore } from '../../eventstore-embedded/src';
import { replayCli } from './testing/run-cli';

jest.setTimeout(30_000);

let dataDir: string;
let store: EmbeddedEventStore;
beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'replay-tls-'));
  store = await startEmbeddedEventStore({ port: 0, dataDir, silent: true });
});
afterAll(async () => {
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
});

it('history against the embedded store without ?tls=false: exit 2, saying TLS is on and what string reaches it', async () => {
  const address = `esdb://127.0.0.1:${store.port}`;
  const run = await replayCli({ EVENTSTORE_CONNECTION_STRING: address, DATA_DIR: dataDir })([
    'history',
    'cart-1',
    '-a',
    '1',
  ]);
  expect({ code: run.code, stdout: run.stdout, stderr: run.stderr }).toEqual({
    code: 2,
    stdout: '',
    stderr:
      `session-replay: No event store answers at ${address}: check EVENTSTORE_CONNECTION_STRING. TLS is on by ` +
      'default and the connection string does not set tls: a store without TLS (the embedded one, or EventStoreDB ' +
      `started with --insecure) needs tls=false (${address}?tls=false).\n`,
  });
  // The string the hint gives reaches it.
  const fixed = await replayCli({ EVENTSTORE_CONNECTION_STRING: `${address}?tls=false`, DATA_DIR: dataDir })([
    'history',
    'cart-1',
    '-a',
    '1',
  ]);
  expect(fixed.stderr).not.toContain('No event store answers');
});
