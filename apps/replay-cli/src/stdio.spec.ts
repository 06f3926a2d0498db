import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import { StdoutClosedError } from './cli-error';
import { processIo } from './stdio';

class FakeStream extends EventEmitter {
  written = '';
  isTTY = true;
  columns = 80;
  write(text: string) {
    this.written += text;
    return true;
  }
}

const epipe = () => Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });

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
});
