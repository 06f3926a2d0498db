import { BACKWARDS, END, START } from '@eventstore/db-client';
import { collect, startNode, testEvents, TestNode } from './support';

jest.setTimeout(30_000);

/**
 * Reads and subscriptions end on the first page shorter than asked for (512 events a page): around page
 * boundaries nothing may be lost or repeated, and a subscription must still announce it caught up.
 */
describe('embedded EventStoreDB: reads across page boundaries', () => {
  let node: TestNode;
  beforeAll(async () => {
    node = await startNode();
    for (const [stream, count] of [
      ['exact', 1024],
      ['one-more', 513],
      ['one-less', 511],
    ] as const) {
      for (let from = 0; from < count; from += 256)
        await node.client.appendToStream(stream, testEvents(Math.min(256, count - from), 'paged', from));
    }
  });
  afterAll(() => node.dispose());

  const ns = (events: Array<{ event?: { data: unknown } }>) =>
    events.map((e) => (e.event!.data as { n: number }).n);
  const range = (count: number) => Array.from({ length: count }, (_, i) => i);

  it.each([
    ['exact', 1024],
    ['one-more', 513],
    ['one-less', 511],
  ])('reads all of a stream of %s (%i events) forwards and backwards', async (stream, count) => {
    expect(ns(await collect(node.client.readStream(stream)))).toEqual(range(count));
    expect(
      ns(await collect(node.client.readStream(stream, { direction: BACKWARDS, fromRevision: END }))),
    ).toEqual(range(count).reverse());
    expect(ns(await collect(node.client.readStream(stream, { maxCount: 512 })))).toEqual(
      range(Math.min(512, count)),
    );
  });

  it('reads all of $all forwards and backwards, and with a count of exactly one page', async () => {
    const total = 1024 + 513 + 511;
    const forwards = await collect(node.client.readAll({ fromPosition: START }));
    expect(forwards).toHaveLength(total);
    expect(forwards.map((e) => e.event!.position!.commit)).toEqual(
      Array.from({ length: total }, (_, i) => BigInt(i + 1)),
    );
    expect(await collect(node.client.readAll({ direction: BACKWARDS, fromPosition: END }))).toHaveLength(
      total,
    );
    expect(await collect(node.client.readAll({ fromPosition: START, maxCount: 512 }))).toHaveLength(512);
  });

  it.each([
    ['exact', 1024],
    ['one-less', 511],
  ])('a subscription to %s catches up with all %i events, then goes live', async (stream, count) => {
    const sub = node.client.subscribeToStream(stream, { fromRevision: START });
    const seen: number[] = [];
    await new Promise<void>((resolve, reject) => {
      sub.on('data', (e) => seen.push((e.event!.data as { n: number }).n));
      sub.on('caughtUp', () => resolve());
      sub.on('error', reject);
    });
    const before = seen.length;
    await node.client.appendToStream(stream, testEvents(1, 'paged', 100_000));
    const deadline = Date.now() + 10_000;
    while (seen.length === before) {
      // Bounded: a loop left polling after a failed test would keep jest from exiting.
      if (Date.now() > deadline) throw new Error('the live event did not arrive within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await sub.unsubscribe();
    expect(before).toBe(count);
    expect(seen.slice(0, before)).toEqual(range(count));
    expect(seen[before]).toBe(100_000);
  });

  it('catches up over large events (waits within pages) and goes live without gap or duplicate', async () => {
    const big = (from: number) =>
      testEvents(5, 'big', from).map((e) => ({ ...e, data: { ...e.data, pad: 'x'.repeat(100_000) } }));
    for (let from = 0; from < 60; from += 5) await node.client.appendToStream('big', big(from));
    const sub = node.client.subscribeToStream('big', { fromRevision: START });
    const seen: number[] = [];
    const done = new Promise<void>((resolve, reject) => {
      sub.on('data', (e) => {
        seen.push((e.event!.data as { n: number }).n);
        if (seen.length === 70) resolve();
      });
      sub.on('error', reject);
    });
    // Appended while the subscription is still catching up (6 MB to send through a 64 KiB window).
    await node.client.appendToStream('big', big(60));
    await node.client.appendToStream('big', big(65));
    await done;
    await sub.unsubscribe();
    expect(seen).toEqual(range(70));
  });
});
