import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { within } from '@session-engine/testing';
import { ConnectionDrain } from './connection-drain';

/** A plain HTTP server with the drain, answering `/slow` in two parts 300 ms apart and anything else at once. */
async function serve(headGraceMs?: number) {
  const server = http.createServer((req, res) => {
    if (req.url === '/slow') {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('a');
      setTimeout(() => res.end('b'), 300);
    } else res.end('ok');
  });
  const drain = new ConnectionDrain(server, headGraceMs);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const closed = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return { server, drain, port: (server.address() as AddressInfo).port, closed };
}

/** A raw connection, once the server has accepted it: what it receives, and whether it was reset. */
async function connect(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  let error: string | undefined;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (received += chunk));
  socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code));
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  await new Promise((resolve) => setTimeout(resolve, 30));
  return { socket, ended, received: () => received, error: () => error };
}

describe('ConnectionDrain at the close', () => {
  it('given a request sent but not yet read when the close starts, then it is answered, not reset', async () => {
    const { drain, port, closed } = await serve();
    const client = await connect(port);
    client.socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    // The bytes reach the server's socket while its event loop is held here, so that nothing has read them yet.
    const until = Date.now() + 30;
    while (Date.now() < until);
    drain.start();
    await client.ended;
    expect({ error: client.error(), status: client.received().split('\r\n')[0] }).toEqual({
      error: undefined,
      status: 'HTTP/1.1 200 OK',
    });
    await closed();
  });

  it('given a connection that has sent nothing, then it is closed and does not hold the close open', async () => {
    const { drain, port, closed } = await serve();
    const client = await connect(port);
    drain.start();
    await Promise.all([client.ended, closed()]);
    expect(client.received()).toBe('');
  });

  it('given a response in flight and the next request head arriving behind it, then the head has the grace, and the connection closes', async () => {
    const { drain, port, closed } = await serve(200);
    const client = await connect(port);
    client.socket.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 100)); // its head is out: too late for Connection: close
    drain.start();
    client.socket.write('GET / HTTP/1.1\r\nHost: x\r\n'); // the next head, never finished
    // Without the grace, this connection was left open after /slow ended (Node counts it busy), holding the close.
    const result = await within(
      Promise.all([client.ended, closed()]).then(() => 'closed' as const),
      3_000,
      'still open' as const,
    );
    expect(result).toBe('closed');
    expect(client.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n1\r\na\r\n1\r\nb\r\n0\r\n\r\n$/);
  });
});
