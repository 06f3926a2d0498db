/**
 * For the suites about an event store that hangs: the embedded store run in the test's own thread, so that a
 * test sees each call arrive (`onRpc`) and can act at that moment; a relay in front of it that can hang or cut
 * its connections (`startHangingRelay`); and APIs whose event-store calls have a deadline
 * (EVENTSTORE_CALL_TIMEOUT_MS), reaching the store through the relay or directly. Each API logs into its own
 * `logs`. `stop()` closes every API it started, then the relay and the store.
 */
import type { INestApplication } from '@nestjs/common';
import { EsdbClientAdapter } from '@session-engine/event-store';
import { startHangingRelay, type HangingRelay } from '@session-engine/testing';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { startInThisThread, type EmbeddedEventStore } from '../../apps/eventstore-embedded/src';
import { createSessionApi } from '../../apps/session-api/src/app.factory';
import { ApiKeys } from '../../apps/session-api/src/config/api-keys.provider';
import { parseConfig } from '../../apps/session-api/src/config/config';

export interface DeadlineApi {
  url: string;
  store: EsdbClientAdapter;
  app: INestApplication;
  /** The JSON lines the app logged, levels by name as the processes log them. */
  logs: Record<string, unknown>[];
}

export interface HungStoreOptions {
  /** Names the temporary directory. */
  label: string;
  /** The integration key of application 1. */
  key: string;
  deadlineMs: number;
  /** Told of every call the store receives, by its gRPC method name (`Streams.Read`, `Streams.BatchAppend`). */
  onRpc: (name: string) => void;
}

export class HungStoreSystem {
  private readonly apis: DeadlineApi[] = [];
  private warmUps = 0;

  private constructor(
    private readonly options: HungStoreOptions,
    private readonly dataDir: string,
    readonly server: EmbeddedEventStore,
    readonly relay: HangingRelay,
  ) {}

  static async start(options: HungStoreOptions): Promise<HungStoreSystem> {
    const dataDir = mkdtempSync(join(tmpdir(), `${options.label}-`));
    const server = await startInThisThread(
      { port: 0, dataDir: join(dataDir, 'eventstore'), silent: true },
      (name) => options.onRpc(name),
    );
    return new HungStoreSystem(options, dataDir, server, await startHangingRelay(server.port));
  }

  /** The relay's address, as a connection string. */
  get relayConnectionString(): string {
    return `esdb://127.0.0.1:${this.relay.port}?tls=false`;
  }

  /**
   * An API on `connectionString`. Unless `warm` is false, its connection is set up before it serves, without
   * the deadline: the first call of a connection sets it up (and asks what the server supports), which may
   * take a while on a busy box.
   */
  async startApi(connectionString: string, warm = true): Promise<DeadlineApi> {
    const config = parseConfig({
      PORT: '0',
      DATA_DIR: this.dataDir,
      INTEGRATION_API_KEYS: `${this.options.key}=1`,
      MANAGEMENT_API_KEYS: `${this.options.key}-management=*`,
      EVENTSTORE_CALL_TIMEOUT_MS: String(this.options.deadlineMs),
    });
    const logs: Record<string, unknown>[] = [];
    const store = EsdbClientAdapter.connect(connectionString);
    if (warm) await store.readStream(`warm-up-${Date.now()}-${++this.warmUps}`);
    const app = await createSessionApi({
      config,
      keys: new ApiKeys(config.integrationKeys!, config.managementKeys!),
      store,
      logger: pino(
        { level: 'info', formatters: { level: (label) => ({ level: label }) } },
        { write: (line: string) => void logs.push(JSON.parse(line)) },
      ),
    });
    await app.listen(0, '127.0.0.1');
    const api = {
      url: `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`,
      store,
      app,
      logs,
    };
    this.apis.push(api);
    return api;
  }

  /** An API whose store calls go through the relay. */
  throughRelay(warm = true): Promise<DeadlineApi> {
    return this.startApi(this.relayConnectionString, warm);
  }

  async stop(): Promise<void> {
    for (const api of this.apis) {
      await api.app.close();
      await api.store.close();
    }
    await this.relay.close();
    await this.server.close();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}
