import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import { StdoutClosedError, StdoutWriteError } from './cli-error';
import { processIo } from './stdio';

class FakeStream extends EventEmitter {
  written = '';
  isTTY = true;
  columns = 80;
  /** The error the next writes fail with (reported to their callback, then as an 'error' event, as Node does). */
  failing?: Error;
  write(text: string, callback?: (error?: Error | null) => void) {
    const failure = this.failing;
    if (failure === undefined) this.written += text;
    process.nextTick(() => {
      callback?.(failure ?? null);
      if (failure) this.emit('error', failure);
    });
    return true;
  }
}

const epipe = () => Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
const enospc = () =>
  Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' });

describe('processIo', () => {
  it('turns EPIPE on stdout (its reader went away) into StdoutClosedError on the next write', () => {
    const stdout = new FakeStream();
    const stderr = new FakeStream();
    const io = processIo({ stdout, stderr, stdin: Readable.from([]), env: {} });
    io.stdout.write('first\n');
    expect(() => stdout.emit('error', epipe())).not.toThrow(); // handled: no "Unhandled 'error' event"
    expect(() => io.stdout.write('second\n')).toThrow(StdoutClosedError);
    expect(stdout.written).toBe('first\n');
  });

  it('drops messages once stderr is closed, and stops drawing bars there', () => {
    const stdout = new FakeStream();
    const stderr = new FakeStream();
    const io = processIo({ stdout, stderr, stdin: Readable.from([]), env: {} });
    expect(io.stderr.isTTY).toBe(true);
    stderr.emit('error', epipe());
    io.stderr.write('lost\n');
    expect(stderr.written).toBe('');
    expect(io.stderr.isTTY).toBe(false);
    io.stdout.write('result\n');
    expect(stdout.written).toBe('result\n');
  });

  it('a write error that is not EPIPE (a full disk): no uncaught error; the next write and settled() throw StdoutWriteError', async () => {
    const stdout = new FakeStream();
    const stderr = new FakeStream();
    const io = processIo({ stdout, stderr, stdin: Readable.from([]), env: {} });
    stdout.failing = enospc();
    io.stdout.write('lost\n'); // returns: Node reports the failure on the next tick
    await expect(io.settled!()).rejects.toThrow(
      new StdoutWriteError(enospc()).message, // 'writing to stdout failed (ENOSPC: …): the output is incomplete'
    );
    expect(() => io.stdout.write('more\n')).toThrow(StdoutWriteError);
    // A later EPIPE / ERR_STREAM_DESTROYED does not turn the failure into a quiet exit.
    stdout.emit('error', Object.assign(new Error('destroyed'), { code: 'ERR_STREAM_DESTROYED' }));
    expect(() => io.stdout.write('more\n')).toThrow(StdoutWriteError);
  });

  it('settled() resolves when everything was written, and when the reader went away (EPIPE stays quiet)', async () => {
    const stdout = new FakeStream();
    const io = processIo({ stdout, stderr: new FakeStream(), stdin: Readable.from([]), env: {} });
    io.stdout.write('fine\n');
    await expect(io.settled!()).resolves.toBeUndefined();
    stdout.failing = epipe();
    io.stdout.write('gone\n');
    await expect(io.settled!()).resolves.toBeUndefined();
    expect(() => io.stdout.write('more\n')).toThrow(StdoutClosedError);
  });
});
