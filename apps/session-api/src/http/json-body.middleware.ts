/**
 * Reads JSON request bodies ourselves instead of Express's parser, so that every body problem goes through
 * the one exception filter: over 5 MiB is 413 PAYLOAD_TOO_LARGE (the rest of the upload is drained, not
 * buffered), unparsable JSON is 400 INVALID_JSON. An empty body leaves `req.body` undefined.
 */
import { Injectable, type NestMiddleware } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, ErrorCode } from '../errors/api-error';

export const MAX_BODY_BYTES = 5 * 1024 * 1024;

/**
 * Keys that class-transformer / class-validator delete from the object they validate (in place). A body that
 * holds one (e.g. in free-form `attributes`) is parsed a second time, so the command sees what the client sent.
 */
const KEYS_THE_VALIDATION_PIPE_STRIPS = /"(__proto__|constructor|prototype)"\s*:/;

export interface ParsedBody {
  /** What the validation pipe validates (and may alter). */
  body: unknown;
  /** The body exactly as the client sent it. */
  clientBody: unknown;
}

export function readJsonBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<ParsedBody> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    let size = 0;
    let tooLarge = Number.isFinite(declared) && declared > limit;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      if (!tooLarge) chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      if (tooLarge) {
        reject(ApiError.of(413, ErrorCode.PayloadTooLarge, `The request body exceeds ${limit} bytes`));
        return;
      }
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve({ body: undefined, clientBody: undefined });
      try {
        const body: unknown = JSON.parse(text);
        resolve({
          body,
          clientBody: KEYS_THE_VALIDATION_PIPE_STRIPS.test(text) ? JSON.parse(text) : body,
        });
      } catch (error) {
        reject(
          ApiError.of(
            400,
            ErrorCode.InvalidJson,
            `The request body is not valid JSON: ${(error as Error).message}`,
          ),
        );
      }
    });
  });
}

@Injectable()
export class JsonBodyMiddleware implements NestMiddleware {
  async use(
    req: IncomingMessage & { body?: unknown; clientBody?: unknown },
    _res: ServerResponse,
    next: () => void,
  ): Promise<void> {
    if (req.method === 'GET' || req.method === 'HEAD') return next();
    const parsed = await readJsonBody(req);
    req.body = parsed.body;
    req.clientBody = parsed.clientBody;
    next();
  }
}
