/**
 * A client that closes its connection while it is still sending its request (a `Content-Length: 1000` and 200
 * bytes, then gone) is routine, not a server fault. The JSON body reader then fails with the request stream's
 * own error (`Error: aborted`, ECONNRESET), which ApiExceptionFilter would log as an unexpected error with its
 * stack and try to answer on a dead connection. This filter stands in front of it and lets that one error go:
 * nothing is answered (nobody is left to read it), nothing was appended (the command never ran), and the request
 * is logged once, by request-context.ts, as an `info` line with `aborted: true` and status 499.
 */
import { Catch, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Whether `error` is the failure of `req`'s own stream: the connection went away before the request was
 * received. Any other error — one the application raised — is not, even when the client has gone too.
 */
export function isClientAbort(error: unknown, req: IncomingMessage | undefined): boolean {
  // An identity check, not `instanceof Error`: Node's own errors may come from another realm (jest's, say).
  return error !== null && error !== undefined && req?.errored === error;
}

@Catch()
export class ClientAbortFilter implements ExceptionFilter {
  constructor(private readonly next: ExceptionFilter) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    if (isClientAbort(exception, http.getRequest<IncomingMessage | undefined>())) {
      // The socket is gone already; this only makes sure nothing of the response lingers.
      http.getResponse<ServerResponse>().destroy();
      return;
    }
    this.next.catch(exception, host);
  }
}
