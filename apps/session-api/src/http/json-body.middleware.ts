/**
 * Reads JSON request bodies ourselves instead of Express's parser, so that every body problem goes through
 * the one exception filter, before validation and before anything is stored:
 * - over 5 MiB is 413 PAYLOAD_TOO_LARGE: a body whose `Content-Length` says so is refused at once, unread, and
 *   the connection closed after the answer (a client that asked for `100 Continue` was refused it and sends
 *   none); a chunked body that grows past the limit is read to its end and discarded, not buffered, then refused;
 * - a `Content-Type` given more than once is 400 INVALID_HEADER, whatever the values: Node keeps the first, and a
 *   proxy in front may read another (as a repeated `Idempotency-Key`);
 * - a body that is not JSON by its headers is 415 UNSUPPORTED_MEDIA_TYPE: a `Content-Type` other than
 *   `application/json` or `application/<anything>+json` (parameters allowed; a `charset` must be UTF-8), or a
 *   `Content-Encoding` other than `identity`. A body sent WITHOUT `Content-Type` is read as JSON: it still has
 *   to parse and pass validation, so nothing is misread (SPEC §4 defines a JSON API and no other format);
 * - bytes that are not UTF-8, or text that is not JSON, are 400 INVALID_JSON (the message quotes at most a
 *   short, printable excerpt);
 * - JSON nested deeper than MAX_BODY_DEPTH is 400 LIMIT_EXCEEDED: the validation pipe recurses over the
 *   body and would overflow the stack on thousands of levels;
 * - a string key or value that is not well-formed UTF-16 (a lone surrogate from a `\ud800` escape) is 400
 *   INVALID_FIELD: it has no UTF-8 encoding, so it would be stored as U+FFFD and collide with other values;
 * - outside free-form `attributes`, an object of more than MAX_OBJECT_MEMBERS members or an array of more than
 *   MAX_ARRAY_ENTRIES entries is 400 LIMIT_EXCEEDED: no field of this API takes that many (the largest, 100
 *   costs and 1,000 cart items, are refused by validation with their own limits), and class-transformer's copy
 *   of an object takes time that grows with the square of its keys — 200,000 keys held the event loop 38 s.
 *   Free-form attributes are bounded by their size instead and skip that copy (free-form-transformer.ts).
 * The same walk notes keys named like members of Object.prototype (see `clientBody`): what happens to a body
 * depends on its parsed value only, never on how its text spells a key (`"__proto__"` or `"\u005f_proto__"`).
 * An empty (or blank) body leaves `req.body` undefined, whatever its headers. None of this happens before the
 * request is authenticated (JsonBodyMiddleware).
 */
import { Injectable, type NestMiddleware } from '@nestjs/common';
import { isUtf8 } from 'node:buffer';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { IntegrationAuthGuard, type AuthenticatedRequest } from '../auth/integration-auth.guard';
import { MetricsService } from '../operations/metrics.service';
import { BODY_BUDGET_EXEMPT_BYTES, BodyBudget, BodyBudgetWaitError, sendHeldContinue } from './body-budget';
import { ApiError, ErrorCode } from '../errors/api-error';
import { escapePointer } from '../errors/validation-errors';
import { SESSION_LIMITS } from '@session-engine/session-domain';
import { FREE_FORM_KEY, SET_ASIDE_KEYS } from './free-form-transformer';
import { headerCount } from './headers';

export const MAX_BODY_BYTES = 5 * 1024 * 1024;

/**
 * Containers (objects and arrays) from the body's root to its deepest value; the root container is level 1.
 * Free-form attributes may nest SESSION_LIMITS.jsonDepth (64) levels and sit at most 5 levels down
 * (`/customerSession/cartItems/0/attributes`), so no valid body comes near this bound.
 */
export const MAX_BODY_DEPTH = 100;

/**
 * Members of one object of a body, outside free-form `attributes`: twice the most any field takes (100 costs in a
 * cost map; a cart item has 23 fields), so a map one cost over its limit still gets validation's own message.
 */
export const MAX_OBJECT_MEMBERS = 200;

/** Entries of one array of a body, outside free-form `attributes`: twice the 1,000 cart items a request takes. */
export const MAX_ARRAY_ENTRIES = 2000;

/**
 * Members and entries of a body outside the values set aside (attributes, read-only fields): half again the
 * largest valid body, 1,000 cart items of 100 costs each (about 205,000). 1.7 million empty objects in 5 MB
 * held the event loop 1.7 s to be refused.
 */
export const MAX_OUTSIDE_VALUES = 300_000;

/** Members and entries of one value set aside: 64 KiB of attributes hold at most 32,768 (two bytes each). */
export const MAX_SET_ASIDE_VALUES = 32_768;

/**
 * Members and entries of a whole body: above what a request that fits the store's 1,000,000 bytes of events can
 * hold (about 500,000 in attributes beside the 205,000 of a full cart), and what the checks walk in about a second.
 */
export const MAX_BODY_VALUES = 1_000_000;

/**
 * Keys the validation pipe never sees: Nest's ValidationPipe deletes `__proto__`, `constructor` and `prototype`
 * from the body in place, and class-transformer leaves every key named like a member of Object.prototype
 * (`toString`, `hasOwnProperty`…) out of the copy it validates. So a body holding one anywhere (in free-form
 * `attributes` too) is parsed a second time, for the command to get what the client sent, and the fields the
 * pipe did not see are checked on that copy (`validatedBody` in sessions/shared/command-request.ts).
 */
const KEYS_HIDDEN_FROM_VALIDATION: ReadonlySet<string> = new Set([
  ...Object.getOwnPropertyNames(Object.prototype),
  'prototype',
]);

/** Longest excerpt of client input (header values, parser messages, pointers) quoted in an error message. */
const MAX_EXCERPT = 120;
/** Longer pointers (made of long keys) are left out of the error rather than echoed. */
const MAX_POINTER = 1000;

export interface ParsedBody {
  /** What the validation pipe validates (and may alter). */
  body: unknown;
  /**
   * The body exactly as the client sent it: `body` itself, or a second parse of the text when the body holds a
   * key in KEYS_HIDDEN_FROM_VALIDATION (so `clientBody !== body` says that the pipe did not see every key).
   */
  clientBody: unknown;
}

/**
 * For a body of unknown size (chunked): once more than `bytes` of it arrived, reading pauses until `wait`
 * resolves (the body budget's share, body-budget.ts); when it rejects, so does the read, with its error.
 */
export interface GrowthPause {
  bytes: number;
  wait: () => Promise<void>;
}

export function readJsonBody(
  req: IncomingMessage,
  limit = MAX_BODY_BYTES,
  pastBytes?: GrowthPause,
): Promise<ParsedBody> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    const refuse = () =>
      reject(ApiError.of(413, ErrorCode.PayloadTooLarge, `The request body exceeds ${limit} bytes`));
    let size = 0;
    let tooLarge = false;
    // A body declared too large is refused before a byte of it is read: a client waiting for a `100 Continue` it
    // was refused sends nothing more, and any other would have its upload waited for (until requestTimeout, if it
    // stalls) only to be refused. The exception filter then closes the connection (unread-body.ts).
    if (Number.isFinite(declared) && declared > limit) {
      refuse();
      return;
    }
    const chunks: Buffer[] = [];
    let pause = pastBytes;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      if (!tooLarge) chunks.push(chunk);
      if (pause !== undefined && size > pause.bytes && !tooLarge) {
        const { wait } = pause;
        pause = undefined;
        req.pause();
        wait().then(() => req.resume(), reject);
      }
    });
    req.on('error', reject);
    req.on('end', () => {
      if (tooLarge) {
        refuse();
        return;
      }
      try {
        resolve(parseJsonBody(Buffer.concat(chunks), req.headers));
      } catch (error) {
        reject(error);
      }
    });
  });
}

/** The body's bytes and headers to what the command sees; throws the ApiError that refuses it. */
export function parseJsonBody(bytes: Buffer, headers: IncomingHttpHeaders): ParsedBody {
  const decoded = bytes.toString('utf8');
  // A UTF-8 byte order mark in front (some Windows tools write one): RFC 8259 §8.1 lets a parser ignore it.
  const text = decoded.charCodeAt(0) === 0xfeff ? decoded.slice(1) : decoded;
  if (text.trim() === '') return { body: undefined, clientBody: undefined };
  const refusal = headerRefusal(headers);
  if (refusal) throw refusal;
  if (!isUtf8(bytes)) {
    throw ApiError.of(400, ErrorCode.InvalidJson, 'The request body is not valid JSON: it is not UTF-8 text');
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw ApiError.of(
      400,
      ErrorCode.InvalidJson,
      `The request body is not valid JSON: ${printableExcerpt((error as Error).message)}`,
    );
  }
  const { problem, hiddenKeys } = inspectBody(body);
  if (problem) throw problem;
  return { body, clientBody: hiddenKeys ? JSON.parse(text) : body };
}

/** The 415 a (non-blank) body gets for its `Content-Type` or `Content-Encoding`; undefined when they name JSON. */
export const headerRefusal = (headers: IncomingHttpHeaders): ApiError | undefined =>
  mediaTypeRefusal(headers['content-type']) ?? contentEncodingRefusal(headers['content-encoding']);

const JSON_MEDIA_TYPE = /^application\/(?:[a-z0-9!#$&^_.-]+\+)?json$/;
const SEND_JSON = 'send the body as application/json in UTF-8';

/**
 * Undefined when the `Content-Type` names JSON (or is absent, see the file comment), else the 415 refusing it.
 * A header that is present but empty names no media type and is refused.
 */
export function mediaTypeRefusal(contentType: string | undefined): ApiError | undefined {
  if (contentType === undefined) return undefined;
  const [type = '', ...parameters] = contentType.split(';');
  if (!JSON_MEDIA_TYPE.test(type.trim().toLowerCase())) {
    return unsupported(`Content-Type "${printableExcerpt(contentType)}" is not supported: ${SEND_JSON}`);
  }
  for (const parameter of parameters) {
    const equals = parameter.indexOf('=');
    if (equals < 0 || parameter.slice(0, equals).trim().toLowerCase() !== 'charset') continue;
    const charset = parameter
      .slice(equals + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase();
    if (charset !== 'utf-8' && charset !== 'utf8') {
      return unsupported(`Charset "${printableExcerpt(charset)}" is not supported: ${SEND_JSON}`);
    }
  }
  return undefined;
}

/** Undefined when the body is not encoded (no `Content-Encoding`, or only `identity`), else the 415. */
export function contentEncodingRefusal(contentEncoding: string | undefined): ApiError | undefined {
  if (contentEncoding === undefined || isIdentityEncoding(contentEncoding)) return undefined;
  return unsupported(
    `Content-Encoding "${printableExcerpt(contentEncoding)}" is not supported: send the body uncompressed`,
  );
}

function isIdentityEncoding(contentEncoding: string): boolean {
  return contentEncoding.split(',').every((coding) => ['', 'identity'].includes(coding.trim().toLowerCase()));
}

const unsupported = (details: string): ApiError => ApiError.of(415, ErrorCode.UnsupportedMediaType, details);

/**
 * Client text (header values, parser messages, pointers made of body keys) reduced to printable ASCII, anything
 * else as a \uXXXX escape, and cut after MAX_EXCERPT characters. The `source.pointer` of an error stays exact.
 */
export function printableExcerpt(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (out.length >= MAX_EXCERPT) return `${out.slice(0, MAX_EXCERPT)}...`;
    const code = text.charCodeAt(i);
    out += code >= 0x20 && code <= 0x7e ? text[i] : `\\u${code.toString(16).padStart(4, '0')}`;
  }
  return out.length > MAX_EXCERPT ? `${out.slice(0, MAX_EXCERPT)}...` : out;
}

/** One container still to look into, and how it was reached (for the pointer of a refusal). */
interface Frame {
  value: object;
  depth: number;
  parent: Frame | undefined;
  token: string | number;
  /**
   * The value set aside that this container is part of (free-form `attributes`, a read-only field: see
   * SET_ASIDE_KEYS), counted as a whole there instead of object by object; undefined outside them.
   */
  setAside: SetAsideValue | undefined;
}

/** A value under a key of SET_ASIDE_KEYS: where it is, and how many members and entries it holds so far. */
interface SetAsideValue {
  frame: Frame;
  key: string;
  values: number;
}

interface WellFormedString {
  isWellFormed(): boolean;
}
/** String.prototype.isWellFormed (Node 20; newer than the ES2022 typings): no lone surrogates. */
const isWellFormed = (text: string): boolean => (text as unknown as WellFormedString).isWellFormed();

/** What one walk of a parsed body found. */
export interface BodyInspection {
  /** The refusal of the body, if any (the walk stops there). */
  problem: ApiError | undefined;
  /** Whether a key of KEYS_HIDDEN_FROM_VALIDATION was seen (before the problem, if any). */
  hiddenKeys: boolean;
}

/**
 * One walk over every container of a parsed body: the first problem (nested deeper than `maxDepth`, a string
 * key or value that is not well-formed) and whether it holds a key the validation pipe never sees. Iterative
 * (an explicit stack), so a body nested any depth cannot overflow the call stack; it stops at the first
 * problem and never goes below `maxDepth + 1` levels.
 */
export function inspectBody(value: unknown, maxDepth = MAX_BODY_DEPTH): BodyInspection {
  let hiddenKeys = false;
  const found = (problem: ApiError | undefined): BodyInspection => ({ problem, hiddenKeys });
  if (typeof value === 'string')
    return found(isWellFormed(value) ? undefined : illFormed(undefined, undefined));
  if (value === null || typeof value !== 'object') return found(undefined);
  const stack: Frame[] = [{ value, depth: 1, parent: undefined, token: '', setAside: undefined }];
  let outside = 0;
  let total = 0;
  /** One more member or entry in `frame`; a refusal once a bound is passed. */
  const counted = (frame: Frame, add: number): ApiError | undefined => {
    if ((total += add) > MAX_BODY_VALUES) return tooManyInAll();
    const aside = frame.setAside;
    if (aside === undefined) return (outside += add) > MAX_OUTSIDE_VALUES ? tooManyInAll() : undefined;
    return (aside.values += add) > MAX_SET_ASIDE_VALUES ? setAsideTooLarge(aside) : undefined;
  };
  for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
    if (frame.depth > maxDepth) {
      const pointer = pointerOf(frame, undefined);
      return found(
        ApiError.of(
          400,
          ErrorCode.LimitExceeded,
          `The request body is nested more than ${maxDepth} levels deep${pointer ? ` (at ${printableExcerpt(pointer)})` : ''}`,
          pointer,
        ),
      );
    }
    const depth = frame.depth + 1;
    const setAside = frame.setAside;
    if (Array.isArray(frame.value)) {
      const items: unknown[] = frame.value;
      if (!setAside && items.length > MAX_ARRAY_ENTRIES) return found(tooMany(frame, 'array'));
      const bound = counted(frame, items.length);
      if (bound) return found(bound);
      for (let i = 0; i < items.length; i++) {
        const item = items[i];
        if (typeof item === 'string') {
          if (!isWellFormed(item)) return found(illFormed(frame, i));
        } else if (item !== null && typeof item === 'object') {
          stack.push({ value: item, depth, parent: frame, token: i, setAside });
        }
      }
    } else {
      const record = frame.value as Record<string, unknown>;
      let members = 0;
      // for-in instead of Object.keys: no array per object (a third faster on a 1,000-item body), and an
      // object from JSON.parse inherits no enumerable keys, so both see the same keys.
      for (const key in record) {
        if (!setAside && ++members > MAX_OBJECT_MEMBERS) return found(tooMany(frame, 'object'));
        const bound = counted(frame, 1);
        if (bound) return found(bound);
        if (!isWellFormed(key)) return found(illFormedKey(frame));
        if (!hiddenKeys && KEYS_HIDDEN_FROM_VALIDATION.has(key)) hiddenKeys = true;
        const member = record[key];
        if (typeof member === 'string') {
          if (!isWellFormed(member)) return found(illFormed(frame, key));
        } else if (member !== null && typeof member === 'object') {
          stack.push({
            value: member,
            depth,
            parent: frame,
            token: key,
            setAside: setAside ?? (SET_ASIDE_KEYS.has(key) ? { frame, key, values: 0 } : undefined),
          });
        }
      }
    }
  }
  return found(undefined);
}

/**
 * Where in the body a refusal is, for its message: ` (at /cartItems/3)`, ` (the body)` or ` (of the body)` at
 * its root, nothing for a pointer too long to quote.
 */
function whereIn(pointer: string | undefined, preposition: 'at' | 'of'): string {
  if (pointer === undefined) return '';
  if (pointer === '') return preposition === 'at' ? ' (the body)' : ' (of the body)';
  return ` (${preposition} ${printableExcerpt(pointer)})`;
}

/** The 400 for an object or array, outside free-form attributes, with more members or entries than any field takes. */
function tooMany(frame: Frame, kind: 'object' | 'array'): ApiError {
  const pointer = pointerOf(frame, undefined);
  const where = whereIn(pointer, 'at');
  const details =
    kind === 'object'
      ? `The request body has an object of more than ${MAX_OBJECT_MEMBERS} members${where}: no field of this API takes that many (only free-form attributes are bounded by their size instead)`
      : `The request body has an array of more than ${MAX_ARRAY_ENTRIES} entries${where}: no field of this API takes more than 1000`;
  return ApiError.of(400, ErrorCode.LimitExceeded, details, pointer || undefined);
}

/**
 * The 400 for a key holding a lone surrogate, at the object that holds it: a pointer naming the key would carry
 * the lone surrogate into the reply, whose JSON strict parsers (a `\udc00` escape with no pair) refuse whole.
 */
function illFormedKey(frame: Frame): ApiError {
  const pointer = pointerOf(frame, undefined);
  const where = whereIn(pointer, 'of');
  return ApiError.of(
    400,
    ErrorCode.InvalidField,
    `A key in the request body is not well-formed Unicode: it holds a lone surrogate${where}`,
    pointer || undefined,
  );
}

function tooManyInAll(): ApiError {
  return ApiError.of(
    400,
    ErrorCode.LimitExceeded,
    `The request body holds more than ${MAX_OUTSIDE_VALUES} members and array entries outside attributes, or ` +
      `more than ${MAX_BODY_VALUES} in all: no request of this API takes that many`,
  );
}

/**
 * The 400 for a value set aside that holds more than MAX_SET_ASIDE_VALUES members and entries: `attributes` that
 * cannot fit their 64 KiB (each member or entry takes two bytes at least, so the domain would refuse them — found
 * here before the pipe and the domain walk them), or a read-only field too large to be one a response gave.
 */
function setAsideTooLarge({ frame, key }: SetAsideValue): ApiError {
  const pointer = pointerOf(frame, key);
  const at = pointer === undefined ? key : printableExcerpt(pointer);
  return key === FREE_FORM_KEY
    ? ApiError.of(
        400,
        ErrorCode.InvalidField,
        `${key} must be at most ${SESSION_LIMITS.attributesBytes} bytes serialized (${at} holds more than ${MAX_SET_ASIDE_VALUES} members and entries)`,
        pointer,
      )
    : ApiError.of(
        400,
        ErrorCode.LimitExceeded,
        `${at} holds more than ${MAX_SET_ASIDE_VALUES} members and entries: it is read-only and ignored, send it as a response gave it or leave it out`,
        pointer,
      );
}

function illFormed(frame: Frame | undefined, token: string | number | undefined): ApiError {
  const pointer = frame === undefined ? '' : pointerOf(frame, token);
  const where = whereIn(pointer, 'at');
  return ApiError.of(
    400,
    ErrorCode.InvalidField,
    `A string in the request body is not well-formed Unicode: it holds a lone surrogate${where}`,
    pointer === '' ? undefined : pointer,
  );
}

/** JSON pointer of `frame` (plus `last`), or undefined when it would be longer than MAX_POINTER. */
function pointerOf(frame: Frame, last: string | number | undefined): string | undefined {
  const tokens: (string | number)[] = last === undefined ? [] : [last];
  let length = 0;
  for (let f: Frame | undefined = frame; f?.parent !== undefined; f = f.parent) tokens.push(f.token);
  let pointer = '';
  for (let i = tokens.length - 1; i >= 0; i--) {
    const token = tokens[i]!;
    const text = typeof token === 'number' ? String(token) : escapePointer(token);
    length += text.length + 1;
    if (length > MAX_POINTER) return undefined;
    pointer += `/${text}`;
  }
  return pointer;
}

/**
 * 503 for a large body that found no room in the body budget in time: not read, not applied, and safe to send
 * again (the filter adds Retry-After; the connection is closed, its body unread: unread-body.ts).
 */
function noRoomForBody(error: BodyBudgetWaitError): ApiError {
  return ApiError.of(
    503,
    ErrorCode.ServiceUnavailable,
    `This server is reading as many large request bodies as it takes at once; the request waited ${error.waitedMs / 1000} s for its turn and was neither read nor applied: send it again later`,
  );
}

/**
 * The length of a body that takes its share of the body budget before a byte of it is read: one declared by
 * `Content-Length` over BODY_BUDGET_EXEMPT_BYTES and within the limit (one over it is refused unread at once,
 * a wait would only delay that); undefined for any other request. A chunked body (its size unknown) is read up
 * to those bytes first, and waits only if it grows past them.
 */
export function waitsForBodyBudget(req: IncomingMessage): number | undefined {
  if (req.method === 'GET' || req.method === 'HEAD') return undefined;
  // HTTP/1.1 (RFC 9112 §6.3): with `Transfer-Encoding` (chunked) the body's size is unknown until it ends;
  // without, it is `Content-Length` bytes, none when that is absent (Node's parser refused a malformed one).
  if (req.headers['transfer-encoding'] !== undefined) return undefined;
  const declared = Number(req.headers['content-length'] ?? 0);
  return declared > BODY_BUDGET_EXEMPT_BYTES && declared <= MAX_BODY_BYTES ? declared : undefined;
}

/**
 * Bound to the Integration API's command routes (AppModule). It authenticates first, with the guard's own
 * logic: a request without a valid `ApiKey-v1` key is 401 before a byte of its body is read, so an
 * unauthenticated caller learns nothing about our parsing and costs no parse (ApiExceptionFilter then closes
 * the connection rather than drain a large body, see unread-body.ts). The guard reuses the principal. A large
 * body then waits for its share of the process's body budget before it is read (body-budget.ts).
 */
@Injectable()
export class JsonBodyMiddleware implements NestMiddleware {
  private readonly budget = new BodyBudget();

  constructor(
    private readonly auth: IntegrationAuthGuard,
    metrics: MetricsService,
  ) {
    metrics.watchBodyBudget(() => this.budget.usage());
  }

  async use(
    req: AuthenticatedRequest & { body?: unknown; clientBody?: unknown },
    res: ServerResponse,
    next: () => void,
  ): Promise<void> {
    if (req.method === 'GET' || req.method === 'HEAD') return next();
    this.auth.authenticate(req);
    if (headerCount(req, 'content-type') > 1)
      throw ApiError.of(400, ErrorCode.InvalidHeader, 'Content-Type given more than once');
    // RFC 9110 §15.5.16: a 415 for a content coding says which codings are accepted.
    if (contentEncodingRefusal(req.headers['content-encoding'])) res.setHeader('Accept-Encoding', 'identity');
    const declared = waitsForBodyBudget(req);
    if (declared !== undefined) {
      await this.reserve(req, res, declared);
      sendHeldContinue(req, res);
    }
    const chunked = req.headers['transfer-encoding'] !== undefined;
    const parsed = await readJsonBody(
      req,
      MAX_BODY_BYTES,
      chunked
        ? { bytes: BODY_BUDGET_EXEMPT_BYTES, wait: () => this.reserve(req, res, MAX_BODY_BYTES) }
        : undefined,
    );
    req.body = parsed.body;
    req.clientBody = parsed.clientBody;
    next();
  }

  /**
   * The body's share of the budget; no room in time is the 503 that says so. A body its headers refuse (415,
   * `headerRefusal`) is refused first, unread: it would not use its share. Only a body of blanks would have
   * escaped that 415 (it reads as no body); over 64 KiB of them is refused all the same.
   */
  private async reserve(req: IncomingMessage, res: ServerResponse, bytes: number): Promise<void> {
    const refusal = headerRefusal(req.headers);
    if (refusal) throw refusal;
    return this.budget.reserve(res, bytes).catch((error: unknown) => {
      throw error instanceof BodyBudgetWaitError ? noRoomForBody(error) : error;
    });
  }
}
