import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedEventStore } from '.';
import { logged, storeLogLevel } from './log';

describe("the embedded store's log level", () => {
  it('writes a line at or above the least severe level, and every line without one', () => {
    expect(logged('info', 'warn')).toBe(false);
    expect(logged('warn', 'warn')).toBe(true);
    expect(logged('error', 'warn')).toBe(true);
    expect(logged('error', 'silent')).toBe(false);
    expect(logged('debug', undefined)).toBe(true);
  });

  it('takes a pino level name as LOG_LEVEL gives it: trace as debug, fatal as error', () => {
    expect(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].map(storeLogLevel)).toEqual([
      'debug',
      'debug',
      'info',
      'warn',
      'error',
      'error',
      'silent',
    ]);
  });

  it.each([
    [undefined, 2],
    ['warn', 0],
  ] as const)(
    'started with logLevel %s, writes %i info lines (listening, stopped)',
    async (logLevel, lines) => {
      // Given a store started and stopped with that level, its stdout captured
      const dir = mkdtempSync(join(tmpdir(), 'store-log-level-'));
      const written: string[] = [];
      const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
        written.push(String(chunk));
        return true;
      });
      try {
        const store = await startEmbeddedEventStore({
          port: 0,
          dataDir: dir,
          scavengeIntervalMs: 0,
          ...(logLevel ? { logLevel } : {}),
        });
        await store.close();
      } finally {
        write.mockRestore();
        rmSync(dir, { recursive: true, force: true });
      }
      // Then its info lines are there only when the level lets them be
      const info = written.filter((line) => line.includes('"service":"eventstore-embedded"'));
      expect(info).toHaveLength(lines);
    },
  );
});
