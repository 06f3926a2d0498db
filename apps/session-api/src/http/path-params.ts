/**
 * A path parameter that is not valid percent-encoding (`/v2/customer_sessions/%zz`, `%`, `%FF`, `%ED%A0%80`: a
 * `%` without two hex digits, or escapes that do not spell UTF-8) fails in the router while it matches the path,
 * before any middleware or handler of the route runs: Express's URIError "Failed to decode param '%zz'", which
 * Nest turns into a bare 400. Here it becomes the refusal the parameter's own check gives — 400 INVALID_FIELD at
 * the parameter's pointer (`/customerSessionId`, `/applicationId`, `/id`, `/profileId`), named from the route
 * Express holds, so a new route is covered without a list to keep — or, should no route name the segment,
 * 400 MALFORMED_REQUEST.
 */
import type { IncomingMessage } from 'node:http';
import { ApiError, ErrorCode } from '../errors/api-error';
import { printableExcerpt } from './json-body.middleware';
import type { RouteLayer } from './method-not-allowed';

/** Whether `error` is the router's failure to decode a path parameter (router's `decodeParam`). */
export function isUndecodableParam(error: unknown): boolean {
  // By name, not instanceof: the error may come from another realm (jest's, say).
  return (
    error instanceof Error && error.name === 'URIError' && (error as { status?: unknown }).status === 400
  );
}

const decodes = (segment: string): boolean => {
  try {
    decodeURIComponent(segment);
    return true;
  } catch {
    return false;
  }
};

/** Stands for the undecodable segment `index` while the path is matched again (no `%`: the router keeps it). */
const marker = (index: number) => `\u0000undecodable-${index}\u0000`;

/**
 * The name of the parameter `path` holds an undecodable segment in, and that segment, by the first layer that
 * matches `path` with its undecodable segments replaced by markers; undefined when none does.
 */
export function undecodableParam(
  layers: readonly RouteLayer[],
  path: string,
): { name: string; segment: string } | undefined {
  const segments = path.split('/');
  const bad = new Map<string, string>();
  const masked = segments
    .map((segment, index) => {
      if (!segment.includes('%') || decodes(segment)) return segment;
      bad.set(marker(index), segment);
      return marker(index);
    })
    .join('/');
  if (bad.size === 0) return undefined;
  for (const layer of layers) {
    let matched: unknown;
    try {
      matched = layer.match(masked);
    } catch {
      continue;
    }
    const params = matched ? (matched as { params?: Record<string, unknown> }).params : undefined;
    for (const [name, value] of Object.entries(params ?? {})) {
      const segment = typeof value === 'string' ? bad.get(value) : undefined;
      if (segment !== undefined) return { name, segment };
    }
  }
  return undefined;
}

/** What a path segment or a query parameter that cannot be decoded is told. */
export const PERCENT_ENCODING_RULE =
  'is not valid percent-encoding: a "%" must be followed by two hex digits, and the escapes must spell UTF-8';

/** The 400 refusing a request whose path parameter the router could not decode (see the module's comment). */
export function undecodableParamError(
  layers: readonly RouteLayer[],
  req: IncomingMessage & { path?: string },
) {
  const path = req.path ?? (req.url ?? '/').split('?', 1)[0]!;
  const found = undecodableParam(layers, path);
  const rule = PERCENT_ENCODING_RULE;
  if (found === undefined) return ApiError.of(400, ErrorCode.MalformedRequest, `The request path ${rule}`);
  return ApiError.of(
    400,
    ErrorCode.InvalidField,
    `${found.name} "${printableExcerpt(found.segment)}" ${rule}`,
    `/${found.name}`,
  );
}
