import type { ArgumentsHost, ExceptionFilter } from '@nestjs/common';
import { PassThrough } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { ClientAbortFilter, isClientAbort } from './client-abort';

/** A request stream destroyed with `error`, as Node destroys one whose connection closed mid-body. */
function abortedRequest(error: Error): IncomingMessage {
  const req = new PassThrough();
  req.on('error', () => undefined);
  req.destroy(error);
  return req as unknown as IncomingMessage;
}

const hostOf = (req: IncomingMessage | undefined, res: object) =>
  ({ switchToHttp: () => ({ getRequest: () => req, getResponse: () => res }) }) as unknown as ArgumentsHost;

describe('isClientAbort', () => {
  it("is the request stream's own error, and nothing else", () => {
    const aborted = Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
    const req = abortedRequest(aborted);
    expect(isClientAbort(aborted, req)).toBe(true);
    // Another error with the same look, raised by the application while the client was gone: still an error.
    expect(isClientAbort(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }), req)).toBe(false);
    expect(isClientAbort(new Error('boom'), new PassThrough() as unknown as IncomingMessage)).toBe(false);
    expect(isClientAbort(undefined, new PassThrough() as unknown as IncomingMessage)).toBe(false);
    expect(isClientAbort(aborted, undefined)).toBe(false);
  });
});

describe('ClientAbortFilter', () => {
  it('drops a client abort without answering, and hands anything else to the next filter', () => {
    const caught: unknown[] = [];
    const next: ExceptionFilter = { catch: (exception) => caught.push(exception) };
    const filter = new ClientAbortFilter(next);
    const aborted = new Error('aborted');
    const res = { destroy: jest.fn() };
    filter.catch(aborted, hostOf(abortedRequest(aborted), res));
    expect({ caught, destroyed: res.destroy.mock.calls.length }).toEqual({ caught: [], destroyed: 1 });
    const other = new Error('boom');
    filter.catch(other, hostOf(abortedRequest(aborted), res));
    expect(caught).toEqual([other]);
  });
});
