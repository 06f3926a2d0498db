/**
 * Nest's Express adapter with a shorter way out for command replies: a JSON object answering a POST / PUT /
 * DELETE is serialised and written in one `end()`, without Express's `res.json` → `res.send` chain (which
 * re-parses the Content-Type, converts the body to a Buffer and checks request freshness — meaningless for
 * a non-GET). GET and HEAD keep Express's path, so conditional GETs (`If-None-Match` → 304) still work, and
 * anything that is not a plain JSON object (streams, errors, strings) goes through Nest's own reply.
 *
 * It also puts 405 Method Not Allowed in front of Nest's not-found handler (see method-not-allowed.ts): only
 * requests that matched no route reach it; turns the router's failure to decode a path parameter into the
 * parameter's 400 (path-params.ts); and closing the app drains keep-alive connections
 * (connection-drain.ts) instead of answering busy ones for as long as their clients keep sending.
 */
import { ExpressAdapter } from '@nestjs/platform-express';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { ConnectionDrain } from './connection-drain';
import { methodAwareNotFound, type RouteLayer } from './method-not-allowed';
import { isUndecodableParam, undecodableParamError } from './path-params';

type ErrorHandler = (
  error: unknown,
  req: IncomingMessage & { path?: string },
  res: ServerResponse,
  next: (error?: unknown) => void,
) => unknown;

export class JsonReplyExpressAdapter extends ExpressAdapter {
  private drain?: ConnectionDrain;

  override initHttpServer(options: Parameters<ExpressAdapter['initHttpServer']>[0]): void {
    super.initHttpServer(options);
    this.drain = new ConnectionDrain(this.getHttpServer() as Server);
  }

  /**
   * The shutdown has begun: stops accepting, and gives the open connections up to `ms` to be used once more,
   * each response closing its connection (see ConnectionDrain.announce); /health/ready answers 503 meanwhile.
   * Resolves when none is left open, or after `ms`. `close()` follows.
   */
  announceShutdown(ms: number): Promise<void> {
    if (!this.drain) return Promise.resolve();
    this.drain.announce();
    return this.drain.settled(ms);
  }

  /** When `announceShutdown()` was called; undefined while the app serves as usual. */
  get shutdownAnnouncedAt(): Date | undefined {
    return this.drain?.announcedAt;
  }

  /** Stops accepting, lets each connection finish its current response, then closes it; resolves once all are. */
  override close() {
    this.drain?.start();
    return super.close();
  }

  override reply(response: ServerResponse & { req?: IncomingMessage }, body: unknown, statusCode?: number) {
    const method = response.req?.method;
    if (
      method === 'GET' ||
      method === 'HEAD' ||
      body === null ||
      typeof body !== 'object' ||
      body instanceof Error ||
      Object.getPrototypeOf(body) !== Object.prototype ||
      response.hasHeader('Content-Type')
    ) {
      return super.reply(response, body, statusCode);
    }
    if (statusCode) response.statusCode = statusCode;
    const json = JSON.stringify(body);
    response.setHeader('Content-Type', 'application/json; charset=utf-8');
    response.setHeader('Content-Length', Buffer.byteLength(json));
    response.end(json);
  }

  override setNotFoundHandler(handler: Parameters<typeof methodAwareNotFound>[1], prefix?: string) {
    return super.setNotFoundHandler(
      methodAwareNotFound(() => this.routeLayers(), handler),
      prefix,
    );
  }

  /** A path parameter the router could not decode is refused as the parameter's own check would (path-params.ts). */
  override setErrorHandler(handler: ErrorHandler, prefix?: string) {
    const layers = () => this.routeLayers();
    const wrapped: ErrorHandler = (error, req, res, next) =>
      handler(isUndecodableParam(error) ? undecodableParamError(layers(), req) : error, req, res, next);
    return super.setErrorHandler(wrapped, prefix);
  }

  private routeLayers(): readonly RouteLayer[] {
    return this.getInstance<{ router?: { stack?: readonly RouteLayer[] } }>().router?.stack ?? [];
  }
}
