/**
 * The whole system in this process for the replay e2e suites, set up as test/management-api.e2e-spec.ts
 * does: the embedded event store (ephemeral port, temporary DATA_DIR), the API, and the projector writing
 * the read models to SQLite under DATA_DIR or to a fresh PostgreSQL schema.
 */
import type { INestApplication } from '@nestjs/common';
import { EsdbClientAdapter } from '@session-engine/event-store';
import { TEST_DATABASE_URL } from '@session-engine/read-models/testing/test-databases';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import pino from 'pino';
import { Registry } from 'prom-client';
import { startEmbeddedEventStore, type EmbeddedEventStore } from '../../../eventstore-embedded/src';
import { startProjector, type RunningProjector } from '../../../projector/src/projector';
import { createSessionApi } from '../../../session-api/src/app.factory';
import { ApiKeys } from '../../../session-api/src/config/api-keys.provider';
import { parseConfig } from '../../../session-api/src/config/config';

export const INTEGRATION_KEY = 'replay-int-key-app1';
export const INTEGRATION_KEY_APP2 = 'replay-int-key-app2';
export const MANAGEMENT_KEY = 'replay-mgmt-key-all';

export interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Headers;
}

export interface SystemOptions {
  backend: 'sqlite' | 'postgres';
  /** Start the projector (read models); the event-store-only commands do not need it. */
  projector?: boolean;
}

export class ReplaySystem {
  baseUrl = '';
  store!: EmbeddedEventStore;
  adapter!: EsdbClientAdapter;
  projector?: RunningProjector;
  private app?: INestApplication;
  databaseUrl?: string;
  schema?: string;

  private constructor(readonly dataDir: string) {}

  static async start(options: SystemOptions): Promise<ReplaySystem> {
    const system = new ReplaySystem(mkdtempSync(join(tmpdir(), 'replay-e2e-')));
    try {
      await system.boot(options);
    } catch (error) {
      // The suite never gets the system to stop: what did start (a server, a projector) would keep jest running.
      await system.stop().catch(() => undefined);
      throw error;
    }
    return system;
  }

  private async boot(options: SystemOptions): Promise<void> {
    if (options.backend === 'postgres') {
      this.schema = `rp_e2e_${randomBytes(5).toString('hex')}`;
      await onPostgres(`create schema ${this.schema}`);
      this.databaseUrl = `${TEST_DATABASE_URL}?options=${encodeURIComponent(`-c search_path=${this.schema}`)}`;
    }
    const config = parseConfig({
      PORT: '0',
      DATA_DIR: this.dataDir,
      DATABASE_URL: this.databaseUrl,
      INTEGRATION_API_KEYS: `${INTEGRATION_KEY}=1,${INTEGRATION_KEY_APP2}=2`,
      MANAGEMENT_API_KEYS: `${MANAGEMENT_KEY}=*`,
      LOG_LEVEL: 'silent',
    });
    this.store = await startEmbeddedEventStore({
      port: 0,
      dataDir: join(this.dataDir, 'eventstore'),
      silent: true,
      synchronous: 'NORMAL',
    });
    this.adapter = EsdbClientAdapter.connect(this.store.connectionString);
    const logger = pino({ level: 'silent' });
    this.app = await createSessionApi({
      config,
      keys: new ApiKeys(config.integrationKeys!, config.managementKeys!),
      store: this.adapter,
      logger,
    });
    await this.app.listen(0, '127.0.0.1');
    this.baseUrl = `http://127.0.0.1:${(this.app.getHttpServer().address() as AddressInfo).port}`;
    if (options.projector) {
      this.projector = await startProjector({
        connectionString: this.store.connectionString,
        databaseUrl: this.databaseUrl,
        dataDir: this.dataDir,
        logger,
        registry: new Registry(),
        batchDelayMs: 10,
      });
    }
  }

  /** What the CLI reads: the same variables the projector is configured with. */
  env(): Record<string, string | undefined> {
    return {
      EVENTSTORE_CONNECTION_STRING: this.store.connectionString,
      DATA_DIR: this.dataDir,
      DATABASE_URL: this.databaseUrl,
    };
  }

  async send(method: string, path: string, auth: string | null, body?: unknown): Promise<Reply> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (auth !== null) headers.authorization = auth;
    const response = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
  }

  /** An integration command that must succeed; returns the body and its X-Event-Position. */
  async command(method: string, path: string, body?: unknown, key = INTEGRATION_KEY) {
    const reply = await this.send(method, path, `ApiKey-v1 ${key}`, body);
    if (reply.status !== 200)
      throw new Error(`${method} ${path}: ${reply.status} ${JSON.stringify(reply.body)}`);
    return { body: reply.body, position: reply.headers.get('x-event-position') };
  }

  manage(path: string): Promise<Reply> {
    return this.send('GET', path, `ManagementKey-v1 ${MANAGEMENT_KEY}`);
  }

  /** Waits until the projector has processed everything written so far. */
  async settle(position: string | bigint | null): Promise<void> {
    if (!this.projector || position === null) return;
    if (!(await this.projector.waitForPosition(BigInt(position), 10_000)))
      throw new Error(`projector did not reach ${position}`);
  }

  /** Stops everything that was started, each part even when stopping another failed; then throws the first failure. */
  async stop(): Promise<void> {
    const failures: unknown[] = [];
    const attempt = async (step: () => Promise<unknown> | undefined) => {
      try {
        await step();
      } catch (error) {
        failures.push(error);
      }
    };
    await attempt(() => this.projector?.stop());
    await attempt(() => this.app?.close());
    await attempt(() => this.adapter?.close());
    await attempt(() => this.store?.close());
    rmSync(this.dataDir, { recursive: true, force: true });
    const schema = this.schema;
    if (schema)
      await attempt(() =>
        onPostgres(
          ...['', '_rebuild', '_retired'].map((suffix) => `drop schema if exists ${schema}${suffix} cascade`),
        ),
      );
    if (failures.length > 0) throw failures[0];
  }
}

/** Runs statements on a connection of its own, closed whatever happens (an open one keeps jest running). */
async function onPostgres(...statements: string[]): Promise<void> {
  const pg = new Client({ connectionString: TEST_DATABASE_URL });
  await pg.connect();
  try {
    for (const statement of statements) await pg.query(statement);
  } finally {
    await pg.end();
  }
}
