/**
 * Length-prefixed frames on a TCP stream: a 4-byte big-endian length, then that many bytes of body. The one
 * framing of the ledger's TCP protocols: the Raft peer transport puts UTF-8 JSON in the body (encodeFrame /
 * next(); one frame usually carries a whole batch of Raft messages), the binary client protocol
 * (wire.ts) puts its own binary messages there (encodeRawFrame / nextRaw()).
 */

export const MAX_FRAME_BYTES = 512 * 1024 * 1024;
export const FRAME_HEADER_BYTES = 4;

/** Returned by FrameDecoder.next() when no complete frame is buffered (a frame may itself be null). */
export const NO_FRAME: unique symbol = Symbol('no frame');

/** A frame around `body` as it is. */
export function encodeRawFrame(body: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

/** A frame of `value` as JSON (the peer transport). */
export function encodeFrame(value: unknown): Buffer {
  return encodeRawFrame(Buffer.from(JSON.stringify(value), 'utf8'));
}

/**
 * Coalesced writes: frames queued during one tick go to `write` together, as one buffer, on the next turn of the
 * event loop — one syscall and few TCP segments for many pipelined requests or replies. `ready` holds the queue
 * back (a connection still connecting); call flush() once it is.
 */
export class CoalescingWriter {
  private out: Buffer[] = [];
  private scheduled = false;

  constructor(
    private readonly write: (data: Buffer) => void,
    private readonly ready: () => boolean = () => true,
  ) {}

  push(frame: Buffer): void {
    this.out.push(frame);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.scheduled = false;
    if (this.out.length === 0 || !this.ready()) return;
    const data = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out);
    this.out = [];
    this.write(data);
  }
}

/** Accumulates stream chunks and yields each complete frame. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** The largest frame accepted; lowered until a peer has authenticated. */
  constructor(public maxFrameBytes = MAX_FRAME_BYTES) {}

  /** Adds a chunk and returns every frame now complete, parsed as JSON. */
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

  /** The next complete frame's JSON, or NO_FRAME; one at a time so the caller can change the limit between frames. */
  next(): unknown {
    const body = this.nextRaw();
    return body === NO_FRAME ? NO_FRAME : JSON.parse(body.toString('utf8'));
  }

  /**
   * The next complete frame's body, or NO_FRAME. The body may share memory with later frames' bytes: decode it
   * before the next append, or copy it. Throws when the announced length exceeds the limit.
   */
  nextRaw(): Buffer | typeof NO_FRAME {
    if (this.buffered < FRAME_HEADER_BYTES) return NO_FRAME;
    const len = this.peek(FRAME_HEADER_BYTES).readUInt32BE(0);
    if (len > this.maxFrameBytes) throw new Error(`frame of ${len} bytes exceeds the ${this.maxFrameBytes} limit`);
    if (this.buffered < FRAME_HEADER_BYTES + len) return NO_FRAME;
    return this.take(FRAME_HEADER_BYTES + len).subarray(FRAME_HEADER_BYTES);
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
