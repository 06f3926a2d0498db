import {
  Client,
  credentials,
  Server,
  ServerCredentials,
  ServerInterceptingCall,
  ServerWritableStream,
  ServiceError,
  status,
} from '@grpc/grpc-js';
import type { ReadReq } from '@eventstore/db-client/generated/streams_pb';
import { readSink } from '../src/streams/sink';

type Call = ServerWritableStream<ReadReq, Buffer>;

/**
 * The read sink against real grpc-js: the framed path (our own gRPC framing straight onto the HTTP/2 stream)
 * is what the server uses, and the per-message path it falls back to (interceptors present) behaves the same.
 */
describe('read sink', () => {
  const path = '/test.Sink/Read';
  const messages = (n: number, size: number) =>
    Array.from({ length: n }, (_, i) => Buffer.alloc(size + (i % 7), i % 251));
  let server: Server;
  let client: Client;
  let handler: (call: Call, kind: string) => void;
  let kinds: string[];

  async function start(withInterceptor: boolean): Promise<void> {
    kinds = [];
    server = new Server(
      withInterceptor ? { interceptors: [(_method, call) => new ServerInterceptingCall(call)] } : {},
    );
    server.register<ReadReq, Buffer>(
      path,
      (call: Call) => {
        const kind = readSink(call).constructor.name;
        kinds.push(kind);
        handler(call, kind);
      },
      (b: Buffer) => b,
      (b: Buffer) => b as unknown as ReadReq,
      'serverStream',
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  }

  afterEach(async () => {
    client.close();
    // A call a failed test left open would hold a graceful shutdown, and with the server jest, forever.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 1_000);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  });

  /** Reads the whole response: the messages received, and the error status if the call failed. */
  function read(): Promise<{ received: Buffer[]; error?: ServiceError }> {
    return new Promise((resolve) => {
      const received: Buffer[] = [];
      const call = client.makeServerStreamRequest(
        path,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.alloc(0),
      );
      call.on('data', (m: Buffer) => received.push(m));
      call.on('error', (error: ServiceError) => resolve({ received, error }));
      call.on('end', () => resolve({ received }));
    });
  }

  /** Sends `all` in pages of 100, waiting for the client whenever the sink says so. */
  async function pump(call: Call, all: Buffer[]): Promise<ReturnType<typeof readSink>> {
    const sink = readSink(call);
    for (let i = 0; i < all.length; i += 100) {
      for (const m of all.slice(i, i + 100)) sink.push(m);
      if (!sink.flush() && !(await sink.drained())) break;
    }
    return sink;
  }

  it.each([
    ['without interceptors: framed path', false, 'FramedSink'],
    ['with an interceptor: one call.write per message', true, 'MessageSink'],
  ])('%s — every message in order, large ones too, past flow control', async (_, intercepted, expected) => {
    await start(intercepted);
    // ~4 MB: far more than the client's 64 KiB window and our 512 KiB queue, so backpressure must work.
    const all = [...messages(5000, 700), Buffer.alloc(200_000, 9), ...messages(1000, 1), Buffer.alloc(0)];
    handler = (call) => void pump(call, all).then((sink) => sink.end());
    const { received, error } = await read();
    expect(kinds[0]).toBe(expected);
    expect(error).toBeUndefined();
    expect(received).toHaveLength(all.length);
    expect(received.every((m, i) => m.equals(all[i]))).toBe(true);
  });

  it.each([
    ['framed', false],
    ['per message', true],
  ])(
    '%s: a failure ends the call with its status after what was pushed before it',
    async (_, intercepted) => {
      await start(intercepted);
      const all = messages(10, 50);
      handler = (call) => {
        const sink = readSink(call);
        for (const m of all) sink.push(m);
        sink.fail(Object.assign(new Error('gone'), { code: status.NOT_FOUND, details: 'gone' }));
      };
      const { received, error } = await read();
      expect(received).toHaveLength(10);
      expect(error?.code).toBe(status.NOT_FOUND);
    },
  );

  it.each([
    ['framed: after ~512 KiB', false, 480, 520],
    ['per message: after 256 messages', true, 250, 260],
  ])('%s queued in one turn it is saturated', async (_, intercepted, low, high) => {
    await start(intercepted);
    let pushed = 0;
    handler = (call) => {
      const sink = readSink(call);
      while (!sink.saturated() && pushed < 10_000) {
        sink.push(Buffer.alloc(1024 - 5));
        pushed++;
      }
      void sink.drained().then(() => sink.end());
    };
    const { received } = await read();
    expect(pushed).toBeGreaterThanOrEqual(low);
    expect(pushed).toBeLessThanOrEqual(high);
    expect(received).toHaveLength(pushed);
  });

  it('says stop once the client cancelled', async () => {
    await start(false);
    let sink: ReturnType<typeof readSink> | undefined;
    const cancelled = new Promise<void>((resolve) => {
      handler = (call) => {
        sink = readSink(call);
        sink.push(Buffer.from('first'));
        sink.flush();
        call.on('cancelled', () => resolve());
      };
    });
    const call = client.makeServerStreamRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.alloc(0),
    );
    call.on('error', () => undefined);
    await new Promise((resolve) => call.once('data', resolve));
    call.cancel();
    await cancelled;
    sink!.push(Buffer.from('late'));
    expect(sink!.flush()).toBe(false);
    await expect(sink!.drained()).resolves.toBe(false);
  });
});
