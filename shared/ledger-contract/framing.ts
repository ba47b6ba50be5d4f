import { Writer } from './binary';

/**
 * Length-prefixed frames on a TCP stream: a 4-byte big-endian length, then that many bytes of body. The one
 * framing of the ledger's TCP protocols: the binary client protocol (wire.ts) and the Raft peer protocol
 * (raft-node/src/server/peer-wire.ts; one frame usually carries a whole batch of Raft messages) put their binary
 * messages there.
 */

export const MAX_FRAME_BYTES = 512 * 1024 * 1024;
export const FRAME_HEADER_BYTES = 4;

/** Returned by FrameDecoder.nextRaw() when no complete frame is buffered. */
export const NO_FRAME: unique symbol = Symbol('no frame');

/** A frame around `body` as it is. */
export function encodeRawFrame(body: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

/** A writer with room for the length prefix: write the body into it, then finishFrame(). */
export function startFrame(size?: number): Writer {
  return new Writer(size).u32(0);
}

/** Fills in the length prefix of a startFrame() writer (written in place: no copy of the body). */
export function finishFrame(w: Writer): Buffer {
  const frame = w.framed();
  frame.writeUInt32BE(frame.length - FRAME_HEADER_BYTES, 0);
  return frame;
}

/**
 * Coalesced writes: frames queued during one tick go to `write` together, as one buffer — one syscall and few TCP
 * segments for many pipelined requests or replies. The write happens on process.nextTick, i.e. once the current
 * callback and every promise continuation it set off have run (Node drains the microtasks before the tick queue it
 * scheduled from them), not on the next turn of the event loop: replies resolved together in one callback still
 * leave together, and a lone request or reply (one client) does not wait behind the loop's other I/O and timers.
 * (setImmediate here cost one client ~30–60 µs per hop, on both ends: docs/performance.md#where-one-write-goes.)
 * `ready` holds the queue back (a connection still connecting); call flush() once it is.
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
    process.nextTick(() => this.flush());
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

  append(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
  }

  /**
   * The next complete frame's body, or NO_FRAME; one at a time so the caller can change the limit between frames. The body may share memory with later frames' bytes: decode it
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
