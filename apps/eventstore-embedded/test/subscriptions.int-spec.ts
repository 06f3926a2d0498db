import {
  END,
  eventTypeFilter,
  excludeSystemEvents,
  jsonEvent,
  Position,
  ResolvedEvent,
  START,
  streamNameFilter,
} from '@eventstore/db-client';
import type { Readable } from 'node:stream';
import { collect, delay, startNode, testEvents, TestNode } from './support';

jest.setTimeout(30_000);

/** Resolves with the first `count` events a subscription delivers, then unsubscribes. */
function take(sub: Readable & { unsubscribe(): Promise<void> }, count: number): Promise<ResolvedEvent[]> {
  const events: ResolvedEvent[] = [];
  return new Promise((resolve, reject) => {
    sub.on('error', reject);
    sub.on('data', (e: ResolvedEvent) => {
      events.push(e);
      if (events.length === count) {
        void sub.unsubscribe().then(() => resolve(events));
      }
    });
  });
}

const caughtUp = (sub: Readable) => new Promise((resolve) => sub.once('caughtUp', resolve));

async function appendInBatches(node: TestNode, stream: string, total: number, batch: number, from = 0) {
  for (let i = 0; i < total; i += batch) {
    await node.client.appendToStream(stream, testEvents(Math.min(batch, total - i), 'test-event', from + i));
  }
}

describe('embedded EventStoreDB: subscriptions through @eventstore/db-client', () => {
  let node: TestNode;
  beforeEach(async () => {
    node = await startNode();
  });
  afterEach(async () => {
    await node.dispose();
  });

  it('subscribeToStream catches up then goes live with no gap and no duplicate, writes racing the catch-up', async () => {
    await appendInBatches(node, 'live-1', 3000, 500);
    await node.client.appendToStream('noise', testEvents(10));
    const sub = node.client.subscribeToStream('live-1', { fromRevision: START });
    let caughtUp = 0;
    sub.on('caughtUp', () => caughtUp++);
    const received = take(sub, 4500);
    // Written while the subscription is catching up, then after it went live.
    await appendInBatches(node, 'live-1', 1000, 50, 3000);
    await node.client.appendToStream('noise', testEvents(10));
    await appendInBatches(node, 'live-1', 500, 7, 4000);
    const events = await received;
    expect(events.map((e) => Number(e.event!.revision))).toEqual(Array.from({ length: 4500 }, (_, i) => i));
    expect(events.map((e) => (e.event!.data as { n: number }).n)).toEqual(
      Array.from({ length: 4500 }, (_, i) => i),
    );
    expect(caughtUp).toBe(1);
  });

  it('subscribeToAll catches up then goes live: exactly the $all sequence, positions strictly increasing', async () => {
    await appendInBatches(node, 'a', 1500, 300);
    const sub = node.client.subscribeToAll({ fromPosition: START });
    const caughtUp = new Promise((resolve) => sub.once('caughtUp', resolve));
    const received = take(sub, 2550);
    await Promise.all([appendInBatches(node, 'b', 600, 20), appendInBatches(node, 'c', 150, 1)]);
    await caughtUp;
    await appendInBatches(node, 'd', 300, 10);
    const events = await received;
    const all = await collect(node.client.readAll());
    expect(all.length).toBe(2550);
    expect(events.map((e) => e.event!.id)).toEqual(all.map((e) => e.event!.id));
    const positions = events.map((e) => e.event!.position!.commit);
    for (let i = 1; i < positions.length; i++) expect(positions[i]).toBeGreaterThan(positions[i - 1]);
  });

  it('subscribes from a revision, from a position and from the end (exclusive of the starting point)', async () => {
    const { client } = node;
    await client.appendToStream('s', testEvents(5));
    const [third] = (await collect(client.readAll())).slice(2);
    const subs = [
      client.subscribeToStream('s', { fromRevision: 2n }),
      client.subscribeToStream('s', { fromRevision: END }),
    ];
    const allSubs = [
      client.subscribeToAll({ fromPosition: third.event!.position }),
      client.subscribeToAll({ fromPosition: END }),
    ];
    const ready = [...subs, ...allSubs].map(caughtUp);
    const fromRevision = take(subs[0], 3);
    const fromEnd = take(subs[1], 1);
    const fromPosition = take(allSubs[0], 3);
    const allFromEnd = take(allSubs[1], 1);
    await Promise.all(ready);
    await client.appendToStream('s', testEvents(1, 'later', 5));
    expect((await fromRevision).map((e) => Number(e.event!.revision))).toEqual([3, 4, 5]);
    expect((await fromEnd).map((e) => Number(e.event!.revision))).toEqual([5]);
    expect((await fromPosition).map((e) => Number(e.event!.revision))).toEqual([3, 4, 5]);
    expect((await allFromEnd).map((e) => e.event!.type)).toEqual(['later']);
  });

  it('subscribes to a stream that does not exist yet', async () => {
    const sub = node.client.subscribeToStream('future');
    const received = take(sub, 2);
    await caughtUp(sub);
    await node.client.appendToStream('future', testEvents(2));
    expect((await received).map((e) => Number(e.event!.revision))).toEqual([0, 1]);
  });

  describe('server-side filters on $all', () => {
    beforeEach(async () => {
      const { client } = node;
      await client.appendToStream('acct-1', jsonEvent({ type: 'AccountOpened', data: {} }));
      await client.appendToStream('ord-1', jsonEvent({ type: 'OrderPlaced', data: {} }));
      await client.appendToStream('inv-42', jsonEvent({ type: 'InvoiceSent', data: {} }));
      await client.appendToStream('inv-x', jsonEvent({ type: 'InvoiceSent', data: {} }));
      await client.setStreamMetadata('acct-1', { maxCount: 5 });
      await client.appendToStream('acct-2', jsonEvent({ type: 'AccountClosed', data: {} }));
    });
    const streamsOf = async (filter: Parameters<TestNode['client']['subscribeToAll']>[0], count: number) =>
      (await take(node.client.subscribeToAll(filter), count)).map((e) => e.event!.streamId);
    const typesOf = async (filter: Parameters<TestNode['client']['subscribeToAll']>[0], count: number) =>
      (await take(node.client.subscribeToAll(filter), count)).map((e) => e.event!.type);

    it('by stream name prefixes and regex', async () => {
      expect(await streamsOf({ filter: streamNameFilter({ prefixes: ['acct-', 'ord-'] }) }, 3)).toEqual([
        'acct-1',
        'ord-1',
        'acct-2',
      ]);
      expect(await streamsOf({ filter: streamNameFilter({ regex: '^inv-\\d+$' }) }, 1)).toEqual(['inv-42']);
    });

    it('by event type prefixes and regex', async () => {
      expect(await typesOf({ filter: eventTypeFilter({ prefixes: ['Account'] }) }, 2)).toEqual([
        'AccountOpened',
        'AccountClosed',
      ]);
      expect(await typesOf({ filter: eventTypeFilter({ regex: 'Sent$' }) }, 2)).toEqual([
        'InvoiceSent',
        'InvoiceSent',
      ]);
    });

    it('excludeSystemEvents() leaves out $metadata and other $-types, which do appear unfiltered', async () => {
      const unfiltered = await typesOf({}, 6);
      expect(unfiltered).toContain('$metadata');
      const filtered = await typesOf({ filter: excludeSystemEvents() }, 5);
      expect(filtered).toEqual([
        'AccountOpened',
        'OrderPlaced',
        'InvoiceSent',
        'InvoiceSent',
        'AccountClosed',
      ]);
      // Live events are filtered the same way.
      const liveSub = node.client.subscribeToAll({ fromPosition: END, filter: excludeSystemEvents() });
      const live = take(liveSub, 1);
      await caughtUp(liveSub);
      await node.client.setStreamMetadata('ord-1', { maxCount: 1 });
      await node.client.appendToStream('ord-1', jsonEvent({ type: 'OrderShipped', data: {} }));
      expect((await live).map((e) => e.event!.type)).toEqual(['OrderShipped']);
    });
  });

  describe('checkpoints', () => {
    const writeInterleaved = async (count: number) => {
      for (let i = 0; i < count; i += 10) {
        await node.client.appendToStream(i % 20 === 0 ? 'wanted-1' : 'other-1', testEvents(10, 'e', i));
      }
    };

    it('reaches checkpointReached every checkpointInterval × search window events scanned, in catch-up and live', async () => {
      await writeInterleaved(100);
      const checkpoints: Position[] = [];
      const sub = node.client.subscribeToAll({
        filter: streamNameFilter({
          prefixes: ['wanted-'],
          checkpointInterval: 2,
          checkpointReached: (_s, position) => {
            checkpoints.push(position);
          },
        }),
      });
      const received = take(sub, 100);
      await writeInterleaved(100);
      const events = await received;
      expect(events.every((e) => e.event!.streamId === 'wanted-1')).toBe(true);
      const all = await collect(node.client.readAll());
      // Default max search window is 32: a checkpoint every 64 events scanned, at the last scanned position, and
      // one where the catch-up ended (the 100 written before, and any of the next it read), counting anew from
      // there. (One more may arrive before the unsubscribe after the 100th matching event.)
      const at = checkpoints.map((position) =>
        all.findIndex((e) => e.event!.position.commit === position.commit),
      );
      expect(checkpoints.length).toBeGreaterThanOrEqual(3);
      expect(at[0]).toBe(63);
      const steps = at.slice(1).map((index, k) => index - at[k]!);
      const catchUpEnd = steps.findIndex((step) => step !== 64);
      expect(at[catchUpEnd + 1]).toBeGreaterThanOrEqual(99);
      expect(steps.filter((step, k) => k !== catchUpEnd && step !== 64)).toEqual([]);

      const windowed: Position[] = [];
      const again = node.client.subscribeToAll({
        filter: streamNameFilter({
          prefixes: ['wanted-'],
          maxSearchWindow: 10,
          checkpointInterval: 3,
          checkpointReached: (_s, position) => {
            windowed.push(position);
          },
        }),
      });
      await take(again, 100);
      expect(windowed.slice(0, 6)).toEqual([29, 59, 89, 119, 149, 179].map((i) => all[i].event!.position));
    });

    it('sends a checkpoint where the catch-up ends, before caughtUp, as EventStoreDB does at the end of its read', async () => {
      await node.client.appendToStream('wanted-1', testEvents(2));
      await node.client.appendToStream('other-1', testEvents(10));
      const seen: string[] = [];
      const sub = node.client.subscribeToAll({
        filter: streamNameFilter({
          prefixes: ['wanted-'],
          checkpointInterval: 1,
          checkpointReached: (_s, position) => {
            seen.push(`checkpoint ${position.commit}`);
          },
        }),
      });
      sub.on('data', (e: ResolvedEvent) => seen.push(`event ${e.event!.streamId}`));
      await caughtUp(sub);
      await sub.unsubscribe();
      const last = (await collect(node.client.readAll())).at(-1)!.event!.position.commit;
      // 12 events scanned, fewer than one search window (32): without it no checkpoint at all.
      expect(seen).toEqual(['event wanted-1', 'event wanted-1', `checkpoint ${last}`]);
    });

    it('resuming from a checkpoint position continues exactly after it', async () => {
      await writeInterleaved(200);
      const checkpoints: Position[] = [];
      const first = node.client.subscribeToAll({
        filter: streamNameFilter({
          prefixes: ['other-'],
          checkpointInterval: 1,
          checkpointReached: (_s, position) => {
            checkpoints.push(position);
          },
        }),
      });
      await take(first, 100);
      expect(checkpoints.length).toBeGreaterThanOrEqual(3);
      const resumeAt = checkpoints[2];
      const all = await collect(node.client.readAll());
      const expected = all
        .filter((e) => e.event!.position.commit > resumeAt.commit && e.event!.streamId.startsWith('other-'))
        .map((e) => e.event!.id);
      const resumed = await take(
        node.client.subscribeToAll({
          fromPosition: resumeAt,
          filter: streamNameFilter({ prefixes: ['other-'] }),
        }),
        expected.length,
      );
      expect(resumed.map((e) => e.event!.id)).toEqual(expected);
    });
  });

  it("subscribeToStream hides what the stream's $maxAge hides from a read", async () => {
    await node.client.appendToStream('aged-sub', testEvents(2, 'old'));
    await node.client.setStreamMetadata('aged-sub', { maxAge: 1 });
    await delay(1_500);
    expect(await collect(node.client.readStream('aged-sub'))).toEqual([]);
    const sub = node.client.subscribeToStream('aged-sub', { fromRevision: START });
    const received = take(sub, 1);
    await caughtUp(sub);
    await node.client.appendToStream('aged-sub', testEvents(1, 'new'));
    expect((await received).map((e) => [Number(e.event!.revision), e.event!.type])).toEqual([[2, 'new']]);
  });

  it('survives a slow consumer: the server stops pushing and catches up from the log, losing nothing', async () => {
    const sub = node.client.subscribeToAll({ fromPosition: START });
    sub.pause();
    const payload = 'p'.repeat(2000);
    for (let i = 0; i < 20; i++) {
      await node.client.appendToStream(
        `slow-${i % 4}`,
        Array.from({ length: 250 }, (_, k) => jsonEvent({ type: 'big', data: { i, k, payload } })),
      );
    }
    await delay(200);
    const received = take(sub, 5000);
    sub.resume();
    const events = await received;
    const positions = events.map((e) => e.event!.position!.commit);
    expect(new Set(positions).size).toBe(5000);
    for (let i = 1; i < positions.length; i++) expect(positions[i]).toBeGreaterThan(positions[i - 1]);
  });
});
