/**
 * Reads JSON request bodies ourselves instead of Express's parser, so that every body problem goes through
 * the one exception filter: over 5 MiB is 413 PAYLOAD_TOO_LARGE (the rest of the upload is drained, not
 * buffered), unparsable JSON is 400 INVALID_JSON. An empty body leaves `req.body` undefined.
 */
import { Injectable, type NestMiddleware } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, ErrorCode } from '../errors/api-error';

export const MAX_BODY_BYTES = 5 * 1024 * 1024;

export function readJsonBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
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
      if (text.trim() === '') return resolve(undefined);
      try {
        resolve(JSON.parse(text));
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
    req: IncomingMessage & { body?: unknown },
    _res: ServerResponse,
    next: () => void,
  ): Promise<void> {
    if (req.method === 'GET' || req.method === 'HEAD') return next();
    req.body = await readJsonBody(req);
    next();
  }
}
