/**
 * The body budget (apps/session-api/src/http/body-budget.ts): large bodies are read and handled at most 16 MiB
 * of them at a time, and the next one waits, unread, for its turn, while small commands and the health checks
 * are served. Without it, 100 connections uploading bodies near the 5 MiB limit held ~1 GB and kept
 * `/health/live` waiting 7–9 s. The test holds three large uploads half-sent, so that they keep their shares,
 * and watches the fourth wait (`http_body_budget_waiting_requests`) and then run once the first is answered; a
 * small body sent chunked is served meanwhile, a large one waits.
 */
import * as net from 'node:net';
import { BODY_BUDGET_BYTES, BODY_BUDGET_WAIT_MS } from '../apps/session-api/src/http/body-budget';
import { ApiHarness, client, KEY_APP1, sessionUrl } from './support/harness';
import { eventually } from './support/eventually';

jest.setTimeout(120_000);

let harness: ApiHarness;
let call: ReturnType<typeof client>;
const session = `body-budget-${Date.now()}`;

/** 5/16 of the budget's bytes (the 5 MiB limit): three fit in it, a fourth does not. */
const LARGE = Math.floor(BODY_BUDGET_BYTES / 3.2);
const sockets: net.Socket[] = [];

beforeAll(async () => {
  harness = await ApiHarness.start();
  call = client(harness);
  const created = await call('PUT', sessionUrl(session), { body: { customerSession: { profileId: '' } } });
  expect(created.status).toBe(200);
});

afterAll(async () => {
  // A failed run leaves uploads half-sent: the harness would wait for their connections.
  for (const socket of sockets) socket.destroy();
  await harness.dispose();
});

async function gauge(name: string): Promise<number | undefined> {
  const text = await fetch(`${harness.baseUrl}/metrics`).then((response) => response.text());
  const line = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return line ? Number(line[1]) : undefined;
}

/**
 * An AddCartItems of one line whose body is padded with JSON whitespace to LARGE bytes, sent on a connection of its
 * own: the headers and the first MiB at once, the rest when `finish` is called (written, not ended: the server
 * aborts a request whose client half-closes). `status` is the answer's status (0: none).
 */
function largeUpload(
  sku: string,
  {
    headers = '',
    firstBytes = 1024 * 1024,
    contentType = 'application/json',
  }: { headers?: string; firstBytes?: number; contentType?: string } = {},
): {
  finish: () => void;
  status: Promise<number>;
  response: Promise<string>;
  received: () => string;
} {
  const json = JSON.stringify({ cartItems: [{ sku, quantity: 1, price: 1.25 }] });
  const body = Buffer.from(json.padEnd(LARGE, ' '));
  const url = new URL(harness.baseUrl);
  const socket = net.connect(Number(url.port), url.hostname);
  sockets.push(socket);
  socket.write(
    `POST ${sessionUrl(session, '/cart_items')} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: ApiKey-v1 ${KEY_APP1}\r\n` +
      `Content-Type: ${contentType}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n${headers}\r\n`,
  );
  socket.write(body.subarray(0, firstBytes));
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (received += chunk));
  const status = new Promise<number>((resolve, reject) => {
    // A refused upload's connection is closed with its body unread: writing the rest of it then fails.
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error);
    });
    // The final answer's status (after a `100 Continue`, if one came).
    socket.on('close', () => resolve(Number(/HTTP\/1\.1 ([2-5]\d{2})/.exec(received)?.[1] ?? 0)));
  });
  const response = status.then(() => received);
  return {
    finish: () => socket.write(body.subarray(firstBytes)),
    status,
    response,
    received: () => received,
  };
}

async function skusOfSession(): Promise<string[]> {
  const read = await call('GET', sessionUrl(session));
  return (read.body as { customerSession: { cartItems: { sku: string }[] } }).customerSession.cartItems.map(
    (item) => item.sku,
  );
}

/**
 * A POST of `body` with `Transfer-Encoding: chunked` (its size unknown until it ends, as some HTTP clients send
 * every body), on a connection of its own; resolves with the answer's status (0: none).
 */
function chunkedPost(path: string, body: string): Promise<number> {
  const url = new URL(harness.baseUrl);
  const socket = net.connect(Number(url.port), url.hostname);
  sockets.push(socket);
  const bytes = Buffer.from(body);
  socket.write(
    `POST ${path} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: ApiKey-v1 ${KEY_APP1}\r\n` +
      `Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n` +
      `${bytes.length.toString(16)}\r\n`,
  );
  socket.write(bytes);
  socket.write('\r\n0\r\n\r\n');
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (received += chunk));
  return new Promise<number>((resolve, reject) => {
    socket.on('error', reject);
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0)));
  });
}

it('reads large bodies up to the budget at once; the next waits unread while small requests are served', async () => {
  // One at a time, so that the order they reach the budget is the order they were sent.
  const uploads: ReturnType<typeof largeUpload>[] = [];
  for (const sku of ['L1', 'L2', 'L3']) {
    uploads.push(largeUpload(sku));
    await eventually(async () => (await gauge('http_body_budget_bytes')) === uploads.length * LARGE, 15_000);
  }
  const fourth = largeUpload('L4');
  await eventually(async () => (await gauge('http_body_budget_waiting_requests')) === 1, 15_000);
  // The fourth's whole body is sent; it still waits for a share, and is not read.
  fourth.finish();

  // Small bodies are never held, nor are the health checks.
  const small = await call('POST', sessionUrl(session, '/cart_items'), {
    body: { cartItems: [{ sku: 'S', quantity: 1, price: 1 }] },
  });
  expect(small.status).toBe(200);
  expect((await fetch(`${harness.baseUrl}/health/live`)).status).toBe(200);
  // Nor is a small body sent chunked: its size is unknown until it ends, and it ends within the exempt bytes.
  expect(
    await chunkedPost(
      sessionUrl(session, '/cart_items'),
      JSON.stringify({ cartItems: [{ sku: 'C', quantity: 1, price: 1 }] }),
    ),
  ).toBe(200);
  // A large one sent chunked waits, once it has grown past them, for the 5 MiB it may reach.
  const chunkedLarge = chunkedPost(
    sessionUrl(session, '/cart_items'),
    JSON.stringify({ cartItems: [{ sku: 'CL', quantity: 1, price: 1 }] }).padEnd(256 * 1024, ' '),
  );
  await eventually(async () => (await gauge('http_body_budget_waiting_requests')) === 2, 15_000);

  // The first one answered gives its share back: the fourth is read and run.
  uploads[0]!.finish();
  expect(await uploads[0]!.status).toBe(200);
  expect(await fourth.status).toBe(200);
  uploads[1]!.finish();
  uploads[2]!.finish();
  expect(await Promise.all([uploads[1]!.status, uploads[2]!.status, chunkedLarge])).toEqual([200, 200, 200]);

  // Every share is given back, and each command was applied once.
  await eventually(async () => (await gauge('http_body_budget_bytes')) === 0, 15_000);
  expect(await gauge('http_body_budget_waiting_requests')).toBe(0);
  const read = await call('GET', sessionUrl(session));
  const skus = (read.body as { customerSession: { cartItems: { sku: string }[] } }).customerSession.cartItems
    .map((item) => item.sku)
    .sort();
  expect(skus).toEqual(['C', 'CL', 'L1', 'L2', 'L3', 'L4', 'S']);
});

it('refuses a large body that found no room within its wait: 503, Retry-After, not applied', async () => {
  const holders = ['H1', 'H2', 'H3'].map((sku) => largeUpload(sku));
  await eventually(async () => (await gauge('http_body_budget_bytes')) === 3 * LARGE, 15_000);
  const late = largeUpload('LATE');
  late.finish();
  await eventually(async () => (await gauge('http_body_budget_waiting_requests')) === 1, 15_000);
  const answer = await late.response;
  expect(answer).toMatch(/^HTTP\/1\.1 503 /);
  expect(answer).toMatch(/\r\nRetry-After: 5\r\n/i);
  const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as {
    errors: { title: string; details: string }[];
  };
  expect(body.errors[0]!.title).toBe('SERVICE_UNAVAILABLE');
  expect(body.errors[0]!.details).toContain(`waited ${BODY_BUDGET_WAIT_MS / 1000} s`);
  expect(await gauge('http_body_budget_waiting_requests')).toBe(0);
  for (const holder of holders) holder.finish();
  expect(await Promise.all(holders.map((holder) => holder.status))).toEqual([200, 200, 200]);
  const read = await call('GET', sessionUrl(session));
  const skus = (
    read.body as { customerSession: { cartItems: { sku: string }[] } }
  ).customerSession.cartItems.map((item) => item.sku);
  expect(skus).toEqual(expect.arrayContaining(['H1', 'H2', 'H3']));
  expect(skus).not.toContain('LATE');
});

it('holds the 100 Continue of a large body until it has its share; a body its headers refuse is refused at once', async () => {
  const holders = ['E1', 'E2', 'E3'].map((sku) => largeUpload(sku));
  await eventually(async () => (await gauge('http_body_budget_bytes')) === 3 * LARGE, 15_000);
  const expecting = largeUpload('EXPECT', { headers: 'Expect: 100-continue\r\n', firstBytes: 0 });
  await eventually(async () => (await gauge('http_body_budget_waiting_requests')) === 1, 15_000);
  // Not asked to send its body while it waits (Node would have said `100 Continue` at once).
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(expecting.received()).toBe('');

  // A body refused by its Content-Type does not queue for a share it would not use: 415, without a 100.
  const textPlain = largeUpload('TEXT', {
    headers: 'Expect: 100-continue\r\n',
    firstBytes: 0,
    contentType: 'text/plain',
  });
  expect(await textPlain.status).toBe(415);
  expect(textPlain.received()).not.toContain('100 Continue');
  expect(await gauge('http_body_budget_waiting_requests')).toBe(1);
  holders[0]!.finish();
  expect(await holders[0]!.status).toBe(200);
  await eventually(async () => expecting.received().startsWith('HTTP/1.1 100 Continue\r\n'), 15_000);
  expecting.finish();
  expect(await expecting.status).toBe(200);
  holders[1]!.finish();
  holders[2]!.finish();
  expect(await Promise.all([holders[1]!.status, holders[2]!.status])).toEqual([200, 200]);
  expect(await skusOfSession()).toEqual(expect.arrayContaining(['E1', 'E2', 'E3', 'EXPECT']));
});
