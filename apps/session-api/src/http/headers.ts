/** Small readers of request headers that Node's `req.headers` cannot answer. */
import type { IncomingMessage } from 'node:http';

/**
 * How many times the request carries the header `name` (lower case). Node keeps only the first
 * `Authorization` and joins repeated unknown headers with ", ", so a repeated header is invisible in
 * `req.headers`; a proxy in front may read another copy than we do, so callers refuse repeats.
 */
export function headerCount(req: Pick<IncomingMessage, 'rawHeaders'>, name: string): number {
  const raw = req.rawHeaders;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const header = raw[i]!;
    if (header.length === name.length && header.toLowerCase() === name) count++;
  }
  return count;
}
