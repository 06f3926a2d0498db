import { Readable } from 'node:stream';
import { progressBar, progressCounter, type CliIo } from './io';

function terminal(tty: boolean, env: Record<string, string> = {}) {
  let text = '';
  const io: CliIo = {
    stdout: { write: () => true },
    stderr: { write: (t: string) => (text += t), isTTY: tty, columns: 100 },
    stdin: Readable.from([]),
    env,
  };
  return { io, text: () => text };
}

describe('progressBar', () => {
  it('counts the unit it is given, grows when the total was an estimate, and clears its line at the end', () => {
    const { io, text } = terminal(true);
    const bar = progressBar(io, {}, 'rebuild', 10, 'events');
    expect(text()).toContain('rebuild [');
    expect(text()).toContain('| 0/10 events');
    bar.update(25);
    bar.update(40, 40);
    bar.stop();
    expect(text()).toContain('| 40/40 events');
    expect(text().endsWith('\x1b[2K')).toBe(true);
    const before = text();
    bar.stop();
    bar.update(50);
    expect(text()).toBe(before); // stopped once, silent afterwards
  });

  it('clears its line before a message', () => {
    const { io, text } = terminal(true);
    const bar = progressBar(io, {}, 'rebuild', 10, 'events');
    bar.note('swap attempt 1 failed; retrying\n');
    expect(text()).toContain('\r\x1b[2Kswap attempt 1 failed; retrying\n');
    bar.stop();
  });

  it('draws no bar when stderr is not a terminal (nor a line in a run shorter than the interval) or with --no-progress; messages still go out', () => {
    for (const [tty, progress] of [
      [false, true],
      [true, false],
    ]) {
      const { io, text } = terminal(tty);
      const bar = progressBar(io, { progress }, 'verify', 10, 'events');
      bar.update(5);
      bar.note('note\n');
      bar.stop();
      expect(text()).toBe('note\n');
    }
  });

  it('without a terminal, prints a plain line per interval (REPLAY_PROGRESS_INTERVAL_MS), no control characters', () => {
    const { io, text } = terminal(false, { REPLAY_PROGRESS_INTERVAL_MS: '0' });
    const bar = progressBar(io, {}, 'verify', 10, 'events');
    bar.update(5);
    bar.update(12); // beyond the estimate: the total follows
    bar.stop();
    const counter = progressCounter(io, {}, 'export: reading the log', 'events');
    counter.update(3);
    counter.stop();
    expect(text()).toBe(
      'verify: 5/10 events (50%)\nverify: 12/12 events (100%)\nexport: reading the log: 3 events\n',
    );
  });
});

describe('progressCounter', () => {
  it('on a terminal, redraws its line in place and clears it at the end', () => {
    const { io, text } = terminal(true);
    const counter = progressCounter(io, {}, 'export: reading the log', 'events');
    counter.update(7);
    counter.stop();
    expect(text()).toContain('\r\x1b[2Kexport: reading the log: 0 events');
    expect(text().endsWith('\r\x1b[2K')).toBe(true);
  });
});
