import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { trace } from '../trace';
import type { Chaos } from '../chaos';
import type { NodeLogger } from '../logger';
import { ConnectionGate, type ConnectionLimits } from './connection-gate';
import { FrameDecoder, MAX_FRAME_BYTES, NO_FRAME } from '../../../shared/ledger-contract/framing';
import {
  acceptProof,
  dialProof,
  newNonce,
  verifyAccept,
  verifyDial,
  type DialBinding,
  type PeerKeys,
} from './peer-auth';
import {
  decodePeerFrame,
  encodePeerFrame,
  FrameKind,
  PEER_PROTOCOL_VERSION,
  type ChallengeFrame,
  type HelloFrame,
  type PeerFrame,
  type PeerMessage,
  type WelcomeFrame,
} from './peer-wire';

/**
 * Node-to-node transport over TCP, in the binary peer protocol (peer-wire.ts) on the shared framing. Each node dials
 * one persistent outbound connection per peer and only sends on it; the listener only receives. Messages queued
 * during one turn of the event loop go out as a single frame. A full queue drops messages: Raft retransmits
 * whatever matters.
 *
 * Handshake (peer-auth.ts): challenge, hello, welcome; mutual, binding the cluster, both node ids, the dialer's
 * addresses and both nonces. With peer keys configured, a wrong or missing proof on either side closes the
 * socket. Every frame that arrives afterwards must decode whole (peer-wire.ts checks every field), come from the
 * authenticated peer and be addressed to this node; anything else is logged, naming what was wrong, and the
 * connection is dropped (the peer redials; a frame cannot be skipped in part, and a peer sending malformed frames
 * is broken or hostile).
 */

export interface PeerHello {
  nodeId: string;
  raftAddr: string;
  httpUrl: string;
}

export interface TransportOptions {
  self: PeerHello;
  bindHost: string;
  bindPort: number;
  /** Caps on inbound connections; firstMessageTimeoutMs is the handshake deadline. */
  limits: ConnectionLimits;
  /** Without keys the transport is open (development only; the node warns). */
  keys?: PeerKeys;
  /** The cluster this node belongs to ('' while unknown): bound into every handshake. */
  clusterId(): string;
  chaos: Chaos;
  logger: NodeLogger;
  /** The raft address of a peer, from the node's member book; undefined if unknown. */
  resolve(nodeId: string): string | undefined;
  onMessages(messages: PeerMessage[]): void;
  onPeerHello(hello: PeerHello): void;
}

const MAX_QUEUED_MESSAGES = 20_000;
const HELLO_MAX_BYTES = 4 * 1024;
/** Stop writing to a socket whose kernel/user buffers hold this much; queue, then drop. */
const MAX_SOCKET_BACKLOG_BYTES = 64 * 1024 * 1024;

class Peer {
  private socket: Socket | null = null;
  private ready = false;
  private connecting = false;
  private queue: PeerMessage[] = [];
  private backoffMs = 20;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private addr: string | undefined;
  dropped = 0;

  constructor(
    readonly id: string,
    private readonly opts: TransportOptions,
  ) {}

  enqueue(msg: PeerMessage): void {
    if (this.closed) return;
    if (this.queue.length >= MAX_QUEUED_MESSAGES) {
      this.dropped++;
      return;
    }
    this.queue.push(msg);
  }

  /** Writes everything queued as one frame (the node calls this once per Ready, per peer). */
  flush(): void {
    if (this.closed || this.queue.length === 0) return;
    if (!this.ready || !this.socket) {
      this.connect();
      return;
    }
    if (this.socket.writableLength > MAX_SOCKET_BACKLOG_BYTES) {
      this.dropped += this.queue.length;
      this.queue = [];
      return;
    }
    const messages = this.queue;
    this.queue = [];
    let frame: Buffer;
    try {
      frame = encodePeerFrame({ kind: FrameKind.MESSAGES, from: this.opts.self.nodeId, to: this.id, messages });
    } catch (err) {
      // Not expected (the core's messages always fit); Raft resends what mattered.
      this.dropped += messages.length;
      this.opts.logger.warn('could not encode messages for a peer; dropped', {
        peerId: this.id,
        error: (err as Error).message,
      });
      return;
    }
    trace(`peer.write ${this.id}`);
    this.socket.write(frame);
  }

  private connect(): void {
    if (this.connecting || this.retryTimer || this.closed) return;
    const addr = this.opts.resolve(this.id);
    if (!addr) {
      // Nobody told us where this peer lives yet; drop, Raft resends once the address is known.
      this.dropped += this.queue.length;
      this.queue = [];
      return;
    }
    this.addr = addr;
    const i = addr.lastIndexOf(':');
    const host = addr.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(addr.slice(i + 1));
    this.connecting = true;
    const socket = createConnection({ host, port, noDelay: true });
    // A listener only ever sends its small challenge and welcome frames.
    const decoder = new FrameDecoder(HELLO_MAX_BYTES);
    let binding: DialBinding | null = null;
    socket.setKeepAlive(true, 5_000);
    socket.on('data', (chunk) => {
      decoder.append(chunk);
      for (;;) {
        const frame = readFrame(decoder, socket, this.opts.logger, this.id);
        if (frame === NO_FRAME) return;
        if (frame.kind === FrameKind.CHALLENGE && !binding) {
          binding = this.answerChallenge(socket, frame);
          if (!binding) return;
        } else if (frame.kind === FrameKind.WELCOME && binding && !this.ready) {
          if (!this.acceptWelcome(socket, binding, frame)) return;
        } else {
          this.opts.logger.warn('peer sent a frame out of turn; closing', { peerId: this.id, kind: frame.kind });
          socket.destroy();
          return;
        }
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.socket === socket) {
        this.socket = null;
        this.ready = false;
        this.connecting = false;
        this.scheduleReconnect();
      }
    });
    this.socket = socket;
  }

  /** Answers the listener's challenge with our hello; null (socket closed) if it is not the peer we dialed. */
  private answerChallenge(socket: Socket, f: ChallengeFrame): DialBinding | null {
    if (f.version !== PEER_PROTOCOL_VERSION) {
      this.opts.logger.warn('dialed peer speaks another peer protocol version; closing', {
        peerId: this.id,
        version: f.version,
        ours: PEER_PROTOCOL_VERSION,
      });
      socket.destroy();
      return null;
    }
    if (f.nodeId !== this.id) {
      this.opts.logger.warn('dialed peer answered as someone else; closing', { expected: this.id, claimed: f.nodeId });
      socket.destroy();
      return null;
    }
    const self = this.opts.self;
    const binding: DialBinding = {
      clusterId: this.opts.clusterId(),
      dialerId: self.nodeId,
      listenerId: this.id,
      raftAddr: self.raftAddr,
      httpUrl: self.httpUrl,
      listenerNonce: f.nonce,
      dialerNonce: newNonce(),
      timestamp: Date.now(),
    };
    const proof = this.opts.keys ? dialProof(this.opts.keys.current, binding) : null;
    const hello: HelloFrame = {
      kind: FrameKind.HELLO,
      version: PEER_PROTOCOL_VERSION,
      ...self,
      nonce: binding.dialerNonce,
      timestamp: binding.timestamp,
      proof,
    };
    socket.write(encodePeerFrame(hello));
    return binding;
  }

  /** The listener proved itself too: from now on this socket carries our Raft traffic. */
  private acceptWelcome(socket: Socket, binding: DialBinding, f: WelcomeFrame): boolean {
    if (this.opts.keys && !verifyAccept(this.opts.keys, binding, f.proof)) {
      this.opts.logger.warn('peer failed to authenticate as listener; closing', { peerId: this.id });
      socket.destroy();
      return false;
    }
    this.ready = true;
    this.connecting = false;
    this.backoffMs = 20;
    this.flush();
    return true;
  }

  private scheduleReconnect(): void {
    if (this.closed || this.retryTimer) return;
    const wait = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, 1_000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.queue.length > 0) this.connect();
    }, wait);
    this.retryTimer.unref();
  }

  /** The member book changed this peer's address: reconnect there. */
  readdress(): void {
    const addr = this.opts.resolve(this.id);
    if (addr && this.addr && addr !== this.addr) this.socket?.destroy();
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.socket?.end();
    this.socket?.destroy();
    this.queue = [];
  }
}

export class Transport {
  private readonly peers = new Map<string, Peer>();
  private server: Server | null = null;
  private readonly inbound = new Set<Socket>();
  private readonly gate: ConnectionGate;
  /** Arriving frames refused after the handshake (malformed, or not from/to the authenticated peer). */
  refused = 0;

  constructor(private readonly opts: TransportOptions) {
    this.gate = new ConnectionGate('raft', opts.limits, opts.logger);
  }

  async listen(): Promise<void> {
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.bindPort, this.opts.bindHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  /** Queues the messages and writes them at once, one frame per peer. */
  send(messages: PeerMessage[]): void {
    const touched = new Set<Peer>();
    for (const msg of messages) {
      // A node speaks only for itself: the frame names the sender once, and the receiver holds it to the handshake.
      if (msg.to === this.opts.self.nodeId || msg.from !== this.opts.self.nodeId) continue;
      const verdict = this.opts.chaos.judge(msg.to);
      if (verdict.action === 'drop') continue;
      if (verdict.action === 'delay') {
        setTimeout(() => {
          const peer = this.peer(msg.to);
          peer.enqueue(msg);
          peer.flush();
        }, verdict.ms).unref();
        continue;
      }
      const peer = this.peer(msg.to);
      peer.enqueue(msg);
      touched.add(peer);
    }
    for (const peer of touched) peer.flush();
  }

  readdress(nodeId: string): void {
    this.peers.get(nodeId)?.readdress();
  }

  forget(nodeId: string): void {
    this.peers.get(nodeId)?.close();
    this.peers.delete(nodeId);
  }

  async close(): Promise<void> {
    for (const p of this.peers.values()) p.close();
    this.peers.clear();
    for (const s of this.inbound) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private peer(id: string): Peer {
    let p = this.peers.get(id);
    if (!p) {
      p = new Peer(id, this.opts);
      this.peers.set(id, p);
    }
    return p;
  }

  private accept(socket: Socket): void {
    if (!this.gate.admit(socket)) return;
    // A dialer that does not complete the handshake in time is cut off: it holds a descriptor and a slot.
    const authenticated = this.gate.deadline(socket);
    this.inbound.add(socket);
    socket.setKeepAlive(true, 5_000);
    const nonce = newNonce();
    // Until the peer has proven who it is, only a small hello frame is accepted.
    const decoder = new FrameDecoder(HELLO_MAX_BYTES);
    let peerId: string | null = null;
    const challenge: ChallengeFrame = {
      kind: FrameKind.CHALLENGE,
      version: PEER_PROTOCOL_VERSION,
      nodeId: this.opts.self.nodeId,
      nonce,
    };
    socket.write(encodePeerFrame(challenge));
    socket.on('data', (chunk) => {
      decoder.append(chunk);
      for (;;) {
        const frame = readFrame(decoder, socket, this.opts.logger, peerId);
        if (frame === NO_FRAME) return;
        if (peerId === null) {
          peerId = this.admit(socket, nonce, frame);
          if (peerId === null) return;
          authenticated();
          decoder.maxFrameBytes = MAX_FRAME_BYTES;
        } else if (!this.receive(socket, peerId, frame)) return;
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => this.inbound.delete(socket));
  }

  /** Checks a dialer's hello and answers with our own proof; the peer's id, or null (socket closed). */
  private admit(socket: Socket, nonce: string, hello: PeerFrame): string | null {
    const self = this.opts.self;
    const refuse = (reason: string): null => {
      this.opts.logger.warn('peer failed authentication; connection refused', {
        reason,
        claimedNodeId: hello.kind === FrameKind.HELLO ? hello.nodeId : undefined,
        remote: socket.remoteAddress,
      });
      socket.destroy();
      return null;
    };
    if (hello.kind !== FrameKind.HELLO) return refuse(`expected a hello, got frame kind ${hello.kind}`);
    if (hello.version !== PEER_PROTOCOL_VERSION) {
      return refuse(`speaks peer protocol version ${hello.version}, this node ${PEER_PROTOCOL_VERSION}`);
    }
    const { nodeId, raftAddr, httpUrl, timestamp } = hello;
    if (nodeId === self.nodeId) return refuse('claims to be this node');
    const binding: DialBinding = {
      clusterId: this.opts.clusterId(),
      dialerId: nodeId,
      listenerId: self.nodeId,
      raftAddr,
      httpUrl,
      listenerNonce: nonce,
      dialerNonce: hello.nonce,
      timestamp,
    };
    let proof: string | null = null;
    if (this.opts.keys) {
      const verdict = verifyDial(this.opts.keys, binding, hello.proof);
      if (!verdict.ok) return refuse(verdict.reason);
      proof = acceptProof(verdict.key, binding);
    }
    socket.write(encodePeerFrame({ kind: FrameKind.WELCOME, proof }));
    this.opts.onPeerHello({ nodeId, raftAddr, httpUrl });
    return nodeId;
  }

  /**
   * A peer may speak only for itself, only to us, and only in frames of messages: anything else drops the
   * connection (false), with a log line naming why.
   */
  private receive(socket: Socket, peerId: string, frame: PeerFrame): boolean {
    const self = this.opts.self.nodeId;
    if (frame.kind === FrameKind.MESSAGES && frame.from === peerId && frame.to === self) {
      if (frame.messages.length > 0) this.opts.onMessages(frame.messages);
      return true;
    }
    let reason = `frame kind ${frame.kind} after the handshake`;
    if (frame.kind === FrameKind.MESSAGES) {
      reason =
        frame.from !== peerId
          ? `messages from ${frame.from} on ${peerId}'s connection`
          : `messages addressed to ${frame.to}`;
    }
    this.refused++;
    this.opts.logger.warn('refused a frame from a peer; closing', { peerId, reason });
    socket.destroy();
    return false;
  }
}

/**
 * The next frame on a connection, decoded; NO_FRAME when none is complete, or when the frame was oversized or
 * malformed: then the socket is destroyed, with a log line naming what was wrong.
 */
function readFrame(
  decoder: FrameDecoder,
  socket: Socket,
  logger: NodeLogger,
  peerId: string | null,
): PeerFrame | typeof NO_FRAME {
  if (socket.destroyed) return NO_FRAME;
  try {
    const body = decoder.nextRaw();
    return body === NO_FRAME ? NO_FRAME : decodePeerFrame(body);
  } catch (err) {
    logger.warn('bad frame from peer; closing', {
      peerId,
      remote: socket.remoteAddress,
      error: (err as Error).message,
    });
    socket.destroy();
    return NO_FRAME;
  }
}
