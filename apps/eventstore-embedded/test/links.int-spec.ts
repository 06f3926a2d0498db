/**
 * Link events (`$>`, data `<revision>@<stream>`) and `resolveLinkTos`, as the client's own tests describe
 * EventStoreDB (packages/test: appendToStream "link events", readStream / readAll "resolveLinkTos"): resolved, a
 * read or subscription gets the linked event as `event` and the link as `link`; not resolved, the link is the event;
 * a link whose target cannot be read comes as the link alone.
 */
import { binaryEvent, ResolvedEvent, START } from '@eventstore/db-client';
import type { Readable } from 'node:stream';
import { collect, startNode, testEvents, TestNode } from './support';

jest.setTimeout(30_000);

const link = (target: string) => binaryEvent({ type: '$>', data: Buffer.from(target, 'utf8') });

/** event: type@stream:revision (or none), link: the same of the link. */
const shape = (e: ResolvedEvent) => ({
  event: e.event && `${e.event.type}@${e.event.streamId}:${e.event.revision}`,
  link: e.link && `${e.link.type}@${e.link.streamId}:${e.link.revision}`,
});

describe('embedded EventStoreDB: link events and resolveLinkTos', () => {
  let node: TestNode;
  beforeEach(async () => {
    node = await startNode();
    await node.client.appendToStream('target', testEvents(3, 'fact'));
    await node.client.appendToStream('linker', [link('2@target'), link('7@target'), link('0@nowhere')]);
  });
  afterEach(async () => {
    await node.dispose();
  });

  it('a stream read resolves links when asked: the linked event as event, the link as link', async () => {
    const resolved = await collect(node.client.readStream('linker', { resolveLinkTos: true }));
    expect(resolved.map(shape)).toEqual([
      { event: 'fact@target:2', link: '$>@linker:0' },
      // Targets that cannot be read (past the stream's end, a stream never written): the link alone.
      { event: undefined, link: '$>@linker:1' },
      { event: undefined, link: '$>@linker:2' },
    ]);
    expect(resolved[0]!.event!.data).toEqual({ n: 2 });
    // The position is the link's, where it is in $all.
    const linkInAll = (await collect(node.client.readAll())).find((e) => e.event!.streamId === 'linker')!;
    expect(resolved[0]!.link!.position).toEqual(linkInAll.event!.position);

    const plain = await collect(node.client.readStream('linker'));
    expect(plain.map(shape)).toEqual([
      { event: '$>@linker:0', link: undefined },
      { event: '$>@linker:1', link: undefined },
      { event: '$>@linker:2', link: undefined },
    ]);
  });

  it('readAll and subscriptions resolve them too; a target deleted since is no longer resolved', async () => {
    const all = await collect(node.client.readAll({ resolveLinkTos: true }));
    expect(all.filter((e) => e.link !== undefined).map(shape)).toEqual([
      { event: 'fact@target:2', link: '$>@linker:0' },
      { event: undefined, link: '$>@linker:1' },
      { event: undefined, link: '$>@linker:2' },
    ]);

    const sub = node.client.subscribeToStream('linker', { fromRevision: START, resolveLinkTos: true });
    const first = await new Promise<ResolvedEvent>((resolve, reject) => {
      (sub as Readable).once('data', resolve).once('error', reject);
    });
    await sub.unsubscribe();
    expect(shape(first)).toEqual({ event: 'fact@target:2', link: '$>@linker:0' });

    await node.client.deleteStream('target');
    const afterDelete = await collect(
      node.client.readStream('linker', { resolveLinkTos: true, maxCount: 1 }),
    );
    expect(afterDelete.map(shape)).toEqual([{ event: undefined, link: '$>@linker:0' }]);
  });
});
