/**
 * An event store whose disk is full (here: its log at SQLite's `max_page_count`, which fails writes with the
 * same "database or disk is full"). Every write fails there; what a client gets is a 503 saying the store failed
 * with an error of its own and that the outcome is unknown, with `Retry-After` for a keyed command (a retry with
 * the key is applied at most once) — it was a bare 500 `INTERNAL_ERROR`. Nothing acknowledged is lost, and once
 * there is room again, the keyed retries are applied, each once.
 */
import type { INestApplication } from '@nestjs/common';
import { EsdbClientAdapter } from '@session-engine/event-store';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { startEmbeddedEventStore, type EmbeddedEventStore } from '../apps/eventstore-embedded/src';
import { createSessionApi } from '../apps/session-api/src/app.factory';
import { ApiKeys } from '../apps/session-api/src/config/api-keys.provider';
import { parseConfig } from '../apps/session-api/src/config/config';

jest.setTimeout(120_000);

const KEY = 'int-key-full-0001';
type LogLine = Record<string, unknown> & { level: number; msg: string };

describe('an event store with a full disk', () => {
  let dataDir: string;
  let store: EmbeddedEventStore | undefined;
  let adapter: EsdbClientAdapter | undefined;
  let app: INestApplication | undefined;
  let baseUrl: string;
  const log: LogLine[] = [];

  const start = async (maxLogPages?: number) => {
    store = await startEmbeddedEventStore({
      port: 0,
      dataDir: join(dataDir, 'eventstore'),
      silent: true,
      ...(maxLogPages === undefined ? {} : { maxLogPages }),
    });
    const config = parseConfig({
      PORT: '0',
      DATA_DIR: dataDir,
      INTEGRATION_API_KEYS: `${KEY}=1`,
      MANAGEMENT_API_KEYS: 'mgmt-key-full-0001=*',
      PROJECTOR_IN_PROCESS: 'false',
    });
    adapter = EsdbClientAdapter.connect(store.connectionString);
    app = await createSessionApi({
      config,
      keys: new ApiKeys(config.integrationKeys!, config.managementKeys!),
      store: adapter,
      logger: pino(
        { level: 'warn' },
        { write: (line: string) => void log.push(JSON.parse(line) as LogLine) },
      ),
    });
    await app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  };
  const stop = async () => {
    await app?.close();
    await adapter?.close();
    await store?.close();
  };
  const put = async (id: string, key: string) => {
    const response = await fetch(`${baseUrl}/v2/customer_sessions/${id}`, {
      method: 'PUT',
      headers: {
        authorization: `ApiKey-v1 ${KEY}`,
        'content-type': 'application/json',
        'idempotency-key': key,
      },
      body: JSON.stringify({
        customerSession: {
          attributes: { note: 'x'.repeat(2_000) },
          cartItems: [{ sku: 'sku-1', quantity: 2, price: 9.5 }],
        },
      }),
    });
    const text = await response.text();
    return {
      status: response.status,
      body: JSON.parse(text),
      retryAfter: response.headers.get('retry-after'),
    };
  };

  beforeAll(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'event-store-full-e2e-'));
  });
  afterAll(async () => {
    await stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('answers 503 saying the outcome is unknown, never 500; loses nothing; applies each keyed retry once when there is room again', async () => {
    await start();
    expect((await put('before-0', 'key-before-0')).status).toBe(200);
    await stop();
    const pages = Math.ceil(statSync(join(dataDir, 'eventstore', 'eventstore.sqlite')).size / 4096);
    await start(pages + 8);

    const accepted: string[] = [];
    const refused: string[] = [];
    for (let i = 0; i < 60 && refused.length < 5; i++) {
      const reply = await put(`full-${i}`, `key-full-${i}`);
      if (reply.status === 200) {
        accepted.push(`full-${i}`);
        continue;
      }
      expect({ status: reply.status, retryAfter: reply.retryAfter, body: reply.body }).toEqual({
        status: 503,
        retryAfter: '5',
        body: expect.objectContaining({
          message: expect.stringContaining('The event store failed with an error of its own'),
          errors: [
            expect.objectContaining({
              title: 'SERVICE_UNAVAILABLE',
              details: expect.stringMatching(
                /the outcome of this command is unknown .*Retrying it with the same Idempotency-Key and body is safe/,
              ),
            }),
          ],
        }),
      });
      refused.push(`full-${i}`);
    }
    expect(refused).toHaveLength(5);
    // One warn line for the failing writes, not one per 503, and not "not reachable": the store answers.
    expect(log.filter((line) => line.msg.includes('answering 503'))).toEqual([
      expect.objectContaining({
        level: 40,
        msg: 'event store failing writes: answering 503 (its own log says why)',
        dependency: 'event-store-writes',
        error: 'EventStoreWriteFailedError',
      }),
    ]);

    // Room again: what was acknowledged is there, and every refused request, retried with its key, is applied once.
    await stop();
    await start();
    for (const id of ['before-0', ...accepted]) {
      const response = await fetch(`${baseUrl}/v2/customer_sessions/${id}`, {
        headers: { authorization: `ApiKey-v1 ${KEY}` },
      });
      expect({ id, status: response.status }).toEqual({ id, status: 200 });
    }
    for (const id of refused) {
      const first = await put(id, `key-${id}`);
      const again = await put(id, `key-${id}`);
      expect({ id, first: first.status, again: again.status }).toEqual({ id, first: 200, again: 200 });
      expect(again.body).toEqual(first.body);
      const events = await adapter!.readStream(`session-1-${id}`);
      expect(events.map((event) => event.type)).toEqual(['SessionCreated']);
    }
  });
});
