/**
 * A minimal protobuf wire-format writer for the hot responses (ReadResp, BatchAppendResp).
 * Encoding by hand avoids building google-protobuf message objects for every event we send;
 * the client decodes the bytes with its own generated classes, so field numbers must match
 * `streams.proto` / `shared.proto` / `status.proto` of @eventstore/db-client exactly.
 */

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

export function varintSize(value: number): number {
  let size = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

export class ProtoWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialSize = 256) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Unsigned varint for 0 <= value <= 2^53. */
  varint(value: number): this {
    this.ensure(10);
    while (value >= 128) {
      this.buf[this.pos++] = (value % 128) | 128;
      value = Math.floor(value / 128);
    }
    this.buf[this.pos++] = value;
    return this;
  }

  tag(field: number, wireType: number): this {
    return this.varint(field * 8 + wireType);
  }

  uint64Field(field: number, value: number): this {
    return this.tag(field, WIRE_VARINT).varint(value);
  }

  bytesField(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LEN).varint(value.length);
    this.ensure(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
    return this;
  }

  stringField(field: number, value: string): this {
    const len = Buffer.byteLength(value, 'utf8');
    this.tag(field, WIRE_LEN).varint(len);
    this.ensure(len);
    this.pos += this.buf.write(value, this.pos, 'utf8');
    return this;
  }

  /** An embedded message, encoded by `body` into this writer (length back-patched). */
  message(field: number, body: (w: ProtoWriter) => void): this {
    this.tag(field, WIRE_LEN);
    // Reserve 4 bytes for the length (enough for 256 MiB), then compact if smaller.
    this.ensure(4);
    const lenPos = this.pos;
    this.pos += 4;
    const start = this.pos;
    body(this);
    const len = this.pos - start;
    if (len >= 2 ** 28) throw new RangeError('Embedded message too large (256 MiB or more)');
    const lenSize = varintSize(len);
    if (lenSize !== 4) {
      this.buf.copy(this.buf, lenPos + lenSize, start, this.pos);
      this.pos -= 4 - lenSize;
    }
    let v = len;
    let p = lenPos;
    for (let i = 0; i < lenSize; i++) {
      this.buf[p++] = i === lenSize - 1 ? v : (v % 128) | 128;
      v = Math.floor(v / 128);
    }
    return this;
  }

  emptyMessage(field: number): this {
    return this.tag(field, WIRE_LEN).varint(0);
  }

  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}
