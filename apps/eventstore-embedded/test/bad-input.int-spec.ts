import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { EventStoreDBClient, ResolvedEvent, StreamNotFoundError } from '@eventstore/db-client';
import { Empty, StreamIdentifier, UUID } from '@eventstore/db-client/generated/shared_pb';
import { Empty as ProtoEmpty } from 'google-protobuf/google/protobuf/empty_pb';
import { AppendReq, BatchAppendReq, ReadReq } from '@eventstore/db-client/generated/streams_pb';
import { collect, delay, startNode, testEvents, TestNode } from './support';

jest.setTimeout(30_000);

const STREAMS = '/event_store.client.streams.Streams';
const raw = (b: Buffer) => b;
const bytes = (m: { serializeBinary(): Uint8Array }) => Buffer.from(m.serializeBinary());
const streamId = (name: string) => new StreamIdentifier().setStreamName(Buffer.from(name));

function unary(client: grpc.Client, method: string, body: Buffer): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(`${STREAMS}/${method}`, raw, raw, body, (err) => resolve(err ?? null)),
  );
}

function clientStream(
  client: grpc.Client,
  method: string,
  bodies: Buffer[],
): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) => {
    const call = client.makeClientStreamRequest(`${STREAMS}/${method}`, raw, raw, (err) =>
      resolve(err ?? null),
    );
    for (const b of bodies) call.write(b);
    call.end();
  });
}

function serverStream(
  client: grpc.Client,
  body: Buffer,
): Promise<{ messages: number; error: grpc.ServiceError | null }> {
  return new Promise((resolve) => {
    let messages = 0;
    const call = client.makeServerStreamRequest(`${STREAMS}/Read`, raw, raw, body);
    call.on('data', () => messages++);
    call.on('error', (error: grpc.ServiceError) => resolve({ messages, error }));
    call.on('end', () => resolve({ messages, error: null }));
  });
}

const appendOptions = (stream: string) =>
  bytes(
    new AppendReq().setOptions(
      new AppendReq.Options().setStreamIdentifier(streamId(stream)).setAny(new Empty()),
    ),
  );

describe('embedded EventStoreDB: bad input and misbehaving clients', () => {
  let node: TestNode;
  let rawClient: grpc.Client;
  /** Whatever a test started beyond the node, undone even when it failed (a live process keeps jest running). */
  let cleanup: Array<() => Promise<unknown> | void> = [];
  beforeEach(async () => {
    node = await startNode();
    rawClient = new grpc.Client(`127.0.0.1:${node.es.port}`, grpc.credentials.createInsecure());
  });
  afterEach(async () => {
    for (const undo of cleanup.reverse()) await undo();
    cleanup = [];
    rawClient.close();
    await node.dispose();
  });

  const serverStillServes = async () => {
    await node.client.appendToStream('health', testEvents(1));
    expect((await collect(node.client.readStream('health'))).length).toBeGreaterThan(0);
  };

  it('answers malformed requests with a gRPC error status and keeps serving', async () => {
    const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect((await unary(rawClient, 'Delete', garbage))?.code).toBeDefined();
    expect((await unary(rawClient, 'Delete', Buffer.alloc(0)))?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await unary(rawClient, 'Tombstone', Buffer.alloc(0)))?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await serverStream(rawClient, garbage)).error?.code).toBeDefined();
    expect((await serverStream(rawClient, Buffer.alloc(0))).error?.code).toBe(grpc.status.INVALID_ARGUMENT);

    const badRegex = new ReadReq().setOptions(
      new ReadReq.Options()
        .setAll(new ReadReq.Options.AllOptions().setStart(new Empty()))
        .setSubscription(new ReadReq.Options.SubscriptionOptions())
        .setFilter(
          new ReadReq.Options.FilterOptions()
            .setStreamIdentifier(new ReadReq.Options.FilterOptions.Expression().setRegex('(unclosed'))
            .setMax(10)
            .setCheckpointintervalmultiplier(1),
        ),
    );
    expect((await serverStream(rawClient, bytes(badRegex))).error?.code).toBe(grpc.status.INVALID_ARGUMENT);

    const proposed = (id: string) =>
      bytes(
        new AppendReq().setProposedMessage(
          (() => {
            const m = new AppendReq.ProposedMessage()
              .setId(new UUID().setString(id))
              .setData(Buffer.from('{}'));
            m.getMetadataMap().set('type', 't').set('content-type', 'application/json');
            return m;
          })(),
        ),
      );
    // Events before options, a bad event id, an empty request, garbage.
    expect((await clientStream(rawClient, 'Append', [proposed(randomUUID())]))?.code).toBe(
      grpc.status.INVALID_ARGUMENT,
    );
    expect(
      (await clientStream(rawClient, 'Append', [appendOptions('bad'), proposed('not-a-uuid')]))?.code,
    ).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await clientStream(rawClient, 'Append', [Buffer.alloc(0)]))?.code).toBe(
      grpc.status.INVALID_ARGUMENT,
    );
    expect((await clientStream(rawClient, 'Append', [garbage]))?.code).toBeDefined();
    expect((await clientStream(rawClient, 'Append', []))?.code).toBe(grpc.status.INVALID_ARGUMENT);

    // BatchAppend without a correlation id, and garbage.
    const batchError = await new Promise<grpc.ServiceError | null>((resolve) => {
      const call = rawClient.makeBidiStreamRequest(`${STREAMS}/BatchAppend`, raw, raw);
      call.on('data', () => undefined);
      call.on('error', resolve);
      call.on('end', () => resolve(null));
      call.write(bytes(new BatchAppendReq().setIsFinal(true)));
      call.write(garbage);
    });
    expect(batchError?.code).toBeDefined();
    await expect(collect(node.client.readStream('bad'))).rejects.toThrow(StreamNotFoundError);
    await serverStillServes();
  });

  it('a client vanishing mid-append writes nothing and disturbs no one', async () => {
    // A separate process opens an Append, sends the options and one event, then is killed before it completes.
    const m = new AppendReq.ProposedMessage()
      .setId(new UUID().setString(randomUUID()))
      .setData(Buffer.from('{}'));
    m.getMetadataMap().set('type', 't').set('content-type', 'application/json');
    const frames = [appendOptions('half-written'), bytes(new AppendReq().setProposedMessage(m))];
    const script = `
      const grpc = require('@grpc/grpc-js');
      const c = new grpc.Client(process.argv[1], grpc.credentials.createInsecure());
      const call = c.makeClientStreamRequest('${STREAMS}/Append', (b) => b, (b) => b, () => {});
      const frames = process.argv[2].split(',').map((h) => Buffer.from(h, 'hex'));
      let n = 0;
      for (const f of frames) call.write(f, () => { if (++n === frames.length) process.stdout.write('sent\\n'); });
      setInterval(() => {}, 1000);
    `;
    const child = spawn(
      process.execPath,
      ['-e', script, `127.0.0.1:${node.es.port}`, frames.map((f) => f.toString('hex')).join(',')],
      { cwd: path.resolve(__dirname, '../../..'), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // The child never ends by itself (its interval): killed here, or after the test if it failed first.
    cleanup.push(() => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      return exited;
    });
    await new Promise((resolve, reject) => {
      child.stdout!.once('data', resolve);
      child.once('exit', (code) => reject(new Error(`the client process exited (${code}) before it sent`)));
    });
    await delay(50);
    child.kill('SIGKILL');
    await exited;

    const batch = rawClient.makeBidiStreamRequest(`${STREAMS}/BatchAppend`, raw, raw);
    batch.on('error', () => undefined);
    const options = new BatchAppendReq.Options()
      .setStreamIdentifier(streamId('half-batched'))
      .setAny(new ProtoEmpty());
    batch.write(
      bytes(
        new BatchAppendReq()
          .setCorrelationId(new UUID().setString(randomUUID()))
          .setOptions(options)
          .setProposedMessagesList([
            (() => {
              const p = new BatchAppendReq.ProposedMessage().setId(new UUID().setString(randomUUID()));
              p.getMetadataMap().set('type', 't').set('content-type', 'application/json');
              return p;
            })(),
          ])
          .setIsFinal(false),
      ),
    );
    await delay(50);
    batch.cancel();
    await delay(50);

    await expect(collect(node.client.readStream('half-written'))).rejects.toThrow(StreamNotFoundError);
    await expect(collect(node.client.readStream('half-batched'))).rejects.toThrow(StreamNotFoundError);
    await serverStillServes();
  });

  it('a client disconnecting mid-subscription does not disturb other subscribers', async () => {
    const leaving = EventStoreDBClient.connectionString(node.es.connectionString);
    cleanup.push(() => leaving.dispose().catch(() => undefined));
    const leavingSub = leaving.subscribeToAll();
    let leavingGot = 0;
    leavingSub.on('data', () => leavingGot++);
    leavingSub.on('error', () => undefined);

    const staying: ResolvedEvent[] = [];
    const stayingSub = node.client.subscribeToAll();
    const done = new Promise<void>((resolve, reject) => {
      stayingSub.on('error', reject);
      stayingSub.on('data', (e: ResolvedEvent) => {
        staying.push(e);
        if (staying.length === 2000) resolve();
      });
    });
    for (let i = 0; i < 20; i++) {
      await node.client.appendToStream(`sub-${i % 3}`, testEvents(100));
      if (i === 5) {
        const deadline = Date.now() + 10_000;
        while (leavingGot === 0) {
          if (Date.now() > deadline) throw new Error('the leaving subscriber received nothing in 10 s');
          await delay(10);
        }
        await leaving.dispose();
      }
    }
    await done;
    await stayingSub.unsubscribe();
    expect(new Set(staying.map((e) => e.event!.id)).size).toBe(2000);
    await serverStillServes();
  });
});
