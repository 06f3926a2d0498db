import { NotFoundException, type ArgumentsHost } from '@nestjs/common';
import {
  AppendTooLargeError,
  ClaimWriteInterruptedError,
  ClaimWriteTimeoutError,
  ConcurrentUpdateError,
  EventStoreTimeoutError,
  EventStoreUnavailableError,
  EventStoreWriteInterruptedError,
  IdempotencyRecordTooLargeError,
  LockWaitError,
  PreconditionFailedError,
  ProfileClaimSchemaError,
  SessionDeletedError,
} from '@session-engine/event-store';
import { DomainError, EventUpcastError } from '@session-engine/session-domain';
import Database from 'better-sqlite3';
import { validate } from 'class-validator';
import { mkdtempSync, openSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { DatabaseError } from 'pg';
import { plainToInstance } from 'class-transformer';
import { UpdateSessionRequestDto } from '../sessions/commands/update-session/update-session.request.dto';
import { ApiError, CommandRefused } from './api-error';
import {
  ApiExceptionFilter,
  errorCodeOf,
  mapError,
  sendError,
  toErrorBody,
  UNREACHABLE_LOG_INTERVAL_MS,
  UnreachableLog,
} from './api-exception.filter';
import { validationException } from './validation-errors';

const bodyOf = (error: unknown) => toErrorBody(mapError(error));

/**
 * What better-sqlite3 throws for a damaged read-model file, from real files: one whose pages were overwritten in
 * the middle ("database disk image is malformed") and one that is no database at all ("file is not a database").
 */
function damagedSqliteErrors(): unknown[] {
  const dir = mkdtempSync(join(tmpdir(), 'damaged-read-models-'));
  try {
    const malformed = join(dir, 'malformed.sqlite');
    const db = new Database(malformed);
    db.exec('create table sessions (id text primary key, body text)');
    const insert = db.prepare('insert into sessions values (?, ?)');
    for (let i = 0; i < 2000; i++) insert.run(`s${i}`, 'x'.repeat(100));
    db.close();
    const fd = openSync(malformed, 'r+');
    writeSync(fd, Buffer.alloc(3 * 4096, 0x5a), 0, 3 * 4096, 5 * 4096);
    closeSync(fd);
    const notADatabase = join(dir, 'not-a-database.sqlite');
    writeFileSync(notADatabase, Buffer.alloc(8192, 0x41));
    return [malformed, notADatabase].map((file) => {
      const damaged = new Database(file);
      try {
        damaged.prepare('select * from sessions order by body, id').all();
        throw new Error(`${file} was read without an error`);
      } catch (error) {
        return error;
      } finally {
        damaged.close();
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('mapError', () => {
  it.each([
    [new DomainError('INVALID_FIELD', 'bad', '/x'), 400, 'INVALID_FIELD'],
    [new DomainError('LIMIT_EXCEEDED', 'too many'), 400, 'LIMIT_EXCEEDED'],
    [new DomainError('CART_ITEM_NOT_FOUND', 'no line'), 400, 'CART_ITEM_NOT_FOUND'],
    [new DomainError('SESSION_NOT_FOUND', 'missing'), 404, 'SESSION_NOT_FOUND'],
    [new DomainError('ILLEGAL_STATE_TRANSITION', 'no'), 409, 'ILLEGAL_STATE_TRANSITION'],
    [new DomainError('SESSION_NOT_MODIFIABLE', 'no'), 409, 'SESSION_NOT_MODIFIABLE'],
    [new DomainError('RETURN_QUANTITY_EXCEEDED', 'no'), 409, 'RETURN_QUANTITY_EXCEEDED'],
    [new PreconditionFailedError(1n, 2n), 412, 'PRECONDITION_FAILED'],
    [new ConcurrentUpdateError('session-1-a', 10), 409, 'CONCURRENT_UPDATE'],
    [new AppendTooLargeError('session-1-a', 1_048_576), 413, 'LIMIT_EXCEEDED'],
    [new IdempotencyRecordTooLargeError('idempotency-1-ab', 1024, false), 413, 'LIMIT_EXCEEDED'],
    [new EventStoreUnavailableError(new Error('down')), 503, 'SERVICE_UNAVAILABLE'],
    [new EventStoreTimeoutError('append', 'session-1-a', 10_000), 503, 'SERVICE_UNAVAILABLE'],
    [new LockWaitError('wait-timeout', 'session-1-a', 10_000), 503, 'SERVICE_UNAVAILABLE'],
    [
      new EventStoreWriteInterruptedError('append', 'session-1-a', new Error('cut')),
      503,
      'SERVICE_UNAVAILABLE',
    ],
    // The read-model database: refused, cut, shutting down, locked (what the pg and SQLite drivers throw).
    [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      503,
      'SERVICE_UNAVAILABLE',
    ],
    [Object.assign(new Error('terminating connection'), { code: '57P01' }), 503, 'SERVICE_UNAVAILABLE'],
    [new Error('Connection terminated unexpectedly'), 503, 'SERVICE_UNAVAILABLE'],
    [Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }), 503, 'SERVICE_UNAVAILABLE'],
    [Object.assign(new Error('syntax error'), { code: '42601' }), 500, 'INTERNAL_ERROR'],
    [ApiError.of(422, 'IDEMPOTENCY_KEY_REUSED', 'reused'), 422, 'IDEMPOTENCY_KEY_REUSED'],
    [new NotFoundException('Cannot GET /x'), 404, 'NOT_FOUND'],
  ])('maps %p to %i %s', (error, status, code) => {
    const body = bodyOf(error);
    expect(body.StatusCode).toBe(status);
    expect(body.errors[0]!.title).toBe(code);
  });

  it('prefixes domain pointers with where the command input sits in the body', () => {
    const refused = new CommandRefused(
      new DomainError('INVALID_FIELD', 'bad', '/cartItems/3/quantity'),
      '/customerSession',
    );
    expect(bodyOf(refused).errors[0]!.source).toEqual({ pointer: '/customerSession/cartItems/3/quantity' });
  });

  it('puts an error about a query parameter at source.parameter, one in the body at source.pointer, else source {}', () => {
    const refused = new ApiError(400, [
      { title: 'UNKNOWN_FIELD', details: 'Unknown field /dry', parameter: 'dry' },
      { title: 'UNKNOWN_FIELD', details: 'Unknown field /dry', pointer: '/dry' },
      { title: 'INVALID_FIELD', details: 'The request body must be a JSON object, not an array' },
    ]);
    expect(bodyOf(refused).errors.map((error) => error.source)).toEqual([
      { parameter: 'dry' },
      { pointer: '/dry' },
      {},
    ]);
  });

  it('answers an event this version cannot read with 500 UNREADABLE_EVENT, saying what it is and that nothing changed', () => {
    for (const error of [
      new EventUpcastError('Unknown session event type "SessionXlosed"'),
      new ProfileClaimSchemaError('Unknown schema version 3 of ProfileFirstSessionClaimed in profile-1-bob'),
    ]) {
      expect(bodyOf(error)).toEqual({
        message: expect.stringContaining(error.message),
        errors: [
          {
            title: 'UNREADABLE_EVENT',
            details: expect.stringContaining('The session was not changed'),
            source: {},
          },
        ],
        StatusCode: 500,
      });
      expect(mapError(error).unexpected).toBe(true);
    }
  });

  it('answers an unexpected error with a bare 500 and no internals', () => {
    const body = bodyOf(new TypeError('secret internals'));
    expect(body).toEqual({
      message: 'Internal error',
      errors: [{ title: 'INTERNAL_ERROR', details: 'Internal error', source: {} }],
      StatusCode: 500,
    });
  });
});

interface FakeRequest {
  method: string;
  url?: string;
  headers: Record<string, string>;
}

describe('mapError of a session whose stream was tombstoned (SessionDeletedError)', () => {
  const deleted = (command?: 'UpdateSession' | 'AddCartItems') =>
    bodyOf(new SessionDeletedError('session-1-a b', 'a b', command));

  it('refuses a PUT (create-or-update) with 409 SESSION_DELETED: the id cannot be used again', () => {
    expect(deleted('UpdateSession')).toEqual({
      message: expect.stringContaining('its id cannot be used again'),
      errors: [
        {
          title: 'SESSION_DELETED',
          details: expect.stringMatching(/^Customer session "a b" was deleted for good/),
          source: {},
        },
      ],
      StatusCode: 409,
    });
  });

  it('answers a read or any other command 404 SESSION_NOT_FOUND, saying the session was deleted', () => {
    for (const body of [deleted(), deleted('AddCartItems')]) {
      expect(body).toEqual({
        message: expect.stringContaining('it can no longer be read or changed'),
        errors: [
          {
            title: 'SESSION_NOT_FOUND',
            details: expect.stringMatching(/^Customer session "a b" was deleted for good/),
            source: {},
          },
        ],
        StatusCode: 404,
      });
    }
  });
});

describe('mapError of an event-store call that timed out', () => {
  const timeout = new EventStoreTimeoutError('append', 'session-1-a', 10_000);
  const details = (request?: FakeRequest, error: unknown = timeout) =>
    mapError(error, request as never).entries[0]!.details;

  it('says for a command whose append timed out that its outcome is unknown, and whether a retry is safe', () => {
    expect(details({ method: 'POST', headers: { 'idempotency-key': 'k-1' } })).toBe(
      'The event store did not answer within 10000 ms: the outcome of this command is unknown (it may still be applied). Retrying it with the same Idempotency-Key and body is safe: it is applied at most once.',
    );
    expect(details({ method: 'PUT', headers: {} })).toMatch(
      /outcome of this command is unknown .* It carried no Idempotency-Key, so a retry may apply it a second time/,
    );
  });

  it('given a command whose read timed out before it was written (the key lookup, the session load), then it says the command was not applied and a retry is safe', () => {
    const read = new EventStoreTimeoutError('read', 'idempotency-1-abc', 10_000);
    const notApplied =
      'The event store did not answer within 10000 ms while reading, before this command was written: it was not applied (nothing of it was written). Retrying it is safe.';
    expect(details({ method: 'POST', headers: { 'idempotency-key': 'k-1' } }, read)).toBe(
      'The event store did not answer within 10000 ms while reading, before this command was written: this request wrote nothing (an earlier request with the same Idempotency-Key may have applied the command). Retrying it with the same Idempotency-Key and body is safe: it is applied at most once.',
    );
    expect(details({ method: 'PUT', url: '/v2/customer_sessions/a?dry=false', headers: {} }, read)).toBe(
      notApplied,
    );
    expect(details({ method: 'POST', headers: {} }, read)).not.toMatch(/unknown|second time/);
  });

  it('given a dry run, then it says only to retry, as for a read: a dry run writes nothing', () => {
    const read = new EventStoreTimeoutError('read', 'session-1-a', 10_000);
    for (const url of ['/v2/customer_sessions/a?dry=true', '/v2/customer_sessions/a/returns?dry=True']) {
      expect(details({ method: 'PUT', url, headers: {} }, read)).toBe(
        'The event store did not answer within 10000 ms; retry later',
      );
      expect(details({ method: 'PUT', url, headers: { 'idempotency-key': 'k-1' } }, read)).toBe(
        'The event store did not answer within 10000 ms; retry later',
      );
    }
  });

  it("given a command whose profile claim's write timed out, then it says the command was not applied (its events were never sent) and a retry is safe", () => {
    const claim = new ClaimWriteTimeoutError(new EventStoreTimeoutError('append', 'profile-1-alice', 10_000));
    expect(details({ method: 'PUT', url: '/v2/customer_sessions/a', headers: {} }, claim)).toBe(
      "The event store did not answer within 10000 ms while recording the profile's first-session claim, before this command's events were sent: it was not applied (the claim, which names this session, may still be recorded: a retry takes it as its own). Retrying it is safe.",
    );
    expect(details({ method: 'PUT', headers: { 'idempotency-key': 'k-1' } }, claim)).toBe(
      "The event store did not answer within 10000 ms while recording the profile's first-session claim, before this command's events were sent: this request did not apply the command (an earlier request with the same Idempotency-Key may have). Retrying it with the same Idempotency-Key and body is safe: it is applied at most once.",
    );
    expect(details({ method: 'PUT', headers: {} }, claim)).not.toMatch(/unknown|second time/);
  });

  it('says for a read only to retry, and for a server-side timeout names no duration', () => {
    expect(details({ method: 'GET', headers: {} })).toBe(
      'The event store did not answer within 10000 ms; retry later',
    );
    expect(mapError(new EventStoreTimeoutError('read', 'session-1-a', undefined)).entries[0]!.details).toBe(
      'The event store did not answer in time; retry later',
    );
  });
});

describe('mapError of a command that gave up waiting for the one ahead of it (LockWaitError)', () => {
  const details = (error: unknown, request?: FakeRequest) =>
    mapError(error, request as never).entries[0]!.details;
  const waited = new LockWaitError('wait-timeout', 'session-1-a', 10_000);
  const hung = new LockWaitError(
    'holder-failed',
    'session-1-a',
    9_990,
    new EventStoreTimeoutError('append', 'session-1-a', 10_000),
  );

  it('given a command, then it says it was not applied and a retry is safe, with or without a key', () => {
    expect(details(waited, { method: 'POST', headers: {} })).toBe(
      'This request waited 10000 ms for an earlier command on the same session, which did not finish (the event store is slow or not answering): it was not applied (nothing of it was written). Retrying it is safe.',
    );
    expect(details(hung, { method: 'POST', headers: { 'idempotency-key': 'k-1' } })).toBe(
      'An earlier command on the same session, which this request waited for, got no answer from the event store in time: this request wrote nothing (an earlier request with the same Idempotency-Key may have applied the command). Retrying it with the same Idempotency-Key and body is safe: it is applied at most once.',
    );
  });

  it('given a dry run, then it says only to retry later', () => {
    expect(details(hung, { method: 'PUT', url: '/v2/customer_sessions/a?dry=true', headers: {} })).toBe(
      'An earlier command on the same session, which this request waited for, got no answer from the event store in time; retry later',
    );
  });
});

describe('mapError of a write whose connection to the event store failed', () => {
  const details = (error: unknown, request?: { method: string; headers: Record<string, string> }) =>
    mapError(error, request as never).entries[0]!.details;
  const interrupted = new EventStoreWriteInterruptedError(
    'append',
    'session-1-a',
    Object.assign(new Error('14 UNAVAILABLE: Connection dropped'), { code: 14 }),
  );

  it('says that the outcome of the command is unknown, and whether a retry is safe, as for a timeout', () => {
    expect(details(interrupted, { method: 'POST', headers: { 'idempotency-key': 'k-1' } })).toBe(
      'The connection to the event store failed during a write: the outcome of this command is unknown (it may still be applied). Retrying it with the same Idempotency-Key and body is safe: it is applied at most once.',
    );
    expect(details(interrupted, { method: 'PUT', headers: {} })).toMatch(
      /outcome of this command is unknown .* It carried no Idempotency-Key, so a retry may apply it a second time/,
    );
  });

  it("says for the profile claim's write that the command was not applied: its events were never sent", () => {
    const claim = new ClaimWriteInterruptedError(
      new EventStoreWriteInterruptedError('append', 'profile-1-alice', new Error('cut')),
    );
    expect(details(claim, { method: 'PUT', headers: {} })).toBe(
      "The connection to the event store failed while recording the profile's first-session claim, before this command's events were sent: it was not applied (the claim, which names this session, may still be recorded: a retry takes it as its own). Retrying it is safe.",
    );
    expect(details(claim, { method: 'PUT', headers: { 'idempotency-key': 'k-1' } })).toMatch(
      /: this request did not apply the command .* Retrying it with the same Idempotency-Key and body is safe/,
    );
  });

  it('says only "not reachable" when no write was under way (a read found the store down)', () => {
    expect(details(new EventStoreUnavailableError(new Error('down')), { method: 'POST', headers: {} })).toBe(
      'The event store is not reachable; retry later',
    );
  });
});

describe('ApiExceptionFilter', () => {
  function respond(error: unknown, requestHeaders: Record<string, string> = {}) {
    const headers: Record<string, string | number> = {};
    let text = '';
    const response = {
      headersSent: false,
      statusCode: 200,
      setHeader: (name: string, value: string | number) => (headers[name] = value),
      end: (chunk: string) => (text = chunk),
    };
    const request = { headers: requestHeaders, complete: false, readableFlowing: null };
    const host = {
      switchToHttp: () => ({ getResponse: () => response, getRequest: () => request }),
    } as unknown as ArgumentsHost;
    new ApiExceptionFilter(pino({ level: 'silent' })).catch(error, host);
    return { status: response.statusCode, headers, body: JSON.parse(text) };
  }

  it('sets the headers a refusal carries (Allow of a 405)', () => {
    const error = new ApiError(405, [{ title: 'METHOD_NOT_ALLOWED', details: 'no' }], undefined, {
      Allow: 'GET, HEAD, OPTIONS',
    });
    const reply = respond(error);
    expect(reply.status).toBe(405);
    expect(reply.headers).toMatchObject({ Allow: 'GET, HEAD, OPTIONS' });
    expect(reply.body).toEqual({
      message: 'no',
      errors: [{ title: 'METHOD_NOT_ALLOWED', details: 'no', source: {} }],
      StatusCode: 405,
    });
  });

  it('logs an event-store timeout once at warn with the request id, and no stack', () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const response = {
      headersSent: false,
      statusCode: 200,
      setHeader: () => undefined,
      end: () => undefined,
    };
    const request = { id: 'req-1', method: 'POST', headers: { 'idempotency-key': 'k' }, complete: true };
    const host = {
      switchToHttp: () => ({ getResponse: () => response, getRequest: () => request }),
    } as unknown as ArgumentsHost;
    new ApiExceptionFilter(logger).catch(
      new EventStoreTimeoutError('append', 'session-1-secret-cart', 300),
      host,
    );
    expect(response.statusCode).toBe(503);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 40,
        requestId: 'req-1',
        method: 'POST',
        operation: 'append',
        stream: 'session',
        timeoutMs: 300,
        idempotencyKey: true,
        outcome: 'unknown',
      }),
    ]);
    expect(JSON.stringify(lines)).not.toMatch(/secret-cart|stack/);
  });

  it("logs a timeout of the profile claim's write as not applied", () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const response = {
      headersSent: false,
      statusCode: 200,
      setHeader: () => undefined,
      end: () => undefined,
    };
    const request = { id: 'req-3', method: 'PUT', headers: {}, complete: true };
    const host = {
      switchToHttp: () => ({ getResponse: () => response, getRequest: () => request }),
    } as unknown as ArgumentsHost;
    new ApiExceptionFilter(logger).catch(
      new ClaimWriteTimeoutError(new EventStoreTimeoutError('append', 'profile-1-secret-profile', 300)),
      host,
    );
    expect(response.statusCode).toBe(503);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 40,
        requestId: 'req-3',
        operation: 'append',
        stream: 'profile',
        outcome: 'not_applied',
      }),
    ]);
    expect(JSON.stringify(lines)).not.toMatch(/secret-profile|stack/);
  });

  it('logs a command that gave up waiting for the one ahead once at warn, as not applied, without the ids', () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const response = {
      headersSent: false,
      statusCode: 200,
      setHeader: () => undefined,
      end: () => undefined,
    };
    const request = { id: 'req-2', method: 'POST', headers: {}, complete: true };
    const host = {
      switchToHttp: () => ({ getResponse: () => response, getRequest: () => request }),
    } as unknown as ArgumentsHost;
    new ApiExceptionFilter(logger).catch(
      new LockWaitError('holder-failed', 'session-1-secret-cart', 295, new Error('timed out')),
      host,
    );
    expect(response.statusCode).toBe(503);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 40,
        requestId: 'req-2',
        reason: 'holder-failed',
        stream: 'session',
        waitedMs: 295,
        idempotencyKey: false,
        outcome: 'not_applied',
      }),
    ]);
    expect(JSON.stringify(lines)).not.toMatch(/secret-cart|stack/);
  });

  it('given a client that has gone (logged 499), then its timeout or lock wait is logged as such, not as "answered 503"', () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const filter = new ApiExceptionFilter(logger);
    const catchFor = (error: unknown, gone: boolean) => {
      // What Node leaves on a response whose connection the client closed: destroyed, never finished.
      const response = {
        headersSent: false,
        statusCode: 200,
        writableFinished: false,
        destroyed: gone,
        setHeader: () => undefined,
        end: () => undefined,
        destroy: () => undefined,
      };
      const request = { id: gone ? 'gone' : 'here', method: 'GET', headers: {}, complete: true };
      const host = {
        switchToHttp: () => ({ getResponse: () => response, getRequest: () => request }),
      } as unknown as ArgumentsHost;
      filter.catch(error, host);
    };
    const timeout = new EventStoreTimeoutError('read', 'session-1-a', 300);
    const lockWait = new LockWaitError('holder-failed', 'session-1-a', 295, timeout);
    for (const gone of [true, false]) {
      catchFor(timeout, gone);
      catchFor(lockWait, gone);
    }
    const fields = { method: 'GET', stream: 'session', idempotencyKey: false, outcome: expect.any(String) };
    expect(lines).toEqual([
      expect.objectContaining({
        ...fields,
        requestId: 'gone',
        operation: 'read',
        timeoutMs: 300,
        aborted: true,
        msg: 'event store call timed out after the client had gone (499)',
      }),
      expect.objectContaining({
        ...fields,
        requestId: 'gone',
        reason: 'holder-failed',
        waitedMs: 295,
        aborted: true,
        msg: 'gave up waiting for an earlier command on the same session after the client had gone (499)',
      }),
      expect.objectContaining({
        ...fields,
        requestId: 'here',
        operation: 'read',
        msg: 'event store call timed out: answered 503',
      }),
      expect.objectContaining({
        ...fields,
        requestId: 'here',
        reason: 'holder-failed',
        msg: 'gave up waiting for an earlier command on the same session: answered 503',
      }),
    ]);
    expect(lines[2]).not.toHaveProperty('aborted');
    expect(lines[3]).not.toHaveProperty('aborted');
  });

  it('closes the connection after refusing a large body it never read, not after a small one', () => {
    const unauthorized = ApiError.of(401, 'UNAUTHORIZED', 'no key');
    expect(respond(unauthorized, { 'content-length': '10485760' }).headers.Connection).toBe('close');
    expect(respond(unauthorized, { 'content-length': '100' }).headers.Connection).toBeUndefined();
  });
});

describe('Retry-After on a 503', () => {
  const retryAfter = (error: unknown, request?: FakeRequest) =>
    mapError(error, request as never).headers?.['Retry-After'];
  const command = { method: 'POST', headers: {} };
  const keyed = { method: 'POST', headers: { 'idempotency-key': 'k-1' } };
  const cut = Object.assign(new Error('14 UNAVAILABLE: Connection dropped'), { code: 14 });

  it('is 1 s on NOT_READY (read models behind) and 5 s on SERVICE_UNAVAILABLE (a store down or hung)', () => {
    expect(retryAfter(ApiError.of(503, 'NOT_READY', 'not yet'))).toBe('1');
    // /health/ready's refusal.
    expect(
      retryAfter(ApiError.of(503, 'SERVICE_UNAVAILABLE', 'Not ready: the event store not reachable')),
    ).toBe('5');
    expect(retryAfter(new EventStoreUnavailableError(new Error('down')), command)).toBe('5');
    expect(retryAfter(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe('5');
    expect(retryAfter(new EventStoreTimeoutError('read', 'session-1-a', 10_000), command)).toBe('5');
    expect(retryAfter(new LockWaitError('wait-timeout', 'session-1-a', 10_000), command)).toBe('5');
    expect(
      retryAfter(
        new ClaimWriteInterruptedError(new EventStoreWriteInterruptedError('append', 'profile-1-a', cut)),
        command,
      ),
    ).toBe('5');
  });

  it('is absent where a blind retry may apply a command twice: a write of unknown outcome without a key', () => {
    const timedOut = new EventStoreTimeoutError('append', 'session-1-a', 10_000);
    const interrupted = new EventStoreWriteInterruptedError('append', 'session-1-a', cut);
    expect(retryAfter(timedOut, command)).toBeUndefined();
    expect(retryAfter(interrupted, command)).toBeUndefined();
    expect(retryAfter(timedOut, keyed)).toBe('5');
    expect(retryAfter(interrupted, keyed)).toBe('5');
    // A dry run writes nothing.
    expect(
      retryAfter(timedOut, { method: 'PUT', url: '/v2/customer_sessions/a?dry=true', headers: {} }),
    ).toBe('5');
  });

  it('is on no other status', () => {
    expect(retryAfter(new ConcurrentUpdateError('session-1-a', 10))).toBeUndefined();
    expect(retryAfter(ApiError.of(400, 'INVALID_FIELD', 'bad'))).toBeUndefined();
    expect(retryAfter(new Error('bug'))).toBeUndefined();
  });
});

describe('the code of an error response, for the request log line', () => {
  it('is noted on the response by sendError: errors[0].title', () => {
    const response = { setHeader: () => undefined, end: () => undefined } as never;
    expect(errorCodeOf(response)).toBeUndefined();
    sendError(undefined, response, mapError(new ConcurrentUpdateError('session-1-a', 10)));
    expect(errorCodeOf(response)).toBe('CONCURRENT_UPDATE');
  });
});

describe('a store that cannot be reached is logged at warn once, not per 503', () => {
  function filterWithLog() {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const filter = new ApiExceptionFilter(logger);
    let n = 0;
    const answer = (error: unknown) => {
      const response = {
        headersSent: false,
        statusCode: 200,
        setHeader: () => undefined,
        end: () => undefined,
      };
      const request = { id: `req-${++n}`, method: 'GET', headers: {}, complete: true };
      const host = {
        switchToHttp: () => ({ getResponse: () => response, getRequest: () => request }),
      } as unknown as ArgumentsHost;
      filter.catch(error, host);
      return response.statusCode;
    };
    return { lines, answer };
  }

  it('logs the first 503 of each unreachable store, without a stack, and none of the next ones', () => {
    const { lines, answer } = filterWithLog();
    for (let i = 0; i < 50; i++) {
      expect(answer(new EventStoreUnavailableError(new Error('connect ECONNREFUSED 127.0.0.1:2113')))).toBe(
        503,
      );
      expect(
        answer(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })),
      ).toBe(503);
    }
    expect(lines).toEqual([
      {
        level: 40,
        time: expect.any(Number),
        pid: expect.any(Number),
        hostname: expect.any(String),
        dependency: 'event-store',
        requestId: 'req-1',
        method: 'GET',
        error: 'EventStoreUnavailableError',
        suppressed: 0,
        msg: 'event store not reachable: answering 503',
      },
      expect.objectContaining({
        level: 40,
        dependency: 'read-models',
        requestId: 'req-2',
        msg: 'read-model database not reachable: answering 503',
      }),
    ]);
  });

  it("logs the read-model database's SQLSTATE and message, and says what happened when it was no outage", () => {
    const pgError = (code: string, message: string) =>
      Object.assign(new DatabaseError(message, message.length, 'error'), {
        code,
        detail: 'Key (sku)=(SECRET) already exists.',
      });
    const cases: [unknown, Record<string, unknown>][] = [
      [
        pgError('55P03', 'canceling statement due to lock timeout'),
        {
          msg: 'read-model query waited too long for a lock (lock_timeout): answering 503',
          errorCode: '55P03',
          errorMessage: 'canceling statement due to lock timeout',
        },
      ],
      [
        pgError('53300', 'sorry, too many clients already'),
        {
          msg: 'read-model database refused a connection (too many connections): answering 503',
          errorCode: '53300',
          errorMessage: 'sorry, too many clients already',
        },
      ],
      [
        pgError('57014', 'canceling statement due to statement timeout'),
        {
          msg: 'read-model query cancelled by the database (statement_timeout, or an administrator): answering 503',
          errorCode: '57014',
        },
      ],
      [
        pgError('57P01', 'terminating connection due to administrator command'),
        { msg: 'read-model database not reachable: answering 503', errorCode: '57P01' },
      ],
    ];
    for (const [error, expected] of cases) {
      const { lines, answer } = filterWithLog();
      expect(answer(error)).toBe(503);
      expect(lines).toEqual([
        expect.objectContaining({
          level: 40,
          dependency: 'read-models',
          error: 'DatabaseError',
          ...expected,
        }),
      ]);
      expect(JSON.stringify(lines)).not.toContain('SECRET');
    }
    const { lines, answer } = filterWithLog();
    answer(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));
    expect(lines).toEqual([
      expect.objectContaining({
        msg: 'read-model database not reachable: answering 503',
        errorCode: 'ECONNREFUSED',
        errorMessage: 'connect ECONNREFUSED 127.0.0.1:5432',
      }),
    ]);
  });

  it('answers a damaged read-model database 503 and logs it at error, once a minute, as not healing by itself', () => {
    const errors = damagedSqliteErrors();
    expect(errors.map((error) => (error as { code?: string }).code)).toEqual([
      expect.stringMatching(/^SQLITE_CORRUPT/),
      'SQLITE_NOTADB',
    ]);
    for (const error of errors) {
      expect(bodyOf(error)).toEqual({
        message: expect.stringContaining('damaged'),
        errors: [
          {
            title: 'SERVICE_UNAVAILABLE',
            details: expect.stringContaining('commands are not affected'),
            source: {},
          },
        ],
        StatusCode: 503,
      });
    }
    const { lines, answer } = filterWithLog();
    for (let i = 0; i < 20; i++) expect(answer(errors[i % 2])).toBe(503);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 50,
        dependency: 'read-models-damaged',
        error: 'SqliteError',
        errorCode: expect.stringMatching(/^SQLITE_CORRUPT/),
        errorMessage: 'database disk image is malformed',
        msg: expect.stringContaining('read-model database damaged: answering 503'),
      }),
    ]);
    expect(JSON.stringify(lines)).not.toContain('stack');
  });

  it('does not count what is logged per request (a timeout) nor a refusal of the request', () => {
    const { lines, answer } = filterWithLog();
    answer(new EventStoreTimeoutError('read', 'session-1-a', 300));
    answer(ApiError.of(503, 'NOT_READY', 'behind'));
    answer(new ConcurrentUpdateError('session-1-a', 10));
    expect(lines.map((line) => line.msg)).toEqual(['event store call timed out: answered 503']);
  });
});

describe('UnreachableLog', () => {
  it('writes at most one line a minute per store, with the 503s answered since the last one', () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    let now = 0;
    const log = new UnreachableLog(logger, () => now);
    for (let i = 0; i < 120; i++) {
      log.answered('event-store', { requestId: `r-${i}` });
      now += 1_000;
    }
    expect(lines.map(({ requestId, suppressed }) => ({ requestId, suppressed }))).toEqual([
      { requestId: 'r-0', suppressed: 0 },
      { requestId: 'r-60', suppressed: 59 },
    ]);
    now += UNREACHABLE_LOG_INTERVAL_MS;
    log.answered('event-store', { requestId: 'later' });
    expect(lines.at(-1)).toMatchObject({ requestId: 'later', suppressed: 59 });
  });
});

describe('validationException', () => {
  const errorsOf = async (body: unknown) =>
    validationException(
      await validate(plainToInstance(UpdateSessionRequestDto, body) as object, {
        whitelist: true,
        forbidNonWhitelisted: true,
      }),
    ).entries;

  it('reports unknown fields as UNKNOWN_FIELD with their pointer', async () => {
    expect(await errorsOf({ customerSession: { colour: 'red' } })).toEqual([
      {
        title: 'UNKNOWN_FIELD',
        details: 'Unknown field /customerSession/colour',
        pointer: '/customerSession/colour',
      },
    ]);
  });

  it('points into arrays by index and reports the item limit as LIMIT_EXCEEDED', async () => {
    const [quantity] = await errorsOf({
      customerSession: {
        cartItems: [
          { sku: 'a', quantity: 1 },
          { sku: 'b', quantity: 0 },
        ],
      },
    });
    expect(quantity).toMatchObject({
      title: 'INVALID_FIELD',
      pointer: '/customerSession/cartItems/1/quantity',
    });
    const [limit] = await errorsOf({
      customerSession: { cartItems: Array.from({ length: 1001 }, () => ({ sku: 'a', quantity: 1 })) },
    });
    expect(limit).toMatchObject({ title: 'LIMIT_EXCEEDED', pointer: '/customerSession/cartItems' });
  });

  it('reports a wrong type before a limit on the same field', async () => {
    const [first] = await errorsOf({ customerSession: { cartItems: { sku: 'a' } } });
    expect(first!.title).toBe('INVALID_FIELD');
  });

  it('reports a value of the wrong type with its type error alone, not the range checks it cannot meet', async () => {
    expect(
      await errorsOf({ customerSession: { cartItems: [{ sku: 'a', quantity: '1', price: 10 }] } }),
    ).toEqual([
      {
        title: 'INVALID_FIELD',
        details: 'quantity must be an integer number',
        pointer: '/customerSession/cartItems/0/quantity',
      },
    ]);
    const zero = await errorsOf({ customerSession: { cartItems: [{ sku: 'a', quantity: 0 }] } });
    expect(zero.map((entry) => entry.details)).toEqual(['quantity must not be less than 1']);
  });
});
