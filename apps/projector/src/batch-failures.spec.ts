import { UnreadableSessionEventError, type StoredEvent } from '@session-engine/event-store';
import { CheckpointConflictError, ProjectorLockLostError } from '@session-engine/read-models';
import { EventUpcastError } from '@session-engine/session-domain';
import {
  classifyBatchError,
  describeBatchError,
  RETRY_MAX_MS,
  RETRY_MIN_MS,
  retryDelayMs,
} from './batch-failures';

const withCode = (code: string, message = 'boom') => Object.assign(new Error(message), { code });

describe('classifyBatchError', () => {
  it.each([
    ['54000', 'rejected'], // index row size exceeds btree maximum
    ['22P05', 'rejected'], // unsupported Unicode escape sequence
    ['23505', 'rejected'],
    ['P0001', 'rejected'], // raised by a trigger
    ['SQLITE_CONSTRAINT_CHECK', 'rejected'],
    ['SQLITE_TOOBIG', 'rejected'],
    ['ECONNREFUSED', 'unavailable'],
    ['57P01', 'unavailable'],
    ['08006', 'unavailable'],
    ['53100', 'unavailable'],
    ['SQLITE_BUSY', 'unavailable'],
    ['SQLITE_FULL', 'unavailable'],
    ['42P01', 'refused'], // undefined table: whatever the batch holds
    ['42501', 'refused'], // insufficient privilege
    ['3F000', 'refused'],
    ['25006', 'refused'], // read-only transaction
    ['57014', 'refused'], // statement cancelled
    ['55P03', 'refused'], // lock not available
    ['40P01', 'unavailable'], // deadlock: another writer's timing
    ['40001', 'unavailable'],
    ['SQLITE_CORRUPT', 'refused'], // database disk image is malformed: the file, not the batch
    ['SQLITE_CORRUPT_INDEX', 'refused'],
    ['SQLITE_NOTADB', 'refused'],
    ['XX001', 'refused'], // data_corrupted
    ['XX002', 'refused'], // index_corrupted
    ['XX000', 'other'],
    ['SQLITE_ERROR', 'other'],
  ])('%s is %s', (code, kind) => {
    expect(classifyBatchError(withCode(code))).toBe(kind);
  });

  it('reads a row a row-level security policy refuses (42501) as rejected: what the row holds', () => {
    expect(
      classifyBatchError(
        withCode('42501', 'new row violates row-level security policy for table "sessions"'),
      ),
    ).toBe('rejected');
  });

  it('reads SQLite\'s "no such table" as refused, not as a fault of the batch', () => {
    expect(classifyBatchError(withCode('SQLITE_ERROR', 'no such table: sessions'))).toBe('refused');
  });

  it('knows the read models’ own errors and errors without a code', () => {
    expect(classifyBatchError(new CheckpointConflictError('moved'))).toBe('conflict');
    expect(classifyBatchError(new ProjectorLockLostError('gone'))).toBe('lock_lost');
    expect(classifyBatchError(new Error('Connection terminated unexpectedly'))).toBe('unavailable');
    expect(classifyBatchError(new Error('something else'))).toBe('other');
    expect(classifyBatchError('a string')).toBe('other');
    // By shape: errors of a native module may not be `instanceof Error` here.
    expect(classifyBatchError({ name: 'SqliteError', code: 'SQLITE_CONSTRAINT_TRIGGER', message: 'x' })).toBe(
      'rejected',
    );
    expect(classifyBatchError({ name: 'CheckpointConflictError', message: 'moved' })).toBe('conflict');
  });

  it('tells an event this build cannot read (a newer writer’s) from the database’s failures', () => {
    const cause = new EventUpcastError('Unknown schema version 2 of SessionClosed (versions 1..1 are known)');
    const error = new UnreadableSessionEventError({ type: 'SessionClosed' } as StoredEvent, cause);
    expect(classifyBatchError(error)).toBe('unreadable');
    expect(describeBatchError(error)).toEqual({
      type: 'UnreadableSessionEventError',
      message: 'Unknown schema version 2 of SessionClosed (versions 1..1 are known)',
    });
  });
});

describe('describeBatchError', () => {
  it('keeps the message and where the database refused it, never the row it quotes', () => {
    const error = Object.assign(new Error('new row violates check constraint "c"'), {
      code: '23514',
      table: 'sku_analytics',
      constraint: 'c',
      detail: 'Failing row contains (secret-customer-data).',
      where: 'JSON data, line 1: {"email": "someone@example.com"',
    });
    const described = describeBatchError(error);
    expect(described).toEqual({
      type: 'Error',
      message: 'new row violates check constraint "c"',
      code: '23514',
      table: 'sku_analytics',
      constraint: 'c',
    });
    expect(JSON.stringify(described)).not.toMatch(/secret|someone/);
    expect(describeBatchError({ name: 'SqliteError', code: 'SQLITE_TOOBIG', message: 'too big' })).toEqual({
      type: 'SqliteError',
      code: 'SQLITE_TOOBIG',
      message: 'too big',
    });
    expect(describeBatchError(42)).toEqual({ message: '42' });
  });
});

describe('retryDelayMs', () => {
  it('doubles from 100 ms up to 30 s, each wait in the upper half of its step', () => {
    const low = (n: number) => retryDelayMs(n, () => 0);
    const high = (n: number) => retryDelayMs(n, () => 1);
    expect([1, 2, 3, 4].map(low)).toEqual([50, 100, 200, 400]);
    expect([1, 2, 3, 4].map(high)).toEqual([100, 200, 400, 800]);
    expect(high(100)).toBe(RETRY_MAX_MS);
    expect(low(100)).toBe(RETRY_MAX_MS / 2);
    expect(low(0)).toBe(RETRY_MIN_MS / 2);
  });

  it('never waits less than any wait before it, below the cap, whatever the jitter', () => {
    for (let n = 1; n < 9; n++) {
      expect(retryDelayMs(n + 1, () => 0)).toBeGreaterThanOrEqual(retryDelayMs(n, () => 1));
    }
  });
});
