/**
 * A minimal, strict protobuf wire-format reader for the hot requests (BatchAppendReq, AppendReq).
 * Every length and wire type is checked against the bounds of the enclosing message: malformed input throws
 * a `WireError` (which grpc-js turns into an error status for the call), it never reads out of bounds.
 */

export const enum WireType {
  Varint = 0,
  Fixed64 = 1,
  Len = 2,
  Fixed32 = 5,
}

export class WireError extends Error {}

export class ProtoReader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    start = 0,
    /** Exclusive end of the message being read. */
    public end = buf.length,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  /** An unsigned varint as a number (exact up to 2^53; larger values come out >= 2^53, never smaller). */
  varint(): number {
    const buf = this.buf;
    let pos = this.pos;
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= this.end) throw new WireError('Truncated varint');
      const byte = buf[pos++];
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        this.pos = pos;
        return result;
      }
      scale *= 128;
    }
    throw new WireError('Varint longer than 10 bytes');
  }

  /** A varint as an unsigned 64-bit integer (int64 fields, two's complement). */
  varint64(): bigint {
    let pos = this.pos;
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (pos >= this.end) throw new WireError('Truncated varint');
      const byte = this.buf[pos++];
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) {
        this.pos = pos;
        return BigInt.asUintN(64, result);
      }
      shift += 7n;
    }
    throw new WireError('Varint longer than 10 bytes');
  }

  /** The next field's tag: field number * 8 + wire type (field numbers 1 .. 2^29 - 1). */
  tag(): number {
    const tag = this.varint();
    if (tag < 8 || tag >= 2 ** 32) throw new WireError(`Invalid field tag ${tag}`);
    return tag;
  }

  /** Starts a length-delimited field: returns the (checked) end of its payload; `pos` is at its start. */
  delimited(): number {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.end) throw new WireError('Length-delimited field runs past the end of its message');
    return end;
  }

  /** A length-delimited field as a view (no copy) of the underlying buffer. */
  bytes(): Buffer {
    const end = this.delimited();
    const value = this.buf.subarray(this.pos, end);
    this.pos = end;
    return value;
  }

  string(): string {
    const end = this.delimited();
    const value = this.buf.toString('utf8', this.pos, end);
    this.pos = end;
    return value;
  }

  /** Skips a field of a known wire type; groups (deprecated) and unknown wire types are rejected. */
  skip(wireType: number): void {
    switch (wireType) {
      case WireType.Varint:
        this.varint();
        return;
      case WireType.Fixed64:
        this.advance(8);
        return;
      case WireType.Len:
        this.pos = this.delimited();
        return;
      case WireType.Fixed32:
        this.advance(4);
        return;
      default:
        throw new WireError(`Unsupported wire type ${wireType}`);
    }
  }

  private advance(n: number): void {
    if (this.pos + n > this.end) throw new WireError('Fixed-size field runs past the end of its message');
    this.pos += n;
  }

  /** Throws unless a known field arrived with the wire type its schema gives it. */
  static expect(wireType: number, expected: WireType, field: number): void {
    if (wireType !== expected) throw new WireError(`Field ${field} has wire type ${wireType}`);
  }
}
