/**
 * An event the projector cannot read — a `schemaVersion` newer than this build knows (a newer writer during a
 * rolling upgrade, or a rollback), an event type it does not know — is a batch failure at that event, reported as
 * any other (docs/operations.md, "Upgrades: new event versions"): everything before it is projected and
 * checkpointed, it is counted (`kind="unreadable"`), logged once at error naming it, the projector is not caught
 * up, its lag grows and it is stalled after the window (the standalone /health/ready answers 503), and it retries
 * with the growing back-off of a failing batch. Once a build that reads it is deployed, it projects on.
 *
 * Before, the subscription threw away the page the event came in — the events before it too — and the projector
 * took it for an outage of the store: caught up with no lag (`/health/ready` 200, `projector_caught_up` 1), a
 * warn line with a stack and an info "subscription is back" about nine times a second, for ever, and nothing
 * after it was projected (`minPosition` answered 503 NOT_READY for every tenant).
 */
import { EsdbClientAdapter, toEventToAppend, type EventToAppend } from '@session-engine/event-store';
import { SessionHistory } from '@session-engine/read-models/testing/session-history';
import { testDatabases, type TestDatabase } from '@session-engine/read-models/testing/test-databases';
import {
  EventSchemas,
  SESSION_EVENT_READ_VERSIONS,
  SESSION_EVENT_SCHEMAS,
} from '@session-engine/session-domain';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Registry } from 'prom-client';
import { type RunningProjector, startProjector } from './projector';
import { projectorHttpServer } from './projector-http';
import { projectorThreadService } from './projector-thread';
import { scrape, sleep, until } from './testing/probes';
import { appendHistories, suiteStore } from './testing/store-fixtures';
import { dumpAt, projectedFromScratch } from './testing/from-scratch';
import { workload } from './testing/workload';

jest.setTimeout(120_000);
const UNREADABLE = 'projector_batch_failures_total{kind="unreadable"}';
const AT = '2025-05-03T10:00:00.000Z';
const ERROR = 50;
const WARN = 40;

type Line = Record<string, unknown> & { level: number; msg: string };

/** A session created, given a cart and closed: its close is the event a test makes unreadable. */
function closedSession(integrationId: string, sessionId: number): SessionHistory {
  return new SessionHistory(4, integrationId, sessionId)
    .created(AT, { cartItems: [{ sku: 'TEE', quantity: 1, price: '4.00' }] })
    .cartAdded(AT, 1, [{ sku: 'CAP', quantity: 1, price: '2.00' }])
    .closed(AT, '', '6', [
      { position: 0, sku: 'TEE', quantity: 1, value: '4' },
      { position: 1, sku: 'CAP', quantity: 1, value: '2' },
    ]);
}

const asStored = (history: SessionHistory): EventToAppend[] =>
  history.events.map((e) =>
    toEventToAppend(e.event, { commandId: e.event.data.commandId, correlationId: 'test', actor: 'test' }),
  );

/** What a newer writer produces: the last event of the session at a schema version this build does not read. */
const newerVersion = (event: EventToAppend): EventToAppend => ({
  ...event,
  metadata: { ...event.metadata, schemaVersion: 2 },
});
/** ... or an event type it does not know. */
const unknownType = (event: EventToAppend): EventToAppend => ({ ...event, type: 'SessionTeleported' });

/**
 * Appends the whole session in ONE append, its last event changed: the server hands the events over together,
 * so the readable ones arrive in the same page as the unreadable one. Returns the positions of its events.
 */
async function appendUnreadable(
  client: EsdbClientAdapter,
  history: SessionHistory,
  change: (event: EventToAppend) => EventToAppend,
): Promise<bigint[]> {
  const events = asStored(history);
  events[events.length - 1] = change(events[events.length - 1]!);
  await client.appendToStream(history.streamId, events, 'no_stream');
  return (await client.readStream(history.streamId)).map((stored) => stored.position!);
}

/** A build that reads `SessionClosed` v2 (the one the newer writer writes; its data is v1's here). */
const readsSessionClosedV2 = new EventSchemas({
  read: { ...SESSION_EVENT_READ_VERSIONS, SessionClosed: 2 },
  write: { ...SESSION_EVENT_READ_VERSIONS, SessionClosed: 2 },
  upcasters: {
    CartItemsAdded: { 1: (data) => SESSION_EVENT_SCHEMAS.upcast('CartItemsAdded', 1, data).data as never },
    SessionClosed: { 1: (data) => data },
  },
  downcasters: {},
});

const sessionRows = async (options: { databaseUrl?: string; schema?: string; dataDir: string }) =>
  (await dumpAt(options)).sessions!;

describe.each(testDatabases())(
  'an event the projector cannot read: the standalone projector on $name',
  (database: TestDatabase) => {
    const log = suiteStore('projector-unreadable-es-');
    const registry = new Registry();
    const lines: Line[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Line) });
    let projector: RunningProjector;
    let server: Server | undefined;
    let baseUrl: string;
    const start = async (eventSchemas?: EventSchemas) => {
      projector = await startProjector({
        connectionString: log.store.connectionString,
        ...database.options(),
        logger,
        registry,
        batchDelayMs: 10,
        stallAfterMs: 1_000,
        eventSchemas,
      });
      server?.close();
      server = projectorHttpServer(projector, registry).listen(0, '127.0.0.1');
      await new Promise((resolve) => server!.once('listening', resolve));
      baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    };
    const ready = async () => {
      const response = await fetch(`${baseUrl}/health/ready`);
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      return { status: response.status, body: (await response.json()) as Record<string, any> };
    };
    const stuck = closedSession('newer-1', 9_101);
    let positions: bigint[] = [];
    let after: bigint;

    beforeAll(async () => {
      await start();
      const written = await appendHistories(log.client, workload(10));
      expect(await projector.waitForPosition(written, 20_000)).toBe(true);
      await until('caught up', async () => (await scrape(registry)).projector_caught_up === 1);
    });
    afterAll(async () => {
      server?.close();
      await projector?.stop();
      await database.drop();
    });

    it('projects the events before it, stops before it and reports it as a failing batch, once', async () => {
      const since = lines.length;
      const reconnectsBefore = (await scrape(registry)).projector_reconnects_total!;
      positions = await appendUnreadable(log.client, stuck, newerVersion);
      const bad = positions[2]!;
      // A good session written after it: it waits behind it.
      after = await appendHistories(log.client, workload(2, 100));
      const status = await until('the failure reported', () => projector.status().failure ?? false);
      expect(status).toMatchObject({
        kind: 'unreadable',
        streamId: stuck.streamId,
        eventType: 'SessionClosed',
        position: bad,
        events: 1,
      });
      // Everything before it is projected and checkpointed, in the same page as it: the session with its cart.
      await until('the events before it committed', () => projector.position() === positions[1]);
      const row = (await sessionRows(database.options())).find((r) => r.stream_id === stuck.streamId);
      expect(row).toMatchObject({ revision: 1, state: 'open' });
      expect(await projector.waitForPosition(after, 2_000)).toBe(false);

      // Watched for a few seconds: the retries back off as a failing batch's do (100 ms doubling); the old loop
      // resubscribed ~9 times a second.
      await sleep(3_000);
      const values = await scrape(registry);
      expect(values).toMatchObject({
        projector_caught_up: 0,
        projector_position: Number(positions[1]),
        projector_leader: 1,
        'projector_batch_failures_total{kind="other"}': 0,
      });
      expect(values.projector_lag_events).toBeGreaterThanOrEqual(1);
      expect(values.projector_lag_seconds).toBeGreaterThan(0);
      expect(values.projector_head_position).toBeGreaterThanOrEqual(Number(bad));
      expect(values[UNREADABLE]).toBeGreaterThanOrEqual(3);
      expect(values.projector_reconnects_total! - reconnectsBefore).toBeLessThanOrEqual(9);
      await until(
        'reading paused for its retry',
        async () => (await scrape(registry)).projector_reading_paused === 1,
      );

      const notReady = await ready();
      expect(notReady.status).toBe(503);
      expect(notReady.body).toMatchObject({
        status: 'stalled',
        leader: true,
        caughtUp: false,
        position: positions[1]!.toString(),
        failure: { kind: 'unreadable', streamId: stuck.streamId, eventType: 'SessionClosed', events: 1 },
      });

      // One error line naming the event and why, no outage: no warn, no "is back", no stack.
      const logged = lines.slice(since);
      const errors = logged.filter((l) => l.level >= ERROR);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatchObject({
        msg: expect.stringMatching(/^projector cannot read this event/),
        kind: 'unreadable',
        attempt: 1,
        position: bad.toString(),
        streamId: stuck.streamId,
        eventType: 'SessionClosed',
        events: 1,
        error: expect.objectContaining({
          message: 'Unknown schema version 2 of SessionClosed (versions 1..1 are known)',
        }),
      });
      expect(logged.filter((l) => l.level === WARN)).toEqual([]);
      expect(logged.filter((l) => /subscription/.test(l.msg))).toEqual([]);
    });

    it('projects on once a version that reads it is deployed: everything once, caught up, ready', async () => {
      await projector.stop();
      const since = lines.length;
      await start(readsSessionClosedV2);
      expect(await projector.waitForPosition(after, 20_000)).toBe(true);
      const values = await until('caught up again', async () => {
        const v = await scrape(registry);
        return v.projector_caught_up === 1 && v;
      });
      expect(values).toMatchObject({ projector_lag_events: 0, projector_lag_seconds: 0 });
      expect(await ready()).toMatchObject({ status: 200, body: { status: 'ok', caughtUp: true } });
      const row = (await sessionRows(database.options())).find((r) => r.stream_id === stuck.streamId);
      expect(row).toMatchObject({ revision: 2, state: 'closed' });
      expect(lines.slice(since).filter((l) => l.level >= WARN)).toEqual([]);
      // Every event projected once: the same read models as a projector of that build that never met it.
      expect(await dumpAt(database.options())).toEqual(
        await projectedFromScratch(database, log.store.connectionString, after, {
          eventSchemas: readsSessionClosedV2,
        }),
      );
    });

    it('stops before an event type it does not know in the same way', async () => {
      const since = lines.length;
      const teleported = await appendUnreadable(
        log.client,
        closedSession('teleported-1', 9_102),
        unknownType,
      );
      const failure = await until('the failure reported', () => projector.status().failure ?? false);
      expect(failure).toMatchObject({
        kind: 'unreadable',
        eventType: 'SessionTeleported',
        position: teleported[2],
        events: 1,
      });
      await until('the events before it committed', () => projector.position() === teleported[1]);
      expect((await scrape(registry)).projector_caught_up).toBe(0);
      const errors = lines.slice(since).filter((l) => l.level >= ERROR);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.error).toMatchObject({ message: 'Unknown session event type "SessionTeleported"' });
    });
  },
);

describe.each(testDatabases())(
  'an event the projector cannot read: the projector thread of the API on $name',
  (database: TestDatabase) => {
    const log = suiteStore('projector-unreadable-es-');
    afterAll(() => database.drop());

    it('mirrors the same signals onto the API registry and its /health/ready', async () => {
      const apiRegistry = new Registry();
      const options = database.options();
      const service = projectorThreadService({
        config: { databaseUrl: options.databaseUrl, dataDir: options.dataDir, logLevel: 'silent' },
        connectionString: log.store.connectionString,
        logger: pino({ level: 'silent' }),
        registry: apiRegistry,
        projector: { schema: options.schema, batchDelayMs: 10, stallAfterMs: 1_000 },
      });
      await service.start();
      try {
        await appendHistories(log.client, workload(5));
        const positions = await appendUnreadable(log.client, closedSession('newer-2', 9_201), newerVersion);
        await appendHistories(log.client, workload(2, 200));
        const stuck = await until('the unreadable event failing, on the API registry', async () => {
          const v = await scrape(apiRegistry);
          return v[UNREADABLE]! >= 1 && v.projector_position === Number(positions[1]) && v;
        });
        expect(stuck).toMatchObject({ projector_caught_up: 0, projector_leader: 1 });
        expect(stuck.projector_lag_events).toBeGreaterThanOrEqual(1);
        const reconnects = stuck.projector_reconnects_total!;
        await sleep(3_000);
        const later = await scrape(apiRegistry);
        expect(later).toMatchObject({ projector_caught_up: 0, projector_position: Number(positions[1]) });
        expect(later.projector_lag_seconds).toBeGreaterThan(0);
        expect(later.projector_reconnects_total! - reconnects).toBeLessThanOrEqual(9);
        expect(await service.health()).toMatchObject({
          status: 'stalled',
          caughtUp: false,
          position: positions[1]!.toString(),
          failure: { kind: 'unreadable', eventType: 'SessionClosed', position: positions[2]!.toString() },
        });
      } finally {
        await service.stop();
      }
    });
  },
);
