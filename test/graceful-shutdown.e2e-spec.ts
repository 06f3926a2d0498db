/**
 * Closing the API (what SIGTERM does in main.ts) while keep-alive clients keep it busy: it stops accepting,
 * answers what is in flight, tells each connection `Connection: close` and closes it after its response — and
 * so finishes while the clients are still sending, instead of answering them for as long as they keep going.
 */
import type { INestApplication } from '@nestjs/common';
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { createSessionApi } from '../apps/session-api/src/app.factory';
import { ApiKeys } from '../apps/session-api/src/config/api-keys.provider';
import { parseConfig } from '../apps/session-api/src/config/config';
import { HEAD_GRACE_MS } from '../apps/session-api/src/http/connection-drain';
import type { JsonReplyExpressAdapter } from '../apps/session-api/src/http/json-reply.adapter';
import { within } from '@session-engine/testing';
import { ApiHarness, client, KEY_APP1, MANAGEMENT_KEY, sessionUrl } from './support/harness';

jest.setTimeout(60_000);

/** How one request ended: with an answer (its status, whether it arrived whole), or with the error it failed with. */
interface Outcome {
  status?: number;
  connection?: string;
  /** The answer's body arrived whole; false when its connection was cut after the head. */
  whole?: boolean;
  /** The error of a request that got no answer at all. */
  error?: string;
}

let harness: ApiHarness;

beforeAll(async () => {
  harness = await ApiHarness.start();
});

afterAll(async () => {
  await harness?.dispose();
});

async function startApi(): Promise<{ app: INestApplication; port: number }> {
  const config = parseConfig({
    PORT: '0',
    DATA_DIR: harness.dataDir,
    INTEGRATION_API_KEYS: `${KEY_APP1}=1`,
    MANAGEMENT_API_KEYS: `${MANAGEMENT_KEY}=*`,
    LOG_LEVEL: 'silent',
  });
  const app = await createSessionApi({
    config,
    keys: new ApiKeys(config.integrationKeys!, config.managementKeys!),
    store: harness.store,
    logger: pino({ level: 'silent' }),
  });
  await app.listen(0, '127.0.0.1');
  return { app, port: (app.getHttpServer().address() as AddressInfo).port };
}

/**
 * One GET on the keep-alive `agent`: its status, `Connection` header and whether its body arrived whole, or the
 * error it ended with before any answer.
 */
function get(agent: http.Agent, port: number, path: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const request = http.request(
      { agent, host: '127.0.0.1', port, path, headers: { authorization: `ApiKey-v1 ${KEY_APP1}` } },
      (response) => {
        const answer = () =>
          resolve({
            status: response.statusCode,
            connection: response.headers.connection,
            whole: response.complete,
          });
        response.resume();
        // An answer cut short is told by `complete`, whichever of these comes first.
        response.on('end', answer);
        response.on('error', answer);
        response.on('close', answer);
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    request.end();
  });
}

describe('closing the API while keep-alive clients keep sending', () => {
  it('finishes while they still send: every answer a whole 200, then new connections refused', async () => {
    const id = `drain-${Date.now()}`;
    const { app, port } = await startApi();
    const created = await client({ baseUrl: `http://127.0.0.1:${port}` } as ApiHarness)(
      'PUT',
      sessionUrl(id),
      {
        body: { customerSession: { cartItems: [{ sku: 'A', quantity: 1, price: 2 }] } },
      },
    );
    expect(created.status).toBe(200);

    // Requests the server read and then did not answer in full (its connection cut under the response).
    let cut = 0;
    (app.getHttpServer() as http.Server).on('request', (_request, response: http.ServerResponse) =>
      response.on('close', () => {
        if (!response.writableFinished) cut++;
      }),
    );

    // Four pooled connections, each sending its next GET as soon as the last was answered, until told to stop.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const outcomes: Outcome[] = [];
    let sending = true;
    let closeResolved = false;
    // Requests sent once close() had resolved (and before the clients were told to stop).
    let sentAfterClose = 0;
    const workers = Array.from({ length: 4 }, async () => {
      while (sending) {
        if (closeResolved) sentAfterClose++;
        const outcome = await get(agent, port, sessionUrl(id));
        outcomes.push(outcome);
        // A refused connection means the server is gone; wait a little rather than spin.
        if (outcome.error !== undefined) await new Promise((resolve) => setTimeout(resolve, 20));
      }
    });
    const answered = () => outcomes.filter((outcome) => outcome.status === 200).length;
    while (answered() < 50) await new Promise((resolve) => setTimeout(resolve, 20));

    const closed = app.close().then(() => {
      closeResolved = true;
      return 'closed' as const;
    });
    // Without the drain, close() would wait for as long as the clients keep their connections busy: it would
    // resolve only once they were told to stop, below, and none would send a request after it.
    const result = await within(closed, 15_000, 'still open' as const);
    // The clients go on a little: the port is closed now.
    const refused = () => outcomes.some((outcome) => outcome.error === 'ECONNREFUSED');
    for (let waited = 0; waited < 5_000 && !refused(); waited += 20)
      await new Promise((resolve) => setTimeout(resolve, 20));
    sending = false;
    await Promise.all(workers);
    agent.destroy();

    // close() resolved while the clients were still sending: they sent more requests after it.
    expect({ result, sentAfterClose: sentAfterClose > 0 }).toEqual({
      result: 'closed',
      sentAfterClose: true,
    });
    // Every answer was a whole 200: nothing in flight was cut, nothing failed.
    expect(cut).toBe(0);
    expect(
      outcomes.filter(
        (outcome) => outcome.status !== undefined && !(outcome.status === 200 && outcome.whole),
      ),
    ).toEqual([]);
    // A connection busy when the drain began was told to close after its response (one per connection at most);
    // one idle at that instant was closed at once.
    expect(outcomes.filter((outcome) => outcome.connection === 'close').length).toBeLessThanOrEqual(4);
    // After that, new connections are refused; a request written to a connection the server was closing as
    // idle may be reset, or fail writing (EPIPE), as with any keep-alive server closing — a keep-alive client's
    // normal risk: a request the server never read (it cut none it read, above), never an answer other than a
    // whole 200.
    const errors = new Set(
      outcomes.flatMap((outcome) => (outcome.error === undefined ? [] : [outcome.error])),
    );
    expect([...errors].filter((code) => !['ECONNREFUSED', 'ECONNRESET', 'EPIPE'].includes(code))).toEqual([]);
    expect(errors.has('ECONNREFUSED')).toBe(true);
  });

  it('a request still arriving when the close begins is answered whole, with Connection: close, and then its connection closes', async () => {
    const id = `drain-upload-${Date.now()}`;
    const { app, port } = await startApi();
    const body = JSON.stringify({ customerSession: { cartItems: [{ sku: 'A', quantity: 1, price: 2 }] } });
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    // Head and half the body: the application has the request and waits for the rest.
    socket.write(
      `PUT ${sessionUrl(id)} HTTP/1.1\r\nHost: x\r\nAuthorization: ApiKey-v1 ${KEY_APP1}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n` +
        body.slice(0, 10),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    let closed = false;
    const closing = app.close().then(() => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(closed).toBe(false); // it waits for the request in flight
    socket.write(body.slice(10));
    await ended; // the server closed the connection after the answer
    await closing;
    const head = received.slice(0, received.indexOf('\r\n\r\n')).toLowerCase();
    expect(head.split('\r\n')[0]).toBe('http/1.1 200 ok');
    expect(head.split('\r\n')).toContain('connection: close');
    expect(JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4))).toMatchObject({
      customerSession: { integrationId: id, cartItems: [expect.objectContaining({ sku: 'A' })] },
    });
    expect(await harness.streamLength(`session-1-${id}`)).toBe(1);
  });
  /** A raw connection to `port`, once the server has it; what it receives, and when it closes. */
  async function rawConnection(port: number) {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    await new Promise((resolve) => setTimeout(resolve, 50)); // accepted by the server
    return { socket, closed, received: () => received };
  }

  it('a connection that never sent a byte (a TCP check, a preconnect) does not hold the close open', async () => {
    const { app, port } = await startApi();
    const silent = await rawConnection(port);
    // Without its close here, app.close() waited for as long as the client kept the connection (timeout below).
    const result = await within(
      app.close().then(() => 'closed' as const),
      15_000,
      'still open' as const,
    );
    expect(result).toBe('closed');
    await silent.closed;
    expect(silent.received()).toBe('');
  });

  it(`a request head still arriving when the close begins has ${HEAD_GRACE_MS / 1000} s to finish: finished, it is answered; unfinished, its connection is closed`, async () => {
    const { app, port } = await startApi();
    const finishing = await rawConnection(port);
    const stalled = await rawConnection(port);
    finishing.socket.write('GET /health/live HTTP/1.1\r\nHost: x\r\n');
    stalled.socket.write('GET /health/live HTTP/1.1\r\nHost: x\r\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closing = app.close();
    await new Promise((resolve) => setTimeout(resolve, 200));
    finishing.socket.write('\r\n');
    await finishing.closed;
    expect(finishing.received().split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(finishing.received().toLowerCase()).toContain('\r\nconnection: close\r\n');
    await closing; // once the stalled one's grace has run out
    await stalled.closed;
    expect(stalled.received()).toBe('');
  });
});

describe('announcing the shutdown first (SHUTDOWN_DRAIN_MS)', () => {
  it('refuses new connections, answers each open one once more with Connection: close (/health/ready 503), and settles when none is left', async () => {
    const id = `announce-${Date.now()}`;
    const { app, port } = await startApi();
    // Created through the harness's API (same store), so that no other connection to this one is open.
    const created = await client(harness)('PUT', sessionUrl(id), {
      body: { customerSession: { cartItems: [{ sku: 'A', quantity: 1, price: 2 }] } },
    });
    expect(created.status).toBe(200);
    // Two pooled connections, idle once answered.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    const before = await Promise.all([get(agent, port, sessionUrl(id)), get(agent, port, sessionUrl(id))]);
    expect(before).toEqual([
      { status: 200, connection: 'keep-alive', whole: true },
      { status: 200, connection: 'keep-alive', whole: true },
    ]);
    const pooled = Object.values(agent.freeSockets).flat();
    expect(pooled).toHaveLength(2);
    const closedByServer = pooled.map(
      (socket) => new Promise<void>((resolve) => socket!.once('close', () => resolve())),
    );

    // A minute at most: it settles well before, once the two connections are gone.
    const settled = (app.getHttpAdapter() as JsonReplyExpressAdapter).announceShutdown(60_000);
    let isSettled = false;
    void settled.then(() => (isSettled = true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Still open: closing them here could race with a request their client is writing on one.
    expect({ destroyed: pooled.map((socket) => socket!.destroyed), isSettled }).toEqual({
      destroyed: [false, false],
      isSettled: false,
    });
    // No new connection: a balancer sends the request to another replica (nothing was sent here).
    expect(await get(new http.Agent(), port, sessionUrl(id))).toEqual({ error: 'ECONNREFUSED' });

    // The client uses them again: each answered whole, told to close, and closed by the server after it.
    const ready = await get(agent, port, '/health/ready');
    expect(ready).toEqual({ status: 503, connection: 'close', whole: true });
    const reused = await get(agent, port, sessionUrl(id));
    expect(reused).toEqual({ status: 200, connection: 'close', whole: true });
    await Promise.all(closedByServer);
    await settled;

    await app.close();
    agent.destroy();
  });

  it('a connection left idle for the whole period is still open when it ends, and closed by the close that follows', async () => {
    const { app, port } = await startApi();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    expect(await get(agent, port, '/health/live')).toEqual({
      status: 200,
      connection: 'keep-alive',
      whole: true,
    });
    const pooled = Object.values(agent.freeSockets).flat()[0]!;
    const closed = new Promise<void>((resolve) => pooled.once('close', () => resolve()));
    await (app.getHttpAdapter() as JsonReplyExpressAdapter).announceShutdown(300);
    expect(pooled.destroyed).toBe(false);
    await app.close();
    await closed;
    agent.destroy();
  });

  it('says why /health/ready is 503 while the shutdown drains', async () => {
    const { app, port } = await startApi();
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const settled = (app.getHttpAdapter() as JsonReplyExpressAdapter).announceShutdown(60_000);
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.write('GET /health/ready HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    await settled;
    await app.close();
    expect(received.split('\r\n')[0]).toBe('HTTP/1.1 503 Service Unavailable');
    const body = JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4)) as {
      errors: { title: string }[];
      message: string;
    };
    expect(body.errors[0]!.title).toBe('SERVICE_UNAVAILABLE');
    expect(body.message).toMatch(
      /^Not ready: shutting down since \d{4}-\d\d-\d\dT[\d:.]+Z: new connections are refused; the open ones are answered until SHUTDOWN_DRAIN_MS has passed, each answer closing its connection$/,
    );
  });
});
