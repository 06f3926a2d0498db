/**
 * The projector while the event store is away (an operator's probe: store up, projector up, store killed).
 * Before, every resubscription — every 5 s, forever — logged a `warn` of ~2.5 KB with the error's stack and the
 * client's copy of it (`err._raw.stack`), each followed by an `info` "projector subscribed" although nothing had
 * connected; and `projector_lag_seconds` reported the age of the last committed event with nothing waiting
 * (position = head), enough for the lag alert to fire on what is an outage of the store.
 * Now: one short `warn` when the outage starts, without a stack (at most one more a minute), "subscribed" only once
 * the store answers, one `info` line with how long it was down when it does, and no lag while nothing waits.
 */
import { EsdbClientAdapter } from '@session-engine/event-store';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { capturedLogger } from '@session-engine/testing';
import { Registry } from 'prom-client';
import { type RunningProjector, startProjector } from './projector';
import { scrape, sleep, until } from './testing/probes';
import { appendHistories, startEmbeddedEventStore } from './testing/store-fixtures';
import { workload } from './testing/workload';

jest.setTimeout(60_000);

const WARN = 40;
const INFO = 30;

describe('the projector while the event store is down', () => {
  let storeDir: string;
  let readModelDir: string;
  let port: number;
  let store: { connectionString: string; close(): Promise<void> } | undefined;
  let projector: RunningProjector;
  const registry = new Registry();
  const { logger, lines, raw } = capturedLogger();
  let killedAt = 0;
  let sinceKill = 0;
  const afterKill = () => lines.slice(sinceKill);
  const append = async (sessions: number, offset: number) => {
    const client = EsdbClientAdapter.connect(store!.connectionString);
    try {
      return await appendHistories(client, workload(sessions, offset));
    } finally {
      await client.close();
    }
  };

  beforeAll(async () => {
    storeDir = mkdtempSync(join(tmpdir(), 'projector-outage-es-'));
    readModelDir = mkdtempSync(join(tmpdir(), 'projector-outage-rm-'));
    store = await startEmbeddedEventStore({ port: 0, dataDir: storeDir, silent: true });
    port = Number(new URL(store.connectionString.replace(/^esdb:/, 'http:')).port);
    projector = await startProjector({
      connectionString: store.connectionString,
      dataDir: readModelDir,
      logger,
      registry,
      batchDelayMs: 10,
    });
    const written = await append(3, 0);
    expect(await projector.waitForPosition(written, 20_000)).toBe(true);
    await until('caught up', async () => (await scrape(registry)).projector_caught_up === 1);
    expect(lines.filter((l) => l.msg === 'projector subscribed')).toHaveLength(1);
  });

  afterAll(async () => {
    await projector?.stop();
    await store?.close();
    rmSync(storeDir, { recursive: true, force: true });
    rmSync(readModelDir, { recursive: true, force: true });
  });

  it('logs the outage once, at warn, with a short reason and no stack; nothing "subscribed"', async () => {
    sinceKill = lines.length;
    await store!.close();
    store = undefined;
    killedAt = Date.now();
    // 100 ms doubling: six attempts or more in 4 s, each of which used to log a warn and an info line.
    await until('resubscribing', async () => (await scrape(registry)).projector_reconnects_total! >= 5);
    await sleep(500);
    const warned = afterKill().filter((l) => l.level >= WARN);
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({
      msg: expect.stringMatching(
        /^projector (cannot reach the event store|subscription ended by the event store)/,
      ),
      kind: expect.stringMatching(/^(unreachable|ended)$/),
      reason: expect.any(String),
      retryInMs: 100,
    });
    expect(warned[0]!.err).toBeUndefined();
    expect(warned[0]!.error).toBeUndefined();
    const text = raw.slice(sinceKill).join('');
    expect(text).not.toMatch(/stack|_raw/);
    expect(text.length).toBeLessThan(600);
    expect(afterKill().filter((l) => /subscribed/.test(l.msg))).toEqual([]);
  });

  it('reports no lag while nothing waits: an outage of the store is not projector lag', async () => {
    await sleep(Math.max(0, 2_000 - (Date.now() - killedAt)));
    const values = await scrape(registry);
    expect(values.projector_head_position).toBe(values.projector_position);
    expect(values.projector_lag_events).toBe(0);
    expect(values.projector_lag_seconds).toBe(0);
  });

  it('logs one info line with how long it was down when the store answers again, and projects on', async () => {
    const before = lines.length;
    store = await startEmbeddedEventStore({ port, dataDir: storeDir, silent: true });
    const back = await until('back', () => lines.slice(before).find((l) => /is back/.test(l.msg)) ?? false);
    expect(back).toMatchObject({
      level: INFO,
      msg: 'projector subscription is back: the event store answers again',
      downForMs: expect.any(Number),
      failedAttempts: expect.any(Number),
    });
    expect(back.downForMs).toBeGreaterThanOrEqual(2_000);
    const written = await append(2, 3);
    expect(await projector.waitForPosition(written, 20_000)).toBe(true);
    const outage = afterKill();
    expect(outage.filter((l) => /is back/.test(l.msg))).toHaveLength(1);
    expect(outage.filter((l) => /subscribed/.test(l.msg))).toEqual([]);
    expect(outage.filter((l) => l.level >= WARN)).toHaveLength(1);
  });
});
