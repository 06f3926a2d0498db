/** Ports for tests of what a process does when nothing answers. */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/** A TCP port on 127.0.0.1 that nothing listens on (taken, then released). */
export async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/**
 * A TCP relay to `target` that can be made to hang like a stopped process: while hung it still accepts
 * connections, but moves no byte in either direction until resumed. Lets a test tell "down" (refused at once)
 * from "hung" (nothing answers, nothing fails). `drop()` cuts the connections instead, as a killed process's
 * are cut.
 */
export interface HangingRelay {
  readonly port: number;
  hang(): void;
  resume(): void;
  /** Closes every open connection at once; new ones are relayed as before. */
  drop(): void;
  /**
   * Holds every chunk, either way, for `delayMs` before passing it on, in order (a slow link: each message of
   * a call arrives `delayMs` late); 0 passes them on at once again.
   */
  slow(delayMs: number): void;
  close(): Promise<void>;
}

export async function startHangingRelay(
  targetPort: number,
  targetHost = '127.0.0.1',
  /** The port to listen on (a relay closed before, started again where its clients look for it); 0: any free one. */
  listenPort = 0,
): Promise<HangingRelay> {
  const sockets = new Set<Socket>();
  let hung = false;
  let delayMs = 0;
  /** Passes chunks on to `to` in order, each `delayMs` after it came (never before one that came earlier). */
  const forwarder = (to: Socket) => {
    const waiting: { chunk: Buffer; due: number }[] = [];
    const release = () => {
      while (waiting.length > 0 && waiting[0]!.due <= Date.now()) {
        const { chunk } = waiting.shift()!;
        if (!to.destroyed) to.write(chunk);
      }
      if (waiting.length > 0) setTimeout(release, waiting[0]!.due - Date.now());
    };
    return (chunk: Buffer) => {
      if (delayMs === 0 && waiting.length === 0) {
        to.write(chunk);
        return;
      }
      waiting.push({ chunk, due: Date.now() + delayMs });
      if (waiting.length === 1) setTimeout(release, delayMs);
    };
  };
  const track = (socket: Socket): Socket => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    if (hung) socket.pause();
    return socket;
  };
  const relay = createServer((client) => {
    track(client);
    const upstream = track(connect(targetPort, targetHost));
    // Plain forwarding rather than pipe(): pipe's back-pressure would resume a socket this relay hung.
    client.on('data', forwarder(upstream));
    upstream.on('data', forwarder(client));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(listenPort, '127.0.0.1', resolve));
  return {
    port: (relay.address() as AddressInfo).port,
    hang() {
      hung = true;
      for (const socket of sockets) socket.pause();
    },
    resume() {
      hung = false;
      for (const socket of sockets) socket.resume();
    },
    drop() {
      for (const socket of sockets) socket.destroy();
    },
    slow(ms: number) {
      delayMs = ms;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => relay.close(resolve));
    },
  };
}
