import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { closeIfLargeBodyUnread, MAX_DRAINED_BYTES } from './unread-body';

function connectionAfter(
  headers: IncomingHttpHeaders,
  state: { complete?: boolean; readableFlowing?: boolean | null } = {},
): string | undefined {
  const set: Record<string, string> = {};
  const req = { headers, complete: false, readableFlowing: null, ...state } as unknown as IncomingMessage;
  const res = {
    setHeader: (name: string, value: string) => (set[name] = value),
  } as unknown as ServerResponse;
  closeIfLargeBodyUnread(req, res);
  return set.Connection;
}

describe('closeIfLargeBodyUnread', () => {
  it.each([
    ['no body', {}],
    ['an empty body', { 'content-length': '0' }],
    [`a body of ${MAX_DRAINED_BYTES} bytes`, { 'content-length': String(MAX_DRAINED_BYTES) }],
  ])('lets Node drain %s, keeping the connection', (_name, headers) => {
    expect(connectionAfter(headers)).toBeUndefined();
  });

  it.each([
    [`a body of ${MAX_DRAINED_BYTES + 1} bytes`, { 'content-length': String(MAX_DRAINED_BYTES + 1) }],
    ['a chunked body', { 'transfer-encoding': 'chunked' }],
    ['a Content-Length that is no number', { 'content-length': 'lots' }],
  ])('closes the connection after the response on %s', (_name, headers) => {
    expect(connectionAfter(headers)).toBe('close');
  });

  it('leaves a body alone that was received whole or is being read', () => {
    const large = { 'content-length': String(10 * MAX_DRAINED_BYTES) };
    expect(connectionAfter(large, { complete: true })).toBeUndefined();
    expect(connectionAfter(large, { readableFlowing: true })).toBeUndefined();
    expect(connectionAfter(large, { readableFlowing: false })).toBe('close');
  });
});
