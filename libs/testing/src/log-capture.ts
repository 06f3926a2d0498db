import pino from 'pino';

/** One JSON line a logger wrote, parsed. */
export type LogLine = Record<string, unknown> & { level: number; msg: string };

/**
 * A pino logger at `level` whose lines are kept, as written (`raw`: a test looks for what no line may hold, a
 * stack say) and parsed (`lines`), in the order they were written.
 */
export function capturedLogger(level: pino.LevelWithSilent = 'info'): {
  logger: pino.Logger;
  lines: LogLine[];
  raw: string[];
} {
  const lines: LogLine[] = [];
  const raw: string[] = [];
  const logger = pino(
    { level },
    {
      write(line: string) {
        raw.push(line);
        lines.push(JSON.parse(line) as LogLine);
      },
    },
  );
  return { logger, lines, raw };
}
