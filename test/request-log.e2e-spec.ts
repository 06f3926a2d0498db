/**
 * What an operator reads in the API's log about error responses, and what a client is told about retrying a 503.
 * - The `request` line of every error response carries its stable code (`code`, the body's `errors[0].title`):
 *   before, a 503 of a store that is down looked like NOT_READY, a 409 ILLEGAL_STATE_TRANSITION like
 *   CONCURRENT_UPDATE (`{"status":503,"msg":"request"}` and nothing else).
 * - An event store that cannot be reached is logged at warn once for the outage, not once per 503.
 * - A 503 where retrying is the remedy carries `Retry-After`: 1 s on NOT_READY, 5 s on SERVICE_UNAVAILABLE (also
 *   /health/ready's).
 * The API runs in this process on its own embedded event store (stopped by the last test) and SQLite read
 * models, with no projector: a query with a `minPosition` is NOT_READY after its 5 s.
 */
import type { INestApplication } from '@nestjs/common';
import { EsdbClientAdapter } from '@session-engine/event-store';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { startEmbeddedEventStore, type EmbeddedEventStore } from '../apps/eventstore-embedded/src';
import { createSessionApi } from '../apps/session-api/src/app.factory';
import { keyIdOf } from '../apps/session-api/src/config/api-keys';
import { ApiKeys } from '../apps/session-api/src/config/api-keys.provider';
import { parseConfig } from '../apps/session-api/src/config/config';

jest.setTimeout(60_000);

const KEY = 'int-key-log-0001';
const MANAGEMENT = 'mgmt-key-log-0001';
type Line = Record<string, unknown> & { level: number; msg: string };
interface Reply {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Headers;
  line: Line;
}

describe('the request log line of an error response, and Retry-After', () => {
  let dataDir: string;
  let store: EmbeddedEventStore | undefined;
  let adapter: EsdbClientAdapter;
  let app: INestApplication;
  let baseUrl: string;
  const lines: Line[] = [];
  let n = 0;

  /** Sends a request with a request id of its own; returns the reply and, once logged, its `request` line. */
  const send = async (
    method: string,
    path: string,
    options: { key?: string | null; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<Reply> => {
    const requestId = `log-${++n}`;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-request-id': requestId,
      ...options.headers,
    };
    const key = options.key === undefined ? `ApiKey-v1 ${KEY}` : options.key;
    if (key !== null) headers.authorization = key;
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await response.text();
    const deadline = Date.now() + 5_000;
    let line: Line | undefined;
    while (!(line = lines.find((l) => l.msg === 'request' && l.requestId === requestId))) {
      if (Date.now() > deadline) throw new Error(`no request line for ${method} ${path}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return {
      status: response.status,
      body: text ? JSON.parse(text) : undefined,
      headers: response.headers,
      line,
    };
  };
  const manage = (path: string) => send('GET', path, { key: `ManagementKey-v1 ${MANAGEMENT}` });

  /** The API on the store, logging into `lines`. */
  const startApi = async () => {
    const config = parseConfig({
      PORT: '0',
      DATA_DIR: dataDir,
      INTEGRATION_API_KEYS: `${KEY}=1`,
      MANAGEMENT_API_KEYS: `${MANAGEMENT}=*`,
      LOG_LEVEL: 'info',
    });
    adapter = EsdbClientAdapter.connect(store!.connectionString);
    const logger = pino(
      { level: 'info' },
      { write: (line: string) => void lines.push(JSON.parse(line) as Line) },
    );
    app = await createSessionApi({
      config,
      keys: new ApiKeys(config.integrationKeys!, config.managementKeys!),
      store: adapter,
      logger,
    });
    await app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  };
  const stopApi = async () => {
    await app?.close();
    await adapter?.close();
  };

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'request-log-e2e-'));
    store = await startEmbeddedEventStore({ port: 0, dataDir: join(dataDir, 'eventstore'), silent: true });
    await startApi();
  });

  afterAll(async () => {
    await stopApi();
    await store?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('names the code of every error response in its request line, and none for a success', async () => {
    const created = await send('PUT', '/v2/customer_sessions/log-a', {
      body: { customerSession: { cartItems: [{ sku: 'x', quantity: 1, price: 2 }] } },
    });
    expect(created.status).toBe(200);
    expect(created.line).not.toHaveProperty('code');
    expect((await send('POST', '/v2/customer_sessions/log-a/close')).status).toBe(200);

    const cases: [Promise<Reply>, number, string][] = [
      [send('POST', '/v2/customer_sessions/log-a/close'), 409, 'ILLEGAL_STATE_TRANSITION'],
      [send('GET', '/v2/customer_sessions/log-missing'), 404, 'SESSION_NOT_FOUND'],
      [
        send('PUT', '/v2/customer_sessions/log-b', { body: { customerSession: { colour: 1 } } }),
        400,
        'UNKNOWN_FIELD',
      ],
      [send('GET', '/v2/customer_sessions/log-a', { key: null }), 401, 'UNAUTHORIZED'],
      [manage('/v1/applications/1/sessions?pageSize=5&pageSize=6'), 400, 'INVALID_FIELD'],
      [send('GET', '/nowhere'), 404, 'NOT_FOUND'],
    ];
    for (const [reply, status, code] of cases) {
      const { status: got, body, line } = await reply;
      expect({ got, title: body.errors[0].title, line }).toEqual({
        got: status,
        title: code,
        line: expect.objectContaining({ level: 30, status, code, msg: 'request' }),
      });
    }
  });

  it('names the key (its id, never the key) and the application of a request once a guard has resolved them', async () => {
    const integration = await send('GET', '/v2/customer_sessions/log-a');
    const keyId = keyIdOf(KEY);
    expect(integration.line).toMatchObject({ keyId, applicationId: 1 });
    const management = await manage('/v1/applications/7/sessions');
    expect(management.line).toMatchObject({ status: 200, keyId: keyIdOf(MANAGEMENT), applicationId: 7 });
    const badApplication = await manage('/v1/applications/abc/sessions');
    expect(badApplication.line).toMatchObject({ status: 400, keyId: keyIdOf(MANAGEMENT) });
    expect(badApplication.line).not.toHaveProperty('applicationId');
    const refused = await send('GET', '/v2/customer_sessions/log-a', { key: 'ApiKey-v1 not-a-key' });
    expect(refused.line).toMatchObject({ status: 401 });
    expect(refused.line).not.toHaveProperty('keyId');
    expect(JSON.stringify(lines)).not.toContain(KEY);
    expect(JSON.stringify(lines)).not.toContain(MANAGEMENT);
  });

  /** Writes `request` on a connection of its own; resolves with everything read until the server closes it. */
  const raw = (request: string, { end = false } = {}) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect(Number(new URL(baseUrl).port), '127.0.0.1', () => {
        socket.write(request);
        if (end) socket.end();
      });
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
  const waitFor = async (found: () => boolean) => {
    const deadline = Date.now() + 5_000;
    while (!found() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  const metricsText = async () => (await fetch(`${baseUrl}/metrics`)).text();

  it('logs and measures what the router serves under its route, however the path is spelled', async () => {
    const body = JSON.stringify({ customerSession: { cartItems: [{ sku: 'x', quantity: 1, price: 2 }] } });
    // Absolute form (RFC 9112 §3.2.2), which a client may send to any server: applied like any PUT.
    const answer = await raw(
      'PUT http://shop.example/v2/customer_sessions/log-absolute HTTP/1.1\r\nHost: shop.example\r\n' +
        `Authorization: ApiKey-v1 ${KEY}\r\nX-Request-Id: log-absolute\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    const upper = await send('GET', '/V2/Customer_Sessions/log-absolute');
    expect(upper.status).toBe(200);
    await waitFor(() => lines.some((l) => l.requestId === 'log-absolute'));
    expect(lines.find((l) => l.requestId === 'log-absolute')).toMatchObject({
      method: 'PUT',
      route: '/v2/customer_sessions/:id',
      status: 200,
    });
    expect(upper.line).toMatchObject({ route: '/v2/customer_sessions/:id', status: 200 });
    const metrics = await metricsText();
    expect(metrics).toMatch(
      /http_request_duration_seconds_count\{method="PUT",route="\/v2\/customer_sessions\/:id",status="200"\} [1-9]/,
    );
    expect(metrics).not.toMatch(/route="unmatched",status="200"/);
    // Served, and like /metrics not logged.
    const before = lines.length;
    expect((await fetch(`${baseUrl}/METRICS/`)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(lines.slice(before).filter((l) => l.msg === 'request')).toEqual([]);
  });

  it('measures a method the API does not answer as other: no client can multiply the series', async () => {
    for (const method of ['PROPFIND', 'MKCOL', 'PURGE', 'SEARCH']) {
      const reply = await send(method, '/v2/customer_sessions/log-a');
      expect(reply.status).toBe(405);
      expect(reply.line).toMatchObject({ method, route: '/v2/customer_sessions/:id', status: 405 });
    }
    const metrics = await metricsText();
    expect(metrics).toMatch(
      /http_request_duration_seconds_count\{method="other",route="\/v2\/customer_sessions\/:id",status="405"\} 4\n/,
    );
    expect(metrics).not.toMatch(/method="(PROPFIND|MKCOL|PURGE|SEARCH)"/);
  });

  it('names the peer of every request, and keeps a caller’s request id it did not pass on', async () => {
    const ok = await send('GET', '/v2/customer_sessions/log-a');
    expect(ok.line).toMatchObject({ remoteAddress: '127.0.0.1' });
    expect(ok.line).not.toHaveProperty('refusedRequestId');
    expect(ok.line).not.toHaveProperty('forwardedFor');
    // Behind a proxy the peer is the proxy: the client it names is logged as the request said it.
    const proxied = await send('GET', '/v2/customer_sessions/log-a', {
      headers: { 'x-forwarded-for': '203.0.113.7, 198.51.100.2' },
    });
    expect(proxied.line).toMatchObject({
      remoteAddress: '127.0.0.1',
      forwardedFor: '203.0.113.7, 198.51.100.2',
    });
    // Refused before any guard (no key): still who it came from, which is what finds a flood of 401s.
    const refused = await send('GET', '/v2/customer_sessions/log-a', {
      key: null,
      headers: { 'x-forwarded-for': `${'x'.repeat(300)}, 198.51.100.9` },
    });
    // A long one keeps its end: the address the proxy appended, whatever the caller put in front of it.
    expect(refused.line).toMatchObject({ status: 401, forwardedFor: `…${'x'.repeat(185)}, 198.51.100.9` });
    const long = 'trace-'.repeat(50);
    const response = await fetch(`${baseUrl}/v2/customer_sessions/log-a`, {
      headers: { authorization: `ApiKey-v1 ${KEY}`, 'x-request-id': long },
    });
    const given = response.headers.get('x-request-id')!;
    expect(given).not.toBe(long);
    await waitFor(() => lines.some((l) => l.requestId === given));
    expect(lines.find((l) => l.requestId === given)).toMatchObject({
      status: 200,
      refusedRequestId: long.slice(0, 200),
    });
  });

  it('logs a client that hangs up in the middle of a body once, as aborted (499), not as a refused request', async () => {
    const before = lines.length;
    await raw(
      'PUT /v2/customer_sessions/log-gone HTTP/1.1\r\nHost: a\r\n' +
        `Authorization: ApiKey-v1 ${KEY}\r\nX-Request-Id: log-gone\r\nContent-Type: application/json\r\n` +
        'Content-Length: 100\r\n\r\n{"customerSession":',
      { end: true },
    );
    await waitFor(() => lines.some((l) => l.requestId === 'log-gone'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(lines.find((l) => l.requestId === 'log-gone')).toMatchObject({
      status: 499,
      aborted: true,
      remoteAddress: '127.0.0.1',
    });
    expect(lines.slice(before).filter((l) => l.msg === 'malformed HTTP request refused')).toEqual([]);
  });

  it('logs a request the HTTP parser refused, which has no request line', async () => {
    const before = lines.length;
    const { port } = new URL(baseUrl);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () =>
        socket.write('GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n'),
      );
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    const deadline = Date.now() + 5_000;
    while (
      !lines.slice(before).some((l) => l.msg === 'malformed HTTP request refused') &&
      Date.now() < deadline
    )
      await new Promise((resolve) => setTimeout(resolve, 5));
    expect(lines.slice(before)).toContainEqual(
      expect.objectContaining({
        level: 30,
        msg: 'malformed HTTP request refused',
        status: 400,
        code: 'MALFORMED_REQUEST',
        remoteAddress: '127.0.0.1',
      }),
    );
    // Not in the request histogram (it has no request line): a counter of its own.
    expect(await metricsText()).toMatch(
      /http_malformed_requests_total\{status="400",code="MALFORMED_REQUEST"\} 1\n/,
    );
  });

  it('answers NOT_READY with Retry-After: 1, and logs its code', async () => {
    const reply = await manage('/v1/applications/1/sessions?minPosition=1000000000');
    expect(reply.status).toBe(503);
    expect(reply.body.errors[0].title).toBe('NOT_READY');
    expect(reply.headers.get('retry-after')).toBe('1');
    expect(reply.line).toMatchObject({ status: 503, code: 'NOT_READY' });
  });

  it('with the event store down: each 503 logged with its code, Retry-After: 5, one warn line for the outage', async () => {
    const before = lines.length;
    await store!.close();
    store = undefined;
    for (let i = 0; i < 10; i++) {
      const reply = await send('GET', '/v2/customer_sessions/log-a');
      expect({ status: reply.status, title: reply.body.errors[0].title }).toEqual({
        status: 503,
        title: 'SERVICE_UNAVAILABLE',
      });
      expect(reply.headers.get('retry-after')).toBe('5');
      expect(reply.line).toMatchObject({ level: 30, status: 503, code: 'SERVICE_UNAVAILABLE' });
    }
    const warned = lines.slice(before).filter((l) => l.level >= 40);
    expect(warned).toEqual([
      expect.objectContaining({
        msg: 'event store not reachable: answering 503',
        dependency: 'event-store',
        requestId: expect.any(String),
        suppressed: 0,
      }),
    ]);
    expect(JSON.stringify(warned)).not.toMatch(/stack/);

    const ready = await fetch(`${baseUrl}/health/ready`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('retry-after')).toBe('5');

    // A command the unreachable store answered 503 is measured as such, not among the 500s (`error`).
    const close = await send('POST', '/v2/customer_sessions/log-a/close');
    expect(close.status).toBe(503);
    const metrics = await metricsText();
    expect(metrics).toMatch(
      /session_command_duration_seconds_count\{command="CloseSession",outcome="service_unavailable"\} 1\n/,
    );
    expect(metrics).not.toMatch(/session_command_duration_seconds_count\{[^}]*outcome="error"\}/);
  });
});
