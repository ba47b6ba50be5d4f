/**
 * The byte-level reader and writer of the ledger's two binary protocols: the client protocol (wire.ts) and the
 * Raft peer protocol (raft-node/src/server/peer-wire.ts). Both are fixed layouts, big-endian, with no field names on
 * the wire. Hand-written rather than a generic codec (msgpack, CBOR, protobuf): a fixed layout needs no type tags
 * and no intermediate object, and the decoder below is the one place that checks bounds, so every decode is total:
 * it either returns a value or throws a WireError naming the field that was cut short or out of range.
 */

export class WireError extends Error {}

/** Strings up to this many characters take Writer's ASCII fast path. */
const SHORT_ASCII = 64;

/** Appends to a growing buffer; one allocation per message in the common case. */
export class Writer {
  private buf: Buffer;
  private at = 0;

  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }

  u8(v: number): this {
    this.room(1);
    this.buf[this.at++] = v;
    return this;
  }

  u16(v: number): this {
    this.room(2);
    this.buf.writeUInt16BE(v, this.at);
    this.at += 2;
    return this;
  }

  u32(v: number): this {
    this.room(4);
    this.buf.writeUInt32BE(v, this.at);
    this.at += 4;
    return this;
  }

  f64(v: number): this {
    this.room(8);
    this.buf.writeDoubleBE(v, this.at);
    this.at += 8;
    return this;
  }

  bool(v: boolean): this {
    return this.u8(v ? 1 : 0);
  }

  /** u16 length + UTF-8. */
  str(s: string): this {
    if (s.length <= SHORT_ASCII && this.ascii(s)) return this;
    const max = Buffer.byteLength(s, 'utf8');
    if (max > 0xffff) throw new WireError(`a string of ${max} bytes does not fit the wire's 65535`);
    this.room(2 + max);
    const n = this.buf.write(s, this.at + 2, 'utf8');
    this.buf.writeUInt16BE(n, this.at);
    this.at += 2 + n;
    return this;
  }

  /**
   * Writes a short all-ASCII string byte by byte (false, nothing written, if it is not): node ids, nonces, contexts.
   * Buffer.byteLength + write cross into C++ twice, which costs more than the copy for a handful of characters.
   */
  private ascii(s: string): boolean {
    this.room(2 + s.length);
    const at = this.at + 2;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return false;
      this.buf[at + i] = c;
    }
    this.buf.writeUInt16BE(s.length, this.at);
    this.at = at + s.length;
    return true;
  }

  /** u8 0 for null, else 1 and the string. */
  strOrNull(s: string | null): this {
    return s === null ? this.u8(0) : this.u8(1).str(s);
  }

  /** u32 length + the bytes as they are. */
  bytes(b: Uint8Array): this {
    this.room(4 + b.length);
    this.buf.writeUInt32BE(b.length, this.at);
    this.buf.set(b, this.at + 4);
    this.at += 4 + b.length;
    return this;
  }

  /** u32 length + UTF-8 of a string that may exceed a u16 (a log entry's payload), without an intermediate buffer. */
  longStr(s: string): this {
    const max = Buffer.byteLength(s, 'utf8');
    this.room(4 + max);
    const n = this.buf.write(s, this.at + 4, 'utf8');
    this.buf.writeUInt32BE(n, this.at);
    this.at += 4 + n;
    return this;
  }

  /** Exactly `b` (a fixed-size field such as a sha256), no length. */
  raw(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
    return this;
  }

  framed(): Buffer {
    return this.buf.subarray(0, this.at);
  }
}

/** Reads a message body; every read is bounds-checked and names what was cut short. */
export class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}

  private need(n: number, what: string): void {
    if (this.at + n > this.buf.length) throw new WireError(`message cut short reading ${what}`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.at++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const v = this.buf.readUInt16BE(this.at);
    this.at += 2;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.buf.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }

  f64(what: string): number {
    this.need(8, what);
    const v = this.buf.readDoubleBE(this.at);
    this.at += 8;
    return v;
  }

  /** An f64 that must hold a safe non-negative integer (a Raft term, index or byte offset). */
  nat(what: string): number {
    const v = this.f64(what);
    if (!Number.isSafeInteger(v) || v < 0) throw new WireError(`${what} is ${v}, not a non-negative integer`);
    return v;
  }

  bool(what: string): boolean {
    const v = this.u8(what);
    if (v > 1) throw new WireError(`${what} is byte ${v}, not a boolean (0 or 1)`);
    return v === 1;
  }

  str(what: string): string {
    const n = this.u16(what);
    this.need(n, what);
    const s = this.buf.toString('utf8', this.at, this.at + n);
    this.at += n;
    return s;
  }

  strOrNull(what: string): string | null {
    return this.bool(`${what} presence`) ? this.str(what) : null;
  }

  longStr(what: string): string {
    const n = this.u32(what);
    this.need(n, what);
    const s = this.buf.toString('utf8', this.at, this.at + n);
    this.at += n;
    return s;
  }

  /** u32 length + bytes, as a view into the message (copy it to keep it past the next frame). */
  bytes(what: string): Buffer {
    return this.raw(this.u32(what), what);
  }

  /** Exactly n bytes, as a view into the message. */
  raw(n: number, what: string): Buffer {
    this.need(n, what);
    const b = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }

  end(): void {
    if (this.at !== this.buf.length)
      throw new WireError(`${this.buf.length - this.at} bytes left over after the message`);
  }
}
