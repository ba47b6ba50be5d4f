/**
 * Length-prefixed JSON frames on a TCP stream: a 4-byte big-endian length, then that many bytes of
 * UTF-8 JSON. One frame usually carries a whole batch of Raft messages.
 */

export const MAX_FRAME_BYTES = 512 * 1024 * 1024;

/** Returned by FrameDecoder.next() when no complete frame is buffered (a frame may itself be null). */
export const NO_FRAME: unique symbol = Symbol('no frame');

export function encodeFrame(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  const header = Buffer.allocUnsafe(4);
  header.writeUInt32BE(body.length, 0);
  return Buffer.concat([header, body]);
}

/** Accumulates stream chunks and yields each complete frame's parsed JSON. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** The largest frame accepted; lowered until a peer has authenticated. */
  constructor(public maxFrameBytes = MAX_FRAME_BYTES) {}

  /** Adds a chunk and returns every frame now complete. */
  push(chunk: Buffer): unknown[] {
    this.append(chunk);
    const out: unknown[] = [];
    for (let frame = this.next(); frame !== NO_FRAME; frame = this.next()) out.push(frame);
    return out;
  }

  append(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /** The next complete frame, or NO_FRAME; one at a time so the caller can change the limit between frames. */
  next(): unknown {
    if (this.buffered < 4) return NO_FRAME;
    const len = this.peek(4).readUInt32BE(0);
    if (len > this.maxFrameBytes) throw new Error(`frame of ${len} bytes exceeds the ${this.maxFrameBytes} limit`);
    if (this.buffered < 4 + len) return NO_FRAME;
    return JSON.parse(
      this.take(4 + len)
        .subarray(4)
        .toString('utf8'),
    );
  }

  private peek(n: number): Buffer {
    if (this.chunks[0] && this.chunks[0].length >= n) return this.chunks[0].subarray(0, n);
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined.subarray(0, n);
  }

  private take(n: number): Buffer {
    const joined = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const taken = joined.subarray(0, n);
    const rest = joined.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered -= n;
    return taken;
  }
}
