/** The request-level options every command shares: `dry`, `If-Match`, `Idempotency-Key`, the session id. */
import { parseInstant } from '@session-engine/read-models';
import { checkIntegrationId, DomainError } from '@session-engine/session-domain';
import { ApiError, ErrorCode } from '../../errors/api-error';

export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/** The session id of the path, by the domain's rule for an integrationId (1..1000 code points, no NUL). */
export function parseIntegrationId(value: string): string {
  try {
    return checkIntegrationId(value);
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    throw ApiError.of(
      400,
      ErrorCode.InvalidField,
      `customerSessionId ${error.message} (it is the session's integrationId)`,
      '/customerSessionId',
    );
  }
}

export function parseDry(value: unknown): boolean {
  if (value === undefined || value === 'false') return false;
  if (value === 'true') return true;
  throw ApiError.of(400, ErrorCode.InvalidField, 'dry must be true or false', '/dry');
}

/**
 * The instant (ms since the epoch) a dry run is decided at, from PUT's `now` once its DTO has checked it
 * (`UpdateSessionQueryDto`: with dry=true, a date-time with its zone, in the future); undefined without one.
 */
export function parseDryRunTime(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parsed = parseInstant(value);
  if (!parsed.ok) throw new Error(`now ${JSON.stringify(value)} was not checked by its DTO`);
  return parsed.epochMs;
}

/**
 * `If-Match` (RFC 9110 §13.1.1): `*`, or a list of entity tags. Our entity tags are strong, `"<revision>"`;
 * If-Match compares strongly, so a weak tag (`W/"1"`) or one that is no revision matches nothing.
 */
export type IfMatch = { kind: 'any' } | IfMatchList;

/**
 * A list of entity tags: the revisions it names, in its order, and the tags that can never match (weak ones,
 * and opaque tags that are no revision as our ETags write it), as sent — for the 412's message.
 */
export interface IfMatchList {
  kind: 'revisions';
  revisions: bigint[];
  neverMatching: string[];
}

/** One element of an `If-Match` list (it may be empty) and the comma after it: W/ (weak) and the opaque tag. */
const LIST_ELEMENT = /[ \t]*(?:(W\/)?"([\x21\x23-\x7e\x80-\xff]*)")?[ \t]*(?:,|$)/y;
/** A revision as our ETags write it: no leading zeros, so `"004"` is another tag than `"4"` (strong comparison). */
const REVISION = /^(?:0|[1-9]\d{0,18})$/;

/** Parses `If-Match`; a header that is no entity-tag list, or names no revision, can never match → 412. */
export function parseIfMatch(value: string | string[] | undefined): IfMatch | undefined {
  if (value === undefined) return undefined;
  const text = Array.isArray(value) ? value.join(',') : value;
  if (text.trim() === '*') return { kind: 'any' };
  const revisions: bigint[] = [];
  const neverMatching: string[] = [];
  LIST_ELEMENT.lastIndex = 0;
  while (LIST_ELEMENT.lastIndex < text.length) {
    const element = LIST_ELEMENT.exec(text);
    if (!element) throw preconditionFailed(`If-Match ${JSON.stringify(text)} is not a list of entity tags`);
    const [, weak, opaque] = element;
    if (opaque === undefined) continue;
    if (weak === undefined && REVISION.test(opaque)) revisions.push(BigInt(opaque));
    else neverMatching.push(`${weak ?? ''}"${opaque}"`);
  }
  if (revisions.length === 0) {
    const weakened = neverMatching.find((tag) => tag.startsWith('W/') && REVISION.test(tag.slice(3, -1)));
    throw preconditionFailed(
      `If-Match ${JSON.stringify(text)} names no revision of this session` +
        (weakened === undefined ? '' : weakenedNote(weakened)),
    );
  }
  return { kind: 'revisions', revisions, neverMatching };
}

/**
 * Why a weak tag of a revision never matches, and where it comes from: our ETags are strong, but a proxy that
 * compresses a response (nginx's `gzip`, and others, since RFC 9110 §8.8.3 lets them) makes its ETag weak, so a
 * client that sends back the ETag it was given gets this 412 every time.
 */
function weakenedNote(tag: string): string {
  return (
    `: ${tag} is a weak tag, and If-Match compares strongly. The API sends strong ETags ("${tag.slice(3, -1)}"); ` +
    'one that arrives weak was weakened on its way, usually by a proxy that compresses responses (nginx gzip): ' +
    'turn compression off for the API, or send the tag without W/'
  );
}

/**
 * The 412 of an `If-Match` list when the session is at none of its revisions (`actual`; null: there is no
 * session). The command expected one of them (`expectedRevision`), and the store's refusal names that one
 * only: this names every tag the client sent, so `"5", "0"` at revision 2 is not told it sent 5 alone.
 */
export function ifMatchListFailed(ifMatch: IfMatchList, actual: bigint | null): ApiError {
  const names = [...new Set(ifMatch.revisions.map(String))];
  const expected =
    names.length === 1
      ? `revision ${names[0]}`
      : `revision ${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
  const never = ifMatch.neverMatching;
  const note =
    never.length === 0
      ? ''
      : ` (${never.join(', ')} ${never.length === 1 ? 'matches' : 'match'} nothing: the comparison is strong, ` +
        'and only "<revision>" as the ETag writes it names a revision)';
  const at = actual === null ? 'no revision (it does not exist)' : `revision ${actual}`;
  return preconditionFailed(`If-Match expected ${expected}${note}, the session is at ${at}`);
}

/**
 * The revision a command must find (the runner's `ifMatch`), given the session's current revision (`null`:
 * it does not exist), read only when the answer depends on it. `createsSession` is true for a PUT, which
 * creates a missing session; every other command needs an existing one, and on a missing session it is 404
 * `SESSION_NOT_FOUND` whatever the precondition (RFC 9110 §13.2.1: a server ignores the preconditions when
 * the response without them would be neither 2xx nor 412), so none is evaluated against a missing session:
 * - `*` matches any existing session. A PUT of a missing session is 412; an existing session runs the
 *   command unconditionally. For the other commands `*` asks for nothing they do not need anyway, so it
 *   reads nothing and the command runs unconditionally (a missing session: its 404);
 * - one revision is the expected revision as it is (the command handler answers a missing session's 404
 *   before comparing it, for the commands that need one);
 * - a list matches when any entry names the current revision, which is then expected (a write in between is
 *   a 412). When none does, the first entry is expected, so the runner answers 412 — or replays the first
 *   response of a retried `Idempotency-Key`, whose first run moved the session past the listed revisions.
 *   A missing session, for a command that needs one: unconditional, the command's 404.
 * (The engine never deletes a session; one an operator deleted for good is answered as such by the command,
 * see command-request.ts.)
 */
export async function expectedRevision(
  ifMatch: IfMatch | undefined,
  currentRevision: () => Promise<bigint | null>,
  createsSession = false,
): Promise<bigint | undefined> {
  if (ifMatch === undefined) return undefined;
  if (ifMatch.kind === 'any') {
    if (createsSession && (await currentRevision()) === null) {
      throw preconditionFailed('If-Match * needs an existing session, and this one does not exist');
    }
    return undefined;
  }
  const [first, ...others] = ifMatch.revisions;
  if (others.length === 0) return first;
  const current = await currentRevision();
  if (current === null && !createsSession) return undefined;
  return ifMatch.revisions.find((revision) => revision === current) ?? first;
}

/**
 * `If-None-Match` on a command (RFC 9110 §13.1.2): only `*`, "the session must not exist yet" — a create that
 * never overwrites (PUT), 412 when the session exists. A list of entity tags is refused (400): a command
 * conditional on the session *not* being at some revision is a race by nature; `If-Match` says what to expect.
 */
export function parseIfNoneMatch(value: string | string[] | undefined): boolean {
  if (value === undefined) return false;
  if (!Array.isArray(value) && value.trim() === '*') return true;
  throw ApiError.of(
    400,
    ErrorCode.InvalidHeader,
    'If-None-Match takes only * on commands (create only if the session does not exist yet); use If-Match for a revision',
  );
}

function preconditionFailed(details: string): ApiError {
  return ApiError.of(412, ErrorCode.PreconditionFailed, details);
}

/**
 * The key as Node hands the header over (one character per byte); its length is counted in the characters the
 * client sent, read as UTF-8 (a key of 200 "é" is 200 characters, 400 bytes). The key itself stays as received,
 * so a retry names the same scope.
 */
export function parseIdempotencyKey(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const characters = Array.isArray(value) ? 0 : [...Buffer.from(value, 'latin1').toString('utf8')].length;
  if (Array.isArray(value) || characters < 1 || characters > MAX_IDEMPOTENCY_KEY_LENGTH) {
    throw ApiError.of(400, ErrorCode.InvalidHeader, 'Idempotency-Key must be 1..255 characters');
  }
  return value;
}

export function assertNoBody(body: unknown): void {
  if (body === undefined || body === null) return;
  if (typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0) return;
  throw ApiError.of(400, ErrorCode.UnknownField, 'This endpoint takes no request body');
}
