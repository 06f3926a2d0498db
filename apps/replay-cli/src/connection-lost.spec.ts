import { CancelledError, UnavailableError } from '@eventstore/db-client';
import { EventStoreUnavailableError } from '@session-engine/event-store';
import { eventStoreStopped, eventStoreStoppedLine, readModelConnectionLost } from './connection-lost';

/** A gRPC error as grpc-js reports it. */
const grpc = (code: number, details: string) => {
  const names: Record<number, string> = {
    1: 'CANCELLED',
    4: 'DEADLINE_EXCEEDED',
    5: 'NOT_FOUND',
    14: 'UNAVAILABLE',
  };
  return Object.assign(new Error(`${code} ${names[code]}: ${details}`), { code, details, metadata: {} });
};

describe('eventStoreStopped', () => {
  it('is the adapter’s unavailable error, and the client’s CANCELLED / UNAVAILABLE / DEADLINE_EXCEEDED as they come', () => {
    const cancelled = grpc(1, 'Call cancelled');
    expect(eventStoreStopped(new EventStoreUnavailableError(new Error('x')))).toBe(true);
    expect(eventStoreStopped(new CancelledError(cancelled as never))).toBe(true);
    expect(eventStoreStopped(new UnavailableError(grpc(14, 'Connection dropped') as never))).toBe(true);
    expect(eventStoreStopped(grpc(14, 'No connection established'))).toBe(true);
    expect(eventStoreStopped(grpc(4, 'Deadline exceeded'))).toBe(true);
    expect(eventStoreStoppedLine('esdb://h:1?tls=false', new CancelledError(cancelled as never))).toBe(
      'the event store at esdb://h:1?tls=false stopped answering: 1 CANCELLED: Call cancelled.',
    );
  });

  it('is not a read the client cancelled itself, nor any other error', () => {
    expect(eventStoreStopped(grpc(1, 'Cancelled on client'))).toBe(false);
    expect(eventStoreStopped(grpc(5, 'Not found'))).toBe(false);
    expect(eventStoreStopped(new Error('boom'))).toBe(false);
    expect(eventStoreStopped('14')).toBe(false);
  });
});

describe('readModelConnectionLost', () => {
  const pg = (message: string, code?: string) => Object.assign(new Error(message), code ? { code } : {});

  it('is a backend ended (pg_terminate_backend, a shutdown), a connection exception, a socket gone, pg’s own words', () => {
    expect(readModelConnectionLost(pg('terminating connection due to administrator command', '57P01'))).toBe(
      true,
    );
    expect(readModelConnectionLost(pg('connection failure', '08006'))).toBe(true);
    expect(readModelConnectionLost(pg('read ECONNRESET', 'ECONNRESET'))).toBe(true);
    expect(readModelConnectionLost(pg('Connection terminated unexpectedly'))).toBe(true);
    expect(
      readModelConnectionLost(pg('Client has encountered a connection error and is not queryable')),
    ).toBe(true);
    // Wrapped by the read models' own errors (a migration, an open).
    const wrapped = new Error('Cannot open the read-model database (…)', {
      cause: new Error('Read-model migration failed', { cause: pg('terminating connection', '57P01') }),
    });
    expect(readModelConnectionLost(wrapped)).toBe(true);
  });

  it('is not a lock timeout, a cancelled statement or a bad query: the connection is fine', () => {
    expect(readModelConnectionLost(pg('canceling statement due to lock timeout', '55P03'))).toBe(false);
    expect(readModelConnectionLost(pg('canceling statement due to user request', '57014'))).toBe(false);
    expect(readModelConnectionLost(pg('relation "x" does not exist', '42P01'))).toBe(false);
    expect(readModelConnectionLost(new Error('boom'))).toBe(false);
  });
});
