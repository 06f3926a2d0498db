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
    const result = await Promise.race([
      closed,
      new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), 15_000)),
    ]);
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
});
