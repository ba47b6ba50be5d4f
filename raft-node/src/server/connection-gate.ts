import type { Server as NetServer, Socket } from 'node:net';
import type { NodeLogger } from '../logger';

/**
 * Admission control for a listener (the HTTP API and the Raft peer port). Every connection costs a file
 * descriptor before it has said a word, so without a bound one address holding thousands of idle sockets
 * exhausts the process's file limit and nobody else gets in. The gate caps connections per listener and per
 * source address, and closes a connection that has not authenticated / sent a complete request in time.
 * A refused socket is destroyed at once, so it gives its descriptor back immediately.
 */

export interface ConnectionLimits {
  /** Open connections on this listener, from everyone. */
  maxConnections: number;
  /** Open connections from one source address. */
  maxPerAddress: number;
  /** A new connection must authenticate / deliver its first complete request within this many ms. */
  firstMessageTimeoutMs: number;
}

/** "::ffff:10.0.0.1" and "10.0.0.1" are the same client. */
const addressOf = (socket: Socket): string => (socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');

/** Refusals are logged at most once per interval, with a count: a flood must not become a log flood. */
const LOG_INTERVAL_MS = 5_000;

export class ConnectionGate {
  private open = 0;
  private readonly byAddress = new Map<string, number>();
  private refusedSinceLog = 0;
  private lastLog = 0;
  /** Connections refused or timed out since start (reported in /v1/status). */
  refused = 0;
  timedOut = 0;

  constructor(
    private readonly listener: string,
    private readonly limits: ConnectionLimits,
    private readonly logger: NodeLogger,
  ) {}

  /** Applies the gate to every connection `server` accepts. */
  attach(server: NetServer): void {
    server.on('connection', (socket: Socket) => this.admit(socket));
  }

  /** Counts the socket in, or destroys it when a cap is reached; returns whether it was admitted. */
  admit(socket: Socket): boolean {
    const address = addressOf(socket);
    const fromAddress = this.byAddress.get(address) ?? 0;
    if (this.open >= this.limits.maxConnections || fromAddress >= this.limits.maxPerAddress) {
      socket.destroy();
      this.refused++;
      this.noteRefusal(address, fromAddress);
      return false;
    }
    this.open++;
    this.byAddress.set(address, fromAddress + 1);
    socket.once('close', () => {
      this.open--;
      const left = (this.byAddress.get(address) ?? 1) - 1;
      if (left <= 0) this.byAddress.delete(address);
      else this.byAddress.set(address, left);
    });
    return true;
  }

  /**
   * Destroys `socket` unless the returned function is called within `firstMessageTimeoutMs` (when it has
   * authenticated, or its first request has arrived).
   */
  deadline(socket: Socket): () => void {
    const timer = setTimeout(() => {
      this.timedOut++;
      socket.destroy();
    }, this.limits.firstMessageTimeoutMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    return () => clearTimeout(timer);
  }

  stats(): { open: number; refused: number; timedOut: number } {
    return { open: this.open, refused: this.refused, timedOut: this.timedOut };
  }

  private noteRefusal(address: string, fromAddress: number): void {
    this.refusedSinceLog++;
    const now = Date.now();
    if (now - this.lastLog < LOG_INTERVAL_MS) return;
    this.logger.warn('connection limit reached; refusing connections', {
      listener: this.listener,
      remote: address,
      openFromAddress: fromAddress,
      open: this.open,
      refusedSinceLastReport: this.refusedSinceLog,
      ...this.limits,
    });
    this.lastLog = now;
    this.refusedSinceLog = 0;
  }
}
