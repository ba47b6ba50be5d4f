import { connect, type Socket } from 'node:net';
import { CoalescingWriter, FrameDecoder, NO_FRAME } from '../ledger-contract/framing';
import { decodeReply, encodeRequest, Kind, type WireReply, type WireRequest } from '../ledger-contract/wire';

/**
 * The client side of the binary protocol (wire.ts, raft-node/src/server/binary-api.ts): a few persistent TCP
 * connections per node, each carrying many requests at once (pipelined; replies matched by request id, in any
 * order). Requests issued in the same tick go out in one socket write. Back-pressure by bytes in flight: a
 * connection sends at most `maxInflightBytes` of requests that are not answered yet; the rest wait here, in
 * order, so a burst of callers cannot grow the node's buffers (or ours) without bound.
 *
 * Failures are reported so the caller can retry safely: `notSent` is true only when the request certainly never
 * left this process (connection refused, or closed while the request still waited here).
 */

/** The request without its id: the connection assigns ids. */
export type WireCall = WireRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export class WireTransportError extends Error {
  constructor(
    message: string,
    readonly notSent: boolean,
  ) {
    super(message);
  }
}

export interface BinaryTransportOptions {
  /** The HELLO's bearer header, asked before every request (a renewed token is sent as a new HELLO). */
  authorization: () => string;
  connectionsPerNode?: number;
  maxInflightBytes?: number;
  timeoutMs: number;
}

interface Pending {
  resolve: (r: WireReply) => void;
  reject: (e: Error) => void;
  bytes: number;
  timer: NodeJS.Timeout | undefined;
}

const DEFAULT_INFLIGHT_BYTES = 1024 * 1024;

/** One TCP connection to one node. */
export class BinaryConnection {
  private readonly socket: Socket;
  private readonly decoder = new FrameDecoder();
  private readonly pending = new Map<number, Pending>();
  private waiting: Array<{ frame: Buffer; entry: Pending; id: number }> = [];
  private readonly writer = new CoalescingWriter(
    (data) => this.socket.write(data),
    () => this.connected && !this.closed,
  );
  private nextId = 1;
  private hello: string | undefined;
  /** The first HELLO's request id: its refusal closes the connection (a later renewal's does not). */
  private firstHelloId: number | undefined;
  private connected = false;
  private inflightBytes = 0;
  /** The most bytes ever in flight at once (tests check the bound). */
  maxInflightSeen = 0;
  closed = false;

  constructor(
    host: string,
    port: number,
    private readonly opts: BinaryTransportOptions,
  ) {
    this.socket = connect({ host, port, noDelay: true });
    this.socket.once('connect', () => {
      this.connected = true;
      this.writer.flush();
    });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err: NodeJS.ErrnoException) =>
      this.fail(`${host}:${port}: ${err.message}`, !this.connected),
    );
    this.socket.once('close', () => this.fail(`${host}:${port}: connection closed`, false));
  }

  get idle(): boolean {
    return this.pending.size === 0 && this.waiting.length === 0;
  }

  /** Sends `call` (after a HELLO when the token is new) and resolves with its reply. */
  request(call: WireCall): Promise<WireReply> {
    if (this.closed) return Promise.reject(new WireTransportError('connection closed', true));
    const authorization = this.opts.authorization();
    if (authorization !== this.hello) {
      this.hello = authorization;
      // The HELLO's own reply matters only when it refuses: a refusal closes the connection with a 401/403 that
      // every request behind it receives (see onReply).
      const first = this.firstHelloId === undefined;
      this.enqueue({ kind: Kind.HELLO, authorization }, (id) => first && (this.firstHelloId = id)).catch(
        () => undefined,
      );
    }
    return this.enqueue(call);
  }

  close(): void {
    this.socket.destroy();
  }

  private enqueue(call: WireCall, onId?: (id: number) => void): Promise<WireReply> {
    const id = this.nextId++;
    if (this.nextId > 0xffffffff) this.nextId = 1;
    onId?.(id);
    const frame = encodeRequest({ ...call, id } as WireRequest);
    return new Promise<WireReply>((resolve, reject) => {
      const entry: Pending = { resolve, reject, bytes: frame.length, timer: undefined };
      entry.timer = setTimeout(() => this.timeOut(id, entry), this.opts.timeoutMs);
      const budget = this.opts.maxInflightBytes ?? DEFAULT_INFLIGHT_BYTES;
      if (this.waiting.length > 0 || (this.inflightBytes > 0 && this.inflightBytes + frame.length > budget)) {
        this.waiting.push({ frame, entry, id });
      } else this.send(id, frame, entry);
    });
  }

  private send(id: number, frame: Buffer, entry: Pending): void {
    this.pending.set(id, entry);
    this.inflightBytes += entry.bytes;
    if (this.inflightBytes > this.maxInflightSeen) this.maxInflightSeen = this.inflightBytes;
    this.writer.push(frame);
  }

  private timeOut(id: number, entry: Pending): void {
    const queued = this.waiting.findIndex((w) => w.id === id);
    if (queued >= 0) this.waiting.splice(queued, 1);
    else this.settle(id);
    entry.reject(new WireTransportError(`no reply within ${this.opts.timeoutMs} ms`, queued >= 0));
  }

  /** Forgets request `id` and lets waiting requests into the freed budget. */
  private settle(id: number): Pending | undefined {
    const entry = this.pending.get(id);
    if (!entry) return undefined;
    this.pending.delete(id);
    this.inflightBytes -= entry.bytes;
    clearTimeout(entry.timer);
    const budget = this.opts.maxInflightBytes ?? DEFAULT_INFLIGHT_BYTES;
    while (
      this.waiting.length > 0 &&
      (this.inflightBytes === 0 || this.inflightBytes + this.waiting[0]!.frame.length <= budget)
    ) {
      const next = this.waiting.shift()!;
      this.send(next.id, next.frame, next.entry);
    }
    return entry;
  }

  private onData(chunk: Buffer): void {
    this.decoder.append(chunk);
    try {
      for (let body = this.decoder.nextRaw(); body !== NO_FRAME; body = this.decoder.nextRaw()) {
        this.onReply(decodeReply(body));
      }
    } catch (err) {
      this.fail(`unreadable reply from the node: ${(err as Error).message}`, false);
      this.socket.destroy();
    }
  }

  private onReply(reply: WireReply): void {
    if (reply.kind === Kind.ERROR) {
      this.fail(`the node closed the connection: ${reply.error}`, false);
      return;
    }
    const entry = this.settle(reply.id);
    if (!entry) return; // timed out already
    if (reply.id === this.firstHelloId && reply.status !== 200) {
      // A refused first HELLO: the node closes the connection and has handled nothing after it; every request
      // behind it gets the same definitive refusal.
      this.refuseAll(reply);
    }
    entry.resolve(reply);
  }

  private refuseAll(reply: WireReply): void {
    const rest = [...this.pending.entries(), ...this.waiting.map((w) => [w.id, w.entry] as const)];
    this.pending.clear();
    this.waiting = [];
    this.closed = true;
    for (const [id, entry] of rest) {
      clearTimeout(entry.timer);
      entry.resolve({ ...reply, id });
    }
  }

  /** Fails every request: those still waiting here were certainly not sent. */
  private fail(message: string, refused: boolean): void {
    this.closed = true;
    for (const entry of this.pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(new WireTransportError(message, refused));
    }
    for (const w of this.waiting) {
      clearTimeout(w.entry.timer);
      w.entry.reject(new WireTransportError(message, true));
    }
    this.pending.clear();
    this.waiting = [];
    this.inflightBytes = 0;
  }
}

/** A few connections per node, used in turn; a closed one is replaced on next use. */
export class BinaryTransport {
  private readonly pools = new Map<string, BinaryConnection[]>();
  private turn = 0;

  constructor(private readonly opts: BinaryTransportOptions) {}

  request(addr: string, call: WireCall): Promise<WireReply> {
    let pool = this.pools.get(addr);
    if (!pool) {
      pool = [];
      this.pools.set(addr, pool);
    }
    const size = this.opts.connectionsPerNode ?? 2;
    const i = this.turn++ % size;
    let conn = pool[i];
    if (!conn || conn.closed) {
      const at = addr.lastIndexOf(':');
      conn = new BinaryConnection(addr.slice(0, at).replace(/^\[|\]$/g, ''), Number(addr.slice(at + 1)), this.opts);
      pool[i] = conn;
    }
    return conn.request(call);
  }

  connections(addr: string): BinaryConnection[] {
    return (this.pools.get(addr) ?? []).filter((c) => c !== undefined);
  }

  close(): void {
    for (const pool of this.pools.values()) for (const c of pool) c?.close();
    this.pools.clear();
  }
}
