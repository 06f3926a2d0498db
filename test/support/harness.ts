/**
 * Runs the whole API in this process for e2e tests and the benchmark: the embedded event store on an
 * ephemeral port with a temporary DATA_DIR (or the external server named by EVENTSTORE_CONNECTION_STRING, see
 * libs/testing/src/event-store.ts), the Nest app on another ephemeral port. `restart()` stops both and starts
 * them again on the same data, as a process restart would.
 */
import type { INestApplication } from '@nestjs/common';
import { EsdbClientAdapter } from '@session-engine/event-store';
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { startTestEventStore, type TestEventStore } from '@session-engine/testing/event-store';
import { createSessionApi } from '../../apps/session-api/src/app.factory';
import { ApiKeys } from '../../apps/session-api/src/config/api-keys.provider';
import { parseConfig } from '../../apps/session-api/src/config/config';
import type { MetricsService } from '../../apps/session-api/src/operations/metrics.service';

export const KEY_APP1 = 'test-integration-key-app1';
export const KEY_APP2 = 'test-integration-key-app2';
export const MANAGEMENT_KEY = 'test-management-key-all';

/** A log line as pino writes it. */
export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

export interface HarnessOptions {
  /** Configuration added to the harness's own (keys of applications 1 and 2, a management key for all). */
  env?: Record<string, string>;
  /** Where the API's log lines go, parsed, at `info` (by default it logs nothing). */
  log?: LogLine[];
  /** The API's metrics registry, for a test that reads it. */
  metrics?: MetricsService;
}

export class ApiHarness {
  baseUrl = '';
  store!: EsdbClientAdapter;
  private app?: INestApplication;
  private eventStore?: TestEventStore;

  private constructor(
    readonly dataDir: string,
    private readonly options: HarnessOptions,
  ) {}

  /** The embedded store's connection string, for a test that writes with the client itself. */
  get connectionString(): string {
    return this.eventStore!.connectionString;
  }

  static async start(options: HarnessOptions = {}): Promise<ApiHarness> {
    const harness = new ApiHarness(fs.mkdtempSync(path.join(os.tmpdir(), 'session-api-e2e-')), options);
    await harness.boot();
    return harness;
  }

  private async boot(env: Record<string, string> = {}): Promise<void> {
    const { log, metrics } = this.options;
    const config = parseConfig({
      PORT: '0',
      DATA_DIR: this.dataDir,
      INTEGRATION_API_KEYS: `${KEY_APP1}=1,${KEY_APP2}=2`,
      MANAGEMENT_API_KEYS: `${MANAGEMENT_KEY}=*`,
      LOG_LEVEL: log ? 'info' : 'silent',
      ...this.options.env,
      ...env,
    });
    this.eventStore = await startTestEventStore({
      dataDir: path.join(this.dataDir, 'eventstore'),
      synchronous: 'NORMAL',
    });
    this.store = EsdbClientAdapter.connect(this.eventStore.connectionString);
    this.app = await createSessionApi({
      config,
      keys: new ApiKeys(config.integrationKeys!, config.managementKeys!),
      store: this.store,
      ...(metrics ? { metrics } : {}),
      logger: log
        ? pino({ level: 'info' }, { write: (line: string) => log.push(JSON.parse(line) as LogLine) })
        : pino({ level: 'silent' }),
    });
    await this.app.listen(0, '127.0.0.1');
    const address = this.app.getHttpServer().address() as AddressInfo;
    this.baseUrl = `http://127.0.0.1:${address.port}`;
  }

  async stop(): Promise<void> {
    await this.app?.close();
    await this.store?.close();
    await this.eventStore?.close();
  }

  /** Stops and starts again on the same data; `env` adds configuration for the new start only (to the options'). */
  async restart(env: Record<string, string> = {}): Promise<void> {
    await this.stop();
    await this.boot(env);
  }

  async dispose(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Number of events in a stream (the stream is unchanged when this is unchanged). */
  async streamLength(streamName: string): Promise<number> {
    return (await this.store.readStream(streamName)).length;
  }
}

export interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Headers;
}

export interface CallOptions {
  key?: string | null;
  headers?: Record<string, string>;
  body?: unknown;
  /** Sent as is (for broken JSON and oversized bodies). */
  rawBody?: string | Buffer;
}

export function client(harness: ApiHarness) {
  return async (method: string, url: string, options: CallOptions = {}): Promise<Reply> => {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers };
    const key = options.key === undefined ? KEY_APP1 : options.key;
    if (key !== null) headers.authorization = `ApiKey-v1 ${key}`;
    const response = await fetch(`${harness.baseUrl}${url}`, {
      method,
      headers,
      body: options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body, headers: response.headers };
  };
}

export const sessionUrl = (id: string, suffix = ''): string =>
  `/v2/customer_sessions/${encodeURIComponent(id)}${suffix}`;

/** The reply to any request for a session that does not exist (404 SESSION_NOT_FOUND, the id quoted, no source). */
export const sessionNotFoundReply = (id: string) => {
  const details = `No customer session ${JSON.stringify(id)}`;
  return {
    status: 404,
    body: {
      message: details,
      errors: [{ title: 'SESSION_NOT_FOUND', details, source: {} }],
      StatusCode: 404,
    },
  };
};

/** What a refused request must leave as it was: the session as GET shows it, and its stream's length. */
export interface SessionSnapshot {
  status: number;
  etag: string | null;
  body: unknown;
  events: number;
}

/** The session `id` of application 1 as it is now (see `SessionSnapshot`). */
export async function sessionSnapshot(harness: ApiHarness, id: string): Promise<SessionSnapshot> {
  const reply = await client(harness)('GET', sessionUrl(id));
  return {
    status: reply.status,
    etag: reply.headers.get('etag'),
    body: reply.body,
    events: await harness.streamLength(`session-1-${id}`),
  };
}

/** Starts the API with one open session `id` of application 1 (profile `p`, one line of sku `a`) in it. */
export async function startWithSession(
  id: string,
): Promise<{ harness: ApiHarness; call: ReturnType<typeof client> }> {
  const harness = await ApiHarness.start();
  const call = client(harness);
  const created = await call('PUT', sessionUrl(id), {
    body: { customerSession: { profileId: 'p', cartItems: [{ sku: 'a', quantity: 1, price: 1 }] } },
  });
  if (created.status !== 200)
    throw new Error(`creating ${id}: ${created.status} ${JSON.stringify(created.body)}`);
  return { harness, call };
}

/** One refused request of a table test: what is sent, and the status and code it must get. */
export interface RefusalCase {
  name: string;
  /** PUT when absent. */
  method?: string;
  /** After the session's URL (e.g. `/cart_items`). */
  suffix?: string;
  options: CallOptions;
  status: number;
  code: string;
  /** The JSON pointer the first error must name, when the table checks it. */
  pointer?: string | RegExp;
}
