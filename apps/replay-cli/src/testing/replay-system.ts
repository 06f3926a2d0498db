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
    if (options.backend === 'postgres') {
      system.schema = `rp_e2e_${randomBytes(5).toString('hex')}`;
      const pg = new Client({ connectionString: TEST_DATABASE_URL });
      await pg.connect();
      await pg.query(`create schema ${system.schema}`);
      await pg.end();
      system.databaseUrl = `${TEST_DATABASE_URL}?options=${encodeURIComponent(`-c search_path=${system.schema}`)}`;
    }
    const config = parseConfig({
      PORT: '0',
      DATA_DIR: system.dataDir,
      DATABASE_URL: system.databaseUrl,
      INTEGRATION_API_KEYS: `${INTEGRATION_KEY}=1,${INTEGRATION_KEY_APP2}=2`,
      MANAGEMENT_API_KEYS: `${MANAGEMENT_KEY}=*`,
      LOG_LEVEL: 'silent',
    });
    system.store = await startEmbeddedEventStore({
      port: 0,
      dataDir: join(system.dataDir, 'eventstore'),
      silent: true,
      synchronous: 'NORMAL',
    });
    system.adapter = EsdbClientAdapter.connect(system.store.connectionString);
    const logger = pino({ level: 'silent' });
    system.app = await createSessionApi({
      config,
      keys: new ApiKeys(config.integrationKeys!, config.managementKeys!),
      store: system.adapter,
      logger,
    });
    await system.app.listen(0, '127.0.0.1');
    system.baseUrl = `http://127.0.0.1:${(system.app.getHttpServer().address() as AddressInfo).port}`;
    if (options.projector) {
      system.projector = await startProjector({
        connectionString: system.store.connectionString,
        databaseUrl: system.databaseUrl,
        dataDir: system.dataDir,
        logger,
        registry: new Registry(),
        batchDelayMs: 10,
      });
    }
    return system;
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

  async stop(): Promise<void> {
    await this.projector?.stop();
    await this.app?.close();
    await this.adapter?.close();
    await this.store?.close();
    rmSync(this.dataDir, { recursive: true, force: true });
    if (this.schema) {
      const pg = new Client({ connectionString: TEST_DATABASE_URL });
      await pg.connect();
      for (const suffix of ['', '_rebuild', '_retired'])
        await pg.query(`drop schema if exists ${this.schema}${suffix} cascade`);
      await pg.end();
    }
  }
}
